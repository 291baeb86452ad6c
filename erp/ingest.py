"""Push ingest: every device event applied exactly once, in device_seq order, under the named
conflict rules. One push is one transaction: the ledger, the effects, the stored results, the
audit trail and the pull feed commit together or not at all."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from domain import (
    EVENT_PERMISSION,
    Actor,
    Disposition,
    Grade,
    InvalidInput,
    UnknownEntity,
    BinCounted,
    BinReassigned,
    BinTypeMismatch,
    BlindReceipt,
    DispositionDecided,
    Event,
    ExceptionResolved,
    QuarantineReleased,
    RECEIVABLE_RMA_STATES,
    IllegalTransition,
    Permission,
    ReturnUnit,
    RmaReceipt,
    RmaState,
    Role,
    UnitGraded,
    UnitStored,
    can,
    uuid7,
)
from domain.codes import BinType, UnitState
from domain.evolve import check_store_bin, evolve, received_unit
from domain.entities import Bin
from domain.units import UnitEvent, advance
from sync.protocol import EventResult, Outcome, PushResponse

from . import feed
from . import tables as t
from .rules import ConflictRule, ExceptionKind

# Device clocks further than this from the server's are flagged in the audit trail.
SKEW_LIMIT_MS = 5 * 60 * 1000


class PushRefused(Exception):
    """The whole batch is refused and nothing was written (a gap, a reused seq, a bad order)."""

    def __init__(self, error: str, message: str, expected_seq: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.expected_seq = expected_seq


@dataclass(frozen=True)
class Device:
    device_id: str
    site_id: str


def new_id(prefix: str) -> str:
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    return f"{prefix}-{uuid7(now_ms, os.urandom(10)).hex[:20]}"


def push(engine: Engine, device: Device, events: list[Event], *, sent_at: dt.datetime,
         received_at: dt.datetime) -> PushResponse:
    seqs = [e.device_seq for e in events]
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        raise PushRefused("batch_out_of_order", "events in a batch must have consecutive device_seq values in order")
    if any(e.device_id != device.device_id for e in events):
        raise PushRefused("wrong_device", f"every event in this batch must come from device {device.device_id}")
    with engine.begin() as conn:
        feed.lock_feed(conn)
        row = conn.execute(
            select(t.ledger.c.last_seq).where(t.ledger.c.device_id == device.device_id).with_for_update()
        ).one()
        last = row.last_seq
        duplicates = [e for e in events if e.device_seq <= last]
        fresh = [e for e in events if e.device_seq > last]
        if fresh and fresh[0].device_seq != last + 1:
            raise PushRefused("gap", f"device_seq {fresh[0].device_seq} leaves a gap: send {last + 1} next",
                              expected_seq=last + 1)
        _refuse_foreign_ids(conn, device, fresh)
        results = _stored_results(conn, device, duplicates)
        skew_ms = int((received_at - sent_at).total_seconds() * 1000)
        batch = _Batch(conn, device, received_at, skew_ms)
        batch.prefetch(fresh)
        results += [batch.apply(e) for e in fresh]
        batch.flush()
        new_last = fresh[-1].device_seq if fresh else last
        conn.execute(update(t.ledger).where(t.ledger.c.device_id == device.device_id).values(
            last_seq=new_last, last_push_at=received_at, last_skew_ms=skew_ms))
    return PushResponse(results=results, last_seq=new_last, received_at=received_at)


def _refuse_foreign_ids(conn: Connection, device: Device, fresh: list[Event]) -> None:
    ids = [str(e.event_id) for e in fresh]
    taken = conn.execute(select(t.events.c.event_id, t.events.c.device_id).where(t.events.c.event_id.in_(ids))).first()
    if taken is not None:
        raise PushRefused("event_id_taken", f"event {taken.event_id} was already sent by device {taken.device_id}; "
                          "event ids must be unique")


def _stored_results(conn: Connection, device: Device, duplicates: list[Event]) -> list[EventResult]:
    if not duplicates:
        return []
    rows = {r.device_seq: r for r in conn.execute(
        select(t.events.c.device_seq, t.events.c.event_id, t.events.c.outcome, t.events.c.rule,
               t.events.c.exception_id, t.events.c.reason)
        .where(t.events.c.device_id == device.device_id,
               t.events.c.device_seq.between(duplicates[0].device_seq, duplicates[-1].device_seq)))}
    results = []
    for event in duplicates:
        stored = rows[event.device_seq]
        if stored.event_id != str(event.event_id):
            raise PushRefused("seq_reused", f"device_seq {event.device_seq} was already used by event "
                              f"{stored.event_id}; this device's log does not match what it sent before")
        results.append(EventResult(event_id=event.event_id, device_seq=event.device_seq, outcome=Outcome.DUPLICATE,
                                   rule=ConflictRule.DUPLICATE_EVENT, exception_id=stored.exception_id,
                                   reason=stored.reason))
    return results


def _unit_row(unit: ReturnUnit) -> dict[str, Any]:
    row = unit.model_dump(mode="json", exclude={"server_version"})
    row["condition_codes"] = list(unit.condition_codes)
    return row


def unit_from_row(row: Any) -> ReturnUnit:
    m = row._mapping
    fields = {c: m[c] for c in ("lpn", "sku", "rma_id", "line_no", "serial", "lot", "expiry", "reason_code", "state",
                                "held_from", "bin_code", "grade", "disposition") if m[c] is not None}
    return ReturnUnit(**fields, condition_codes=tuple(m["condition_codes"]), server_version=m["version"])


@dataclass
class _Outcome:
    outcome: Outcome
    rule: ConflictRule | None = None
    reason: str | None = None
    exception: tuple[ExceptionKind, dict[str, Any]] | None = None


@dataclass
class _Batch:
    """The state one push reads, memoised, and the writes it collects for one flush."""

    conn: Connection
    device: Device
    received_at: dt.datetime
    skew_ms: int
    units: dict[str, ReturnUnit | None] = field(default_factory=dict)
    new_units: set[str] = field(default_factory=set)
    dirty_units: dict[str, dict[str, Any]] = field(default_factory=dict)
    stock: Counter = field(default_factory=Counter)
    rma_received: Counter = field(default_factory=Counter)
    rma_first_receipt: dict[str, dt.datetime] = field(default_factory=dict)
    event_rows: list[dict[str, Any]] = field(default_factory=list)
    audit_rows: list[dict[str, Any]] = field(default_factory=list)
    count_rows: list[dict[str, Any]] = field(default_factory=list)
    exception_rows: list[dict[str, Any]] = field(default_factory=list)
    change_rows: list[dict[str, Any]] = field(default_factory=list)
    _users: dict[str, Any] = field(default_factory=dict)
    _bins: dict[str, Any] = field(default_factory=dict)
    _skus: set[str] = field(default_factory=set)
    _rma_lines: dict[tuple[str, int], Any] = field(default_factory=dict)
    _serials: dict[tuple[str, str], str] = field(default_factory=dict)

    # --- reads: fetched for the whole batch in a few queries, then memoised -----------------

    def prefetch(self, events: list[Event]) -> None:
        """Read what the batch refers to with one query per table instead of one per event."""
        payloads = [e.payload for e in events]
        receipts = [p for p in payloads if isinstance(p, RmaReceipt | BlindReceipt)]
        lpns = {p.lpn for p in payloads if getattr(p, "lpn", None)}
        users = {e.actor for e in events} | {
            p.decision.approved_by for p in payloads if isinstance(p, DispositionDecided) and p.decision.approved_by}
        bins = {code for e in events for code in _bins_named(e)}
        c = self.conn
        if lpns:
            rows = {r.lpn: unit_from_row(r) for r in c.execute(select(t.units).where(t.units.c.lpn.in_(lpns)))}
            self.units.update({lpn: rows.get(lpn) for lpn in lpns})
        self._users.update({u: None for u in users})
        self._users.update({r.user_id: r for r in c.execute(select(t.users).where(t.users.c.user_id.in_(users)))})
        if bins:
            self._bins.update({b: None for b in bins})
            self._bins.update({r.code: r for r in c.execute(select(t.bins).where(t.bins.c.code.in_(bins)))})
        if receipts:
            skus = {p.sku for p in receipts}
            self._skus = {r.sku for r in c.execute(select(t.items.c.sku).where(t.items.c.sku.in_(skus)))}
            rma_ids = {p.rma_id for p in receipts if isinstance(p, RmaReceipt)}
            if rma_ids:
                self._rma_lines = {(r.rma_id, r.line_no): r for r in c.execute(
                    select(t.rma_lines.c.rma_id, t.rma_lines.c.line_no, t.rma_lines.c.reason_code, t.rmas.c.state)
                    .join(t.rmas, t.rmas.c.rma_id == t.rma_lines.c.rma_id).where(t.rma_lines.c.rma_id.in_(rma_ids)))}
            serials = {p.serial for p in receipts if p.serial}
            if serials:
                self._serials = {(r.sku, r.serial): r.lpn for r in c.execute(
                    select(t.units.c.lpn, t.units.c.sku, t.units.c.serial).where(t.units.c.serial.in_(serials)))}

    def user(self, user_id: str) -> Any:
        if user_id not in self._users:
            self._users[user_id] = self.conn.execute(select(t.users).where(t.users.c.user_id == user_id)).first()
        return self._users[user_id]

    def bin(self, code: str) -> Any:
        if code not in self._bins:
            self._bins[code] = self.conn.execute(select(t.bins).where(t.bins.c.code == code)).first()
        return self._bins[code]

    def unit(self, lpn: str) -> ReturnUnit | None:
        if lpn not in self.units:
            row = self.conn.execute(select(t.units).where(t.units.c.lpn == lpn)).first()
            self.units[lpn] = unit_from_row(row) if row else None
        return self.units[lpn]

    # --- applying ---------------------------------------------------------------------------

    def apply(self, event: Event) -> EventResult:
        result = self._authorize(event) or self._apply(event)
        exception_id = None
        if result.exception:
            kind, detail = result.exception
            exception_id = self._open_exception(kind, event, detail)
        if result.rule:
            self._audit(result.rule, event, {"outcome": result.outcome.value, "reason": result.reason,
                                             "exception_id": exception_id})
        self.event_rows.append({
            "event_id": str(event.event_id), "device_id": event.device_id, "device_seq": event.device_seq,
            "type": event.type.value, "hlc": event.hlc, "actor": event.actor, "role": event.role.value,
            "occurred_at": event.occurred_at, "received_at": self.received_at,
            "schema_version": event.schema_version, "base_version": event.base_version,
            "payload": event.payload.model_dump(mode="json"), "outcome": result.outcome.value,
            "rule": result.rule, "exception_id": exception_id, "reason": result.reason,
        })
        if result.outcome in (Outcome.REJECTED, Outcome.CONFLICT):
            self.change_rows.append({"device_id": event.device_id, "kind": "result", "key": str(event.event_id),
                                     "body": {"device_seq": event.device_seq, "outcome": result.outcome.value,
                                              "rule": result.rule, "reason": result.reason,
                                              "exception_id": exception_id}})
        return EventResult(event_id=event.event_id, device_seq=event.device_seq, outcome=result.outcome,
                           rule=result.rule, exception_id=exception_id, reason=result.reason)

    def _authorize(self, event: Event) -> _Outcome | None:
        user = self.user(event.actor)
        permission = EVENT_PERMISSION[event.type]
        if user is None or not user.active or user.role != event.role.value or not can(event.role, permission):
            return _Outcome(Outcome.REJECTED, ConflictRule.ACTOR_LACKS_ROLE,
                            f"{event.actor} ({event.role.value}) may not {permission.value.replace('_', ' ')}")
        for code in _bins_named(event):
            row = self.bin(code)
            if row is None:
                return _Outcome(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unknown bin {code}")
            if row.site_id != self.device.site_id:
                return _Outcome(Outcome.REJECTED, ConflictRule.WRONG_SITE,
                                f"bin {code} belongs to site {row.site_id}, not this device's site {self.device.site_id}")
        approved_by = getattr(getattr(event.payload, "decision", None), "approved_by", None)
        if approved_by:
            approver = self.user(approved_by)
            if approver is None or not approver.active or not can(Role(approver.role), Permission.APPROVE_OVERRIDE):
                return _Outcome(Outcome.REJECTED, ConflictRule.ACTOR_LACKS_ROLE,
                                f"{approved_by} may not approve overrides")
        return None

    def _apply(self, event: Event) -> _Outcome:
        payload = event.payload
        match payload:
            case RmaReceipt() | BlindReceipt():
                return self._receive(event, payload)
            case BinReassigned():
                return self._reassign(event, payload)
            case BinCounted():
                return self._count(event, payload)
            case ExceptionResolved(lpn=None):
                return self._resolve_exception_only(payload)
        unit = self.unit(payload.lpn)
        if unit is None:
            return _Outcome(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unit {payload.lpn} was never received")
        try:
            changed = evolve(unit, payload)
        except IllegalTransition as refused:
            return self._refused_transition(event, unit, refused)
        outcome = _Outcome(Outcome.APPLIED)
        if isinstance(payload, UnitStored):
            outcome = self._check_store_policy(event, unit, payload)
        if isinstance(payload, ExceptionResolved):
            self._close_exception(payload, event.actor)
        self._write_unit(unit, changed, event)
        return outcome

    def _receive(self, event: Event, payload: RmaReceipt | BlindReceipt) -> _Outcome:
        if payload.sku not in self._skus:
            return _Outcome(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unknown item {payload.sku}")
        existing = self.unit(payload.lpn)
        if existing is not None:
            if existing.sku == payload.sku and existing.serial == payload.serial:
                return _Outcome(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED, "already received by another device")
            return _Outcome(Outcome.CONFLICT, ConflictRule.LPN_REUSED,
                            f"license plate {payload.lpn} is already on unit {existing.sku}",
                            (ExceptionKind.DUPLICATE_LPN, {"lpn": payload.lpn, "existing_sku": existing.sku,
                                                           "new_sku": payload.sku}))
        outcome = _Outcome(Outcome.APPLIED)
        if isinstance(payload, RmaReceipt):
            line = self._rma_lines.get((payload.rma_id, payload.line_no))
            if line is None:
                return _Outcome(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE,
                                f"unknown RMA line {payload.rma_id}/{payload.line_no}")
            reason = line.reason_code
            if RmaState(line.state) not in RECEIVABLE_RMA_STATES:
                outcome = _Outcome(Outcome.CONFLICT, ConflictRule.RECEIPT_ON_CLOSED_RMA,
                                   f"RMA {payload.rma_id} is {line.state}; receipt kept for review",
                                   (ExceptionKind.RMA_NOT_RECEIVABLE, {"rma_id": payload.rma_id, "state": line.state}))
            self.rma_received[(payload.rma_id, payload.line_no)] += 1
            self.rma_first_receipt.setdefault(payload.rma_id, self._physical_time(event))
        else:
            reason = payload.reason_code
        if payload.serial and outcome.exception is None:
            twin = self._serials.get((payload.sku, payload.serial))
            if twin is not None:
                outcome = _Outcome(Outcome.CONFLICT, ConflictRule.DUPLICATE_SERIAL,
                                   f"serial {payload.serial} was already received as {twin}",
                                   (ExceptionKind.DUPLICATE_SERIAL, {"serial": payload.serial, "first_lpn": twin}))
        if payload.serial:
            self._serials.setdefault((payload.sku, payload.serial), payload.lpn)
        self.new_units.add(payload.lpn)
        self._write_unit(None, received_unit(payload, reason_code=reason), event)
        return outcome

    def _refused_transition(self, event: Event, unit: ReturnUnit, refused: IllegalTransition) -> _Outcome:
        decision = _decision_of(event)
        if decision is not None:
            field_name, value = decision
            current = getattr(unit, field_name)
            if current == value:
                return _Outcome(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                                f"{field_name} {value} was already recorded by another device")
            if current is not None and event.base_version < (unit.server_version or 0) and unit.state is not UnitState.DISPUTED:
                disputed = advance(unit, UnitEvent.DISPUTE)
                self._write_unit(unit, disputed, event)
                return _Outcome(Outcome.CONFLICT, ConflictRule.DIFFERENT_DECISIONS,
                                f"{field_name} {value} differs from {current} decided first; a supervisor decides",
                                (ExceptionKind.DISPUTE, {"lpn": unit.lpn, "field": field_name,
                                                         "standing": str(current), "proposed": str(value)}))
        return _Outcome(Outcome.REJECTED, ConflictRule.INVALID_TRANSITION, str(refused))

    def _check_store_policy(self, event: Event, unit: ReturnUnit, payload: UnitStored) -> _Outcome:
        row = self.bin(payload.bin_code)
        bin_ = Bin(code=row.code, type=row.type, zone=row.zone, purpose=row.purpose, owner=row.owner)
        try:
            check_store_bin(unit, bin_)
        except BinTypeMismatch as mismatch:
            return _Outcome(Outcome.CONFLICT, ConflictRule.BIN_TYPE_MISMATCH, str(mismatch),
                            (ExceptionKind.BIN_POLICY_VIOLATION, {"lpn": unit.lpn, "bin_code": row.code,
                                                                  "required": mismatch.required}))
        if row.reassigned_at is not None and _aware(row.reassigned_at) > event.occurred_at.astimezone(dt.UTC):
            return _Outcome(Outcome.CONFLICT, ConflictRule.BIN_REASSIGNED_OFFLINE,
                            f"bin {row.code} was reassigned ({row.purpose}) while this device was offline",
                            (ExceptionKind.BIN_POLICY_VIOLATION, {"lpn": unit.lpn, "bin_code": row.code,
                                                                  "purpose": row.purpose}))
        return _Outcome(Outcome.APPLIED)

    def _reassign(self, event: Event | None, payload: BinReassigned) -> _Outcome:
        row = self.bin(payload.bin_code)
        if row.type != BinType.QUARANTINE:
            return _Outcome(Outcome.REJECTED, ConflictRule.INVALID_TRANSITION, f"{row.code} is not a quarantine bin")
        self.conn.execute(update(t.bins).where(t.bins.c.code == row.code).values(
            purpose=payload.purpose, zone=payload.zone, owner=payload.owner, version=t.bins.c.version + 1,
            reassigned_at=self.received_at))
        self._bins.pop(row.code)
        self.change_rows.append({"device_id": None, "kind": "bin", "key": row.code, "body": {
            "code": row.code, "purpose": payload.purpose, "zone": payload.zone, "owner": payload.owner}})
        if payload.move_contents_to:
            self._flush_units()
            for r in self.conn.execute(select(t.units).where(t.units.c.bin_code == row.code)):
                unit = self.units.get(r.lpn) or unit_from_row(r)
                self._write_unit(unit, unit.model_copy(update={"bin_code": payload.move_contents_to}), event)
        return _Outcome(Outcome.APPLIED)

    def _count(self, event: Event, payload: BinCounted) -> _Outcome:
        """Record counted against what the server expects in the bin at this point of the log."""
        self._flush_units()
        expected = dict(self.conn.execute(select(t.units.c.sku, func.count()).where(
            t.units.c.bin_code == payload.bin_code).group_by(t.units.c.sku)).all())
        self.count_rows.extend(
            {"event_id": str(event.event_id), "bin_code": payload.bin_code, "sku": sku,
             "counted": payload.counts.get(sku, 0), "expected": expected.get(sku, 0),
             "counted_at": self._physical_time(event)}
            for sku in sorted(expected.keys() | payload.counts.keys()))
        return _Outcome(Outcome.APPLIED)

    def _resolve_exception_only(self, payload: ExceptionResolved) -> _Outcome:
        return _Outcome(Outcome.APPLIED) if self._close_exception(payload, None) else _Outcome(
            Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"no open exception {payload.exception_id}")

    # --- writes -----------------------------------------------------------------------------

    def _write_unit(self, old: ReturnUnit | None, new: ReturnUnit, event: Event | None) -> None:
        """Stage a unit change; `event` is None for a supervisor's action on the server itself."""
        version = (old.server_version if old else 0) + 1
        new = new.model_copy(update={"server_version": version})
        self.units[new.lpn] = new
        row = self.dirty_units.setdefault(new.lpn, {"lpn": new.lpn})
        row.update(_unit_row(new), version=version)
        at = self._physical_time(event)
        if old is None and event is not None:
            row.update(received_device=event.device_id, received_at=at)
        if new.disposition is not None and (old is None or old.disposition is None):
            row["reclassified_at"] = at
        if new.state is UnitState.STORED and (old is None or old.state is not UnitState.STORED):
            row["stored_at"] = at
        if old is not None:
            self.stock[(old.sku, old.bin_code, old.state.value)] -= 1
        self.stock[(new.sku, new.bin_code, new.state.value)] += 1

    def _physical_time(self, event: Event | None) -> dt.datetime:
        """When the step happened, on the server's clock: the device's time corrected by its measured skew.
        Metrics use it, so a week offline does not count as a week of cycle time."""
        if event is None:
            return self.received_at
        return event.occurred_at.astimezone(dt.UTC) + dt.timedelta(milliseconds=self.skew_ms)

    def _open_exception(self, kind: ExceptionKind, event: Event, detail: dict[str, Any]) -> str:
        exception_id = new_id("EXC")
        row = {"exception_id": exception_id, "kind": kind.value, "status": "open", "lpn": detail.get("lpn"),
               "bin_code": detail.get("bin_code"), "device_id": event.device_id, "event_id": str(event.event_id),
               "detail": detail, "opened_at": self.received_at}
        self.exception_rows.append(row)
        self.change_rows.append({"device_id": None, "kind": "exception", "key": exception_id,
                                 "body": {k: v for k, v in row.items() if k != "opened_at"}})
        return exception_id

    def _close_exception(self, payload: ExceptionResolved, actor: str | None) -> bool:
        resolution = payload.model_dump(mode="json", exclude={"type"})
        done = self.conn.execute(update(t.exceptions).where(
            t.exceptions.c.exception_id == payload.exception_id, t.exceptions.c.status == "open").values(
            status="resolved", resolved_at=self.received_at, resolved_by=actor, resolution=resolution)).rowcount
        if done:
            self.change_rows.append({"device_id": None, "kind": "resolution", "key": payload.exception_id,
                                     "body": resolution})
        return bool(done)

    def _audit(self, rule: ConflictRule, event: Event, detail: dict[str, Any]) -> None:
        self.audit_rows.append({"rule": rule.value, "event_id": str(event.event_id), "device_id": event.device_id,
                                "actor": event.actor, "occurred_at": event.occurred_at,
                                "received_at": self.received_at, "skew_ms": self.skew_ms, "detail": detail})

    def _flush_units(self) -> None:
        if not self.dirty_units:
            return
        existing = [r for lpn, r in self.dirty_units.items() if lpn not in self.new_units]
        # One executemany needs the same keys in every row: steps not taken yet are NULL.
        created = [{"reclassified_at": None, "stored_at": None, **r}
                   for lpn, r in self.dirty_units.items() if lpn in self.new_units]
        if created:
            self.conn.execute(insert(t.units), created)
        # executemany per set of changed columns, so a step's timestamp is never overwritten with NULL
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for row in existing:
            by_columns[tuple(sorted(k for k in row if k != "lpn"))].append({**row, "key_lpn": row["lpn"]})
        for columns, rows in by_columns.items():
            self.conn.execute(update(t.units).where(t.units.c.lpn == bindparam("key_lpn"))
                              .values({c: bindparam(c) for c in columns}), rows)
        self.change_rows.extend(
            {"device_id": None, "kind": "unit", "key": lpn, "body": {**_public(self.units[lpn])}}
            for lpn in self.dirty_units)
        self.new_units.clear()
        self.dirty_units.clear()

    def flush(self) -> None:
        self._flush_units()
        _add_stock(self.conn, self.stock)
        if self.rma_received:
            self.conn.execute(
                update(t.rma_lines).where(t.rma_lines.c.rma_id == bindparam("key_rma"),
                                          t.rma_lines.c.line_no == bindparam("key_line"))
                .values(received_qty=t.rma_lines.c.received_qty + bindparam("qty")),
                [{"key_rma": r, "key_line": n, "qty": q} for (r, n), q in self.rma_received.items()])
        for rma_id, at in self.rma_first_receipt.items():
            self.conn.execute(update(t.rmas).where(t.rmas.c.rma_id == rma_id, t.rmas.c.first_received_at.is_(None))
                              .values(first_received_at=at))
        if abs(self.skew_ms) > SKEW_LIMIT_MS and self.event_rows:
            self.audit_rows.append({"rule": ConflictRule.CLOCK_SKEW.value, "device_id": self.device.device_id,
                                    "received_at": self.received_at, "skew_ms": self.skew_ms,
                                    "detail": {"limit_ms": SKEW_LIMIT_MS}})
        for table, rows in ((t.events, self.event_rows), (t.exceptions, self.exception_rows),
                            (t.audit, self.audit_rows), (t.bin_counts, self.count_rows)):
            if rows:
                self.conn.execute(insert(table), rows)
        feed.append(self.conn, self.change_rows)


