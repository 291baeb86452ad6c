"""One push's batch: the state it reads, fetched with one query per table and memoised, and the
writes it collects for one flush. What each event does to it is in steps.py and verdicts.py.

A planned batch (see turns._plan) reads through a read snapshot and records every read, so that
under the write lock it can tell whether those reads still hold."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from domain import (
    BlindReceipt,
    DispositionDecided,
    DispositionRule,
    Event,
    ExceptionResolved,
    ReceiptVoided,
    ReturnUnit,
    RmaReceipt,
    Role,
    uuid7,
)
from domain.codes import UnitState
from domain.conflicts import ConflictRule, ExceptionKind, Outcome, Verdict
from domain.entities import Bin
from domain.evolve import lpn_is_free

from .. import tables as t
from .bulk import (AUDIT_BLANK, CHANGE_INSERT, EVENT_INSERT, UNIT_COLUMNS_OF_MODEL, UNIT_FIELDS, UNIT_INSERT, add_stock,
                   dumps, one_of)

# Device clocks further than this from the server's are flagged in the audit trail.
SKEW_LIMIT_MS = 5 * 60 * 1000


class NeedsWriteLock(Exception):
    """Raised by a planned batch (see turns._plan) that has to read or write more than its memoised rows."""


class _WriteLockNeeded:
    """A planned batch's connection until it has the write lock."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsWriteLock(name)


WRITE_LOCK_NEEDED: Any = _WriteLockNeeded()


@dataclass(frozen=True)
class Device:
    device_id: str
    site_id: str


def new_id(prefix: str) -> str:
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    return f"{prefix}-{uuid7(now_ms, os.urandom(10)).hex}"


# (event_id, device_seq, outcome, rule, exception_id, reason): one event's result, as EventResult has it.
Result = tuple[str, int, Outcome, str | None, str | None, str | None]


def unit_from_row(row: Any) -> ReturnUnit:
    m = row._mapping
    fields = {c: m[c] for c in ("lpn", "sku", "rma_id", "line_no", "serial", "lot", "expiry", "reason_code", "state",
                                "held_from", "bin_code", "grade", "disposition") if m[c] is not None}
    return ReturnUnit(**fields, condition_codes=tuple(m["condition_codes"]), server_version=m["version"])


# An RMA line with what a receipt against it needs: its item, its reason and its RMA's state.
_RMA_LINES = (select(t.rma_lines.c.rma_id, t.rma_lines.c.line_no, t.rma_lines.c.sku, t.rma_lines.c.reason_code,
                     t.rma_lines.c.expected_qty, t.rma_lines.c.received_qty, t.rmas.c.state)
              .join(t.rmas, t.rmas.c.rma_id == t.rma_lines.c.rma_id))