def _add_stock(conn: Connection, deltas: Counter) -> None:
    """Apply the batch's stock movements in one upsert; stock may never go negative (invariant 6)."""
    rows = [{"sku": sku, "bin_code": b, "status": status, "qty": d} for (sku, b, status), d in deltas.items() if d]
    if not rows:
        return
    statement = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(t.stock)
    conn.execute(statement.on_conflict_do_update(index_elements=["sku", "bin_code", "status"],
                                                 set_={"qty": t.stock.c.qty + statement.excluded.qty}), rows)
    if conn.execute(select(t.stock.c.sku).where(t.stock.c.qty < 0).limit(1)).first() is not None:
        raise RuntimeError("stock would go negative: the applied movements are inconsistent")
    conn.execute(t.stock.delete().where(t.stock.c.qty == 0))


def _public(unit: ReturnUnit) -> dict[str, Any]:
    return unit.model_dump(mode="json")


def _bins_named(event: Event) -> list[str]:
    payload = event.payload
    return [code for code in (getattr(payload, "bin_code", None), getattr(payload, "move_contents_to", None)) if code]


def _decision_of(event: Event) -> tuple[str, Any] | None:
    if isinstance(event.payload, UnitGraded):
        return "grade", event.payload.grade
    if isinstance(event.payload, DispositionDecided):
        return "disposition", event.payload.decision.disposition
    return None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)