@dataclass
class Batch:
    """The state one push reads, memoised, and the writes it collects for one flush.

    A planned batch (see turns._plan) reads through `source`, a read snapshot, and records every read;
    its `conn` raises NeedsWriteLock until flush() gives it the write transaction."""

    conn: Connection
    device: Device
    received_at: dt.datetime
    skew_ms: int
    units: dict[str, ReturnUnit | None] = field(default_factory=dict)
    new_units: set[str] = field(default_factory=set)
    # lpn -> the step timestamps set since the last flush; the unit's own fields come from `units`.
    dirty_units: dict[str, dict[str, Any]] = field(default_factory=dict)
    stock: Counter = field(default_factory=Counter)  # (sku, bin_code, UnitState) -> units in minus out
    rma_received: Counter = field(default_factory=Counter)
    rma_first_receipt: dict[str, dt.datetime] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    event_rows: list[tuple[Any, ...]] = field(default_factory=list)  # in EVENT_INSERT's column order
    audit_rows: list[dict[str, Any]] = field(default_factory=list)
    count_rows: list[dict[str, Any]] = field(default_factory=list)
    _unit_inserts: list[tuple[Any, ...]] = field(default_factory=list)  # in UNIT_INSERT's column order
    _unit_updates: defaultdict[tuple[str, ...], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list))  # changed columns -> rows
    exception_rows: list[dict[str, Any]] = field(default_factory=list)
    change_rows: list[tuple[Any, ...]] = field(default_factory=list)  # (device_id, site, kind, key, body JSON)
    # The site the batch's changes belong to: the device's, or the unit's for a supervisor's action.
    site_id: str | None = None
    source: Connection | None = None  # where reads go: `conn`, unless the batch is planned
    _reads: list[tuple[Any, list[Any]]] | None = None  # a planned batch's (statement, rows)
    _users: dict[str, Any] = field(default_factory=dict)
    _bins: dict[str, Any] = field(default_factory=dict)
    _bin_models: dict[str, Bin] = field(default_factory=dict)
    rma_lines: dict[tuple[str, int], Any] = field(default_factory=dict)
    _rmas_known: dict[str, bool] = field(default_factory=dict)  # package references that are RMA ids
    serials: dict[tuple[str, str], str] = field(default_factory=dict)
    _rule_set: list[DispositionRule] | None = None
    categories: dict[str, str] = field(default_factory=dict)  # sku -> category, of items that exist
    # Authorisation that depends only on (actor, role, event type), or only on a bin, within this batch.
    role_checks: dict[tuple[str, Role, Any], Verdict | None] = field(default_factory=dict)
    bin_checks: dict[str, Verdict | None] = field(default_factory=dict)
    _skew: dt.timedelta = field(init=False)
    # datetimes as the driver takes them for the units insert's columns (RowInsert.param)
    _unit_times: tuple[Any, Any, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.site_id = self.site_id or self.device.site_id or None
        self._skew = dt.timedelta(milliseconds=self.skew_ms)
        if self.source is None:
            self.source = self.conn
        else:
            self._reads = []
        dialect = self.source.dialect
        self._unit_times = tuple(UNIT_INSERT.param(dialect, c) for c in ("received_at", "reclassified_at", "stored_at"))

    # --- reads: fetched for the whole batch in a few queries, then memoised -----------------

    def prefetch(self, events: list[Event]) -> None:
        """Read what the batch refers to with one query per table instead of one per event."""
        payloads = [e.payload for e in events]
        receipts = [p for p in payloads if isinstance(p, RmaReceipt | BlindReceipt)]
        lpns = {lpn for p in payloads if (lpn := payload_field(p, "lpn"))}
        users = {e.actor for e in events} | {
            p.decision.approved_by for p in payloads if isinstance(p, DispositionDecided) and p.decision.approved_by}
        bins = {code for e in events for code in bins_named(e)}
        read = self._read
        dialect = self.source.dialect
        if lpns:
            rows = {r.lpn: unit_from_row(r) for r in read(
                select(t.units).where(one_of(dialect, t.units.c.lpn, sorted(lpns))))}
            self.units.update({lpn: rows.get(lpn) for lpn in lpns})
        self._users.update({u: None for u in users})
        self._users.update({r.user_id: r for r in read(select(t.users).where(t.users.c.user_id.in_(users)))})
        if bins:
            self._bins.update({b: None for b in bins})
            self._bins.update({r.code: r for r in read(select(t.bins).where(t.bins.c.code.in_(bins)))})
        # Items received (they must exist) and those of units decided on (the rules need their
        # category): a unit received earlier in this batch is not in `units` yet, but its SKU is here.
        skus = {p.sku for p in receipts} | {
            u.sku for p in payloads if isinstance(p, DispositionDecided) and (u := self.units.get(p.lpn))}
        if skus:
            self.categories = dict(read(select(t.items.c.sku, t.items.c.category).where(
                one_of(dialect, t.items.c.sku, sorted(skus)))))
        # The RMA lines of receipts, and of receipts voided (their count on the line is taken back).
        rma_ids = {p.rma_id for p in receipts if isinstance(p, RmaReceipt)} | {
            u.rma_id for p in payloads if isinstance(p, ReceiptVoided) and (u := self.units.get(p.lpn)) and u.rma_id}
        if rma_ids:
            self.rma_lines = {(r.rma_id, r.line_no): r for r in read(
                _RMA_LINES.where(one_of(dialect, t.rma_lines.c.rma_id, sorted(rma_ids))))}
        serials = {(p.sku, p.serial) for p in receipts if p.serial}
        if serials:  # by SKU too: the index is on (sku, serial); a voided receipt's serial is free again
            self.serials = {(r.sku, r.serial): r.lpn for r in read(
                select(t.units.c.lpn, t.units.c.sku, t.units.c.serial)
                .where(one_of(dialect, t.units.c.sku, sorted({s for s, _ in serials})),
                       one_of(dialect, t.units.c.serial, sorted({n for _, n in serials})),
                       t.units.c.state != UnitState.VOIDED))}

    def _read(self, statement: Any) -> list[Any]:
        rows = self.source.execute(statement).all()
        if self._reads is not None:
            self._reads.append((statement, rows))
        return rows

    def _first(self, statement: Any) -> Any:
        rows = self._read(statement)
        return rows[0] if rows else None

    def still_holds(self, conn: Connection) -> bool:
        """Whether every read of this planned batch gives the same rows in `conn`'s transaction,
        so applying its events there would give the same results and writes."""
        return all(conn.execute(statement).all() == rows for statement, rows in self._reads)

    def user(self, user_id: str) -> Any:
        if user_id not in self._users:
            self._users[user_id] = self._first(select(t.users).where(t.users.c.user_id == user_id))
        return self._users[user_id]

    def bin(self, code: str) -> Any:
        if code not in self._bins:
            self._bins[code] = self._first(select(t.bins).where(t.bins.c.code == code))
        return self._bins[code]

    def bin_model(self, row: Any) -> Bin:
        """The bin of a bins row, as the domain's rules take it."""
        found = self._bin_models.get(row.code)
        if found is None:
            found = self._bin_models[row.code] = Bin(code=row.code, type=row.type, zone=row.zone, purpose=row.purpose,
                                                     owner=row.owner)
        return found

    def forget_bin(self, code: str) -> None:
        """The bin changed: the next read of it goes to the database."""
        self._bins.pop(code, None)
        self._bin_models.pop(code, None)

    def rma_line(self, rma_id: str, line_no: int) -> Any:
        if (rma_id, line_no) not in self.rma_lines:
            self.rma_lines[(rma_id, line_no)] = self._first(
                _RMA_LINES.where(t.rma_lines.c.rma_id == rma_id, t.rma_lines.c.line_no == line_no))
        return self.rma_lines[(rma_id, line_no)]

    def is_rma(self, rma_id: str) -> bool:
        if rma_id not in self._rmas_known:
            self._rmas_known[rma_id] = self._first(select(t.rmas.c.rma_id).where(t.rmas.c.rma_id == rma_id)) is not None
        return self._rmas_known[rma_id]

    def unit(self, lpn: str) -> ReturnUnit | None:
        if lpn not in self.units:
            row = self._first(select(t.units).where(t.units.c.lpn == lpn))
            self.units[lpn] = unit_from_row(row) if row else None
        return self.units[lpn]

    def is_open_exception_of(self, exception_id: str, lpn: str) -> bool:
        row = self.conn.execute(select(t.exceptions.c.lpn).where(
            t.exceptions.c.exception_id == exception_id, t.exceptions.c.status == "open")).first()
        return row is not None and row.lpn == lpn

    def rules(self) -> list[DispositionRule]:
        if self._rule_set is None:
            self._rule_set = [DispositionRule.model_validate(r.body) for r in self._read(
                select(t.disposition_rules.c.body).order_by(t.disposition_rules.c.position))]
        return self._rule_set

    def category(self, sku: str) -> str:
        if sku not in self.categories:
            self.categories[sku] = self._read(select(t.items.c.category).where(t.items.c.sku == sku))[0].category
        return self.categories[sku]

    # --- writes -----------------------------------------------------------------------------

    def write_unit(self, old: ReturnUnit | None, new: ReturnUnit, event: Event | None) -> None:
        """Stage a unit change; `event` is None for a supervisor's action on the server itself.
        The unit's row is built from its newest state at the flush, once however many events of the
        batch changed it; the step timestamps are kept here as they happen."""
        version = (old.server_version if old else 0) + 1
        # `new` is always a unit just built for this change (evolve's or received_unit's result, a
        # model_copy) that nothing else holds yet: set its version in place rather than copy it again.
        new.__dict__["server_version"] = version
        new.__pydantic_fields_set__.add("server_version")
        self.units[new.lpn] = new
        stamps = self.dirty_units.get(new.lpn)
        if stamps is None:
            stamps = self.dirty_units[new.lpn] = {}
        if lpn_is_free(old) and event is not None:  # a receipt, maybe under a voided receipt's LPN
            stamps.update(received_device=event.device_id, received_at=self.physical_time(event))
        if new.disposition is not None and (old is None or old.disposition is None):
            stamps["reclassified_at"] = self.physical_time(event)
        if new.state is UnitState.STORED and (old is None or old.state is not UnitState.STORED):
            stamps["stored_at"] = self.physical_time(event)
        # A voided receipt is no unit: it leaves stock and never comes back.
        if old is not None and old.state is not UnitState.VOIDED:
            self.stock[(old.sku, old.bin_code, old.state)] -= 1
        if new.state is not UnitState.VOIDED:
            self.stock[(new.sku, new.bin_code, new.state)] += 1

    def physical_time(self, event: Event | None) -> dt.datetime:
        """When the step happened, on the server's clock: the device's time corrected by its measured skew.
        Metrics use it, so a week offline does not count as a week of cycle time."""
        if event is None:
            return self.received_at
        return event.occurred_at.astimezone(dt.UTC) + self._skew

    def publish(self, device_id: str | None, kind: str, key: str, body: dict[str, Any]) -> None:
        """Queue a change for the pull feed: for one device, or for every device of this batch's site."""
        self.change_rows.append((device_id, self.site_id, kind, key, dumps(body)))

    def open_exception(self, kind: ExceptionKind, event: Event, detail: dict[str, Any]) -> str:
        exception_id = new_id("EXC")
        row = {"exception_id": exception_id, "kind": kind.value, "status": "open", "lpn": detail.get("lpn"),
               "bin_code": detail.get("bin_code"), "device_id": event.device_id, "event_id": str(event.event_id),
               "detail": detail, "opened_at": self.received_at}
        self.exception_rows.append(row)
        self.publish(None, "exception", exception_id, {k: v for k, v in row.items() if k != "opened_at"})
        return exception_id

    def close_exception(self, payload: ExceptionResolved, actor: str | None) -> bool:
        resolution = payload.model_dump(mode="json", exclude={"type"})
        done = self.conn.execute(update(t.exceptions).where(
            t.exceptions.c.exception_id == payload.exception_id, t.exceptions.c.status == "open").values(
            status="resolved", resolved_at=self.received_at, resolved_by=actor, resolution=resolution)).rowcount
        if done:  # the devices show a conflict as settled, and by whom
            self.publish(None, "resolution", payload.exception_id, {**resolution, "resolved_by": actor})
        return bool(done)

    def audit(self, rule: ConflictRule, event: Event, detail: dict[str, Any]) -> None:
        self.audit_rows.append({"rule": rule.value, "event_id": str(event.event_id), "device_id": event.device_id,
                                "actor": event.actor, "occurred_at": event.occurred_at,
                                "received_at": self.received_at, "skew_ms": self.skew_ms, "detail": detail})

    def stage(self) -> None:
        """Build the rows of the units changed since the last stage, and their changes for the feed,
        ready for _write_units: a planned batch does this before it takes the write lock."""
        for lpn, stamps in self.dirty_units.items():
            public = self.units[lpn].model_dump(mode="json")
            if lpn in self.new_units:
                received, reclassified, stored = self._unit_times
                self._unit_inserts.append((
                    *(public[c] for c in UNIT_FIELDS), dumps(public["condition_codes"]), public["server_version"],
                    stamps["received_device"], received(stamps["received_at"]),
                    reclassified(stamps.get("reclassified_at")), stored(stamps.get("stored_at"))))
            else:
                row = {c: public[c] for c in UNIT_COLUMNS_OF_MODEL if c != "lpn"}
                row.update(stamps, version=public["server_version"], key_lpn=lpn)
                # executemany per set of changed columns, so a step's timestamp is never overwritten with NULL
                self._unit_updates[tuple(sorted(k for k in row if k != "key_lpn"))].append(row)
            self.publish(None, "unit", lpn, public)
        self.new_units.clear()
        self.dirty_units.clear()

    def _write_units(self, conn: Connection) -> None:
        UNIT_INSERT(conn, self._unit_inserts)
        for columns, rows in self._unit_updates.items():
            conn.execute(update(t.units).where(t.units.c.lpn == bindparam("key_lpn"))
                         .values({c: bindparam(c) for c in columns}), rows)
        self._unit_inserts.clear()
        self._unit_updates.clear()

    def flush_units(self) -> None:
        """Write the units changed so far, for a statement that reads the units table next."""
        self.stage()
        self._write_units(self.conn)

    def flush(self, conn: Connection) -> None:
        """Write everything the batch collected in `conn`, the write transaction."""
        self.conn = self.source = conn
        self._reads = None
        self.stage()
        self._write_units(conn)
        add_stock(conn, self.stock)
        if self.rma_received:
            conn.execute(
                update(t.rma_lines).where(t.rma_lines.c.rma_id == bindparam("key_rma"),
                                          t.rma_lines.c.line_no == bindparam("key_line"))
                .values(received_qty=t.rma_lines.c.received_qty + bindparam("qty")),
                [{"key_rma": r, "key_line": n, "qty": q} for (r, n), q in self.rma_received.items()])
        if self.rma_first_receipt:  # one executemany: a statement built per RMA cost more than the update
            conn.execute(
                update(t.rmas).where(t.rmas.c.rma_id == bindparam("key_rma"), t.rmas.c.first_received_at.is_(None))
                .values(first_received_at=bindparam("at")),
                [{"key_rma": r, "at": at} for r, at in self.rma_first_receipt.items()])
        if abs(self.skew_ms) > SKEW_LIMIT_MS and self.event_rows:
            self.audit_rows.append({"rule": ConflictRule.CLOCK_SKEW.value, "device_id": self.device.device_id,
                                    "received_at": self.received_at, "skew_ms": self.skew_ms,
                                    "detail": {"limit_ms": SKEW_LIMIT_MS}})
        EVENT_INSERT(conn, self.event_rows)
        if self.exception_rows:
            conn.execute(insert(t.exceptions), self.exception_rows)
        if self.audit_rows:
            # One executemany needs the same keys in every row: a clock-skew or supervisor entry has
            # no event, actor or capture time.
            conn.execute(insert(t.audit), [{**AUDIT_BLANK, **r} for r in self.audit_rows])
        if self.count_rows:
            conn.execute(insert(t.bin_counts), self.count_rows)
        CHANGE_INSERT(conn, self.change_rows)


_BIN_FIELDS: dict[type, tuple[str, ...]] = {}
_HAS_FIELD: dict[tuple[type, str], bool] = {}


def payload_field(payload: Any, name: str) -> Any:
    """getattr(payload, name, None) without pydantic's slow path for a missing attribute."""
    key = (type(payload), name)
    has = _HAS_FIELD.get(key)
    if has is None:
        has = _HAS_FIELD[key] = name in type(payload).model_fields
    return getattr(payload, name) if has else None


def bins_named(event: Event) -> list[str]:
    payload = event.payload
    names = _BIN_FIELDS.get(type(payload))
    if names is None:
        names = _BIN_FIELDS[type(payload)] = tuple(
            n for n in ("bin_code", "move_contents_to") if n in type(payload).model_fields)
    return [code for n in names if (code := getattr(payload, n))]