def _server_action(engine: Engine, supervisor: Actor, received_at: dt.datetime, action: str,
                   detail: dict[str, Any], apply: Any) -> _Batch:
    """Run a supervisor's action on the server in one transaction, audited and published to devices."""
    with engine.begin() as conn:
        feed.lock_feed(conn)
        batch = _Batch(conn, Device(device_id="", site_id=""), received_at, 0)
        apply(batch)
        batch.audit_rows.append({"rule": action, "actor": supervisor.user_id, "received_at": received_at,
                                 "detail": detail})
        batch.flush()
    return batch


def resolve_by_supervisor(engine: Engine, supervisor: Actor, exception_id: str, *, grade: Grade | None,
                          disposition: Disposition | None, note: str, received_at: dt.datetime) -> dict[str, Any]:
    """A supervisor resolves an exception; a disputed unit resumes with the chosen decision."""
    payload = ExceptionResolved(exception_id=exception_id, grade=grade, disposition=disposition, note=note)
    found: dict[str, Any] = {}

    def apply(batch: _Batch) -> None:
        row = batch.conn.execute(select(t.exceptions).where(t.exceptions.c.exception_id == exception_id)).first()
        if row is None:
            raise UnknownEntity("exception", exception_id)
        if row.status != "open":
            raise InvalidInput(f"exception {exception_id} is already resolved")
        unit = batch.unit(row.lpn) if row.lpn else None
        if unit is not None and unit.state is UnitState.DISPUTED:
            batch._write_unit(unit, evolve(unit, payload.model_copy(update={"lpn": unit.lpn})), None)
        batch._close_exception(payload, supervisor.user_id)
        found["lpn"] = row.lpn

    batch = _server_action(engine, supervisor, received_at, "supervisor_resolution",
                           payload.model_dump(mode="json"), apply)
    lpn = found["lpn"]
    return {"exception_id": exception_id, "status": "resolved", "lpn": lpn,
            "state": batch.units[lpn].state.value if lpn and batch.units.get(lpn) else None}


def release_by_supervisor(engine: Engine, supervisor: Actor, payload: QuarantineReleased,
                          received_at: dt.datetime) -> ReturnUnit:
    """A supervisor releases a quarantined unit from the office; devices pull the new state."""
    def apply(batch: _Batch) -> None:
        unit = batch.unit(payload.lpn)
        if unit is None:
            raise UnknownEntity("unit", payload.lpn)
        batch._write_unit(unit, evolve(unit, payload), None)

    batch = _server_action(engine, supervisor, received_at, "supervisor_release", payload.model_dump(mode="json"),
                           apply)
    return batch.units[payload.lpn]


def reassign_by_supervisor(engine: Engine, supervisor: Actor, payload: BinReassigned,
                           received_at: dt.datetime) -> None:
    """A supervisor re-purposes a quarantine bin and may move its contents; devices pull both."""
    def apply(batch: _Batch) -> None:
        for code in filter(None, (payload.bin_code, payload.move_contents_to)):
            row = batch.bin(code)
            if row is None:
                raise UnknownEntity("bin", code)
            if row.type != BinType.QUARANTINE:
                raise InvalidInput(f"{code} is not a quarantine bin")
        batch._reassign(None, payload)

    _server_action(engine, supervisor, received_at, "supervisor_reassignment", payload.model_dump(mode="json"), apply)
