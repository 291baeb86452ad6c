"""Push ingest: every device event applied exactly once, in device_seq order, under the named
conflict rules. One push is one transaction: the ledger, the effects, the stored results, the
audit trail and the pull feed commit together or not at all.

The hot path is written for throughput (see bench/ingest.py): the state a batch reads is fetched
with one query per table and memoised, checks that depend only on (actor, role, event type) or on a
bin are made once per batch, a unit changed by several events of a batch is serialised once, and
the rows of the big tables (events, units, changes) go to the driver as plain tuples in one
executemany (SQLite) or COPY (PostgreSQL). What depends on the events alone (their rows but for the
result) is built before the write lock, and the events' primary key, not a lookup per event,
catches an event id used before.

The write lock is the limit, so a batch is worked out before it takes it (_plan): applied to a read
snapshot, every read recorded. Holding the lock, it reads those rows again; if none changed, it only
writes what it worked out, otherwise (another push touched the same units, a supervisor changed a
bin) it is applied again from the start, as every batch once was.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from pydantic import TypeAdapter
from sqlalchemy import JSON, String, bindparam, func, insert, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import Column, Table
from sqlalchemy.sql import ColumnElement

from domain import (
    EVENT_PERMISSION,
    DispositionRule,
    suggest,
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
    InspectionRecorded,
    Payload,
    Permission,
    ReturnUnit,
    RmaReceipt,
    RmaState,
    Role,
    UnitGraded,
    UnitQuarantined,
    UnitMoved,
    UnitRegraded,
    UnitStored,
    ReceiptVoided,
    DispositionReopened,
    build,
    can,
    uuid7,
)
from domain.codes import BinType, UnitState
from domain.evolve import check_store_bin, evolve, lpn_is_free, received_unit, resolution_resumes
from domain.entities import Bin
from domain.units import TRANSITIONS, UnitEvent, advance
from sync.protocol import Outcome

from . import corrections, feed
from . import tables as t
from .judgement import APPLIED, Judgement
from .rules import ConflictRule, ExceptionKind
from .storage import reader

# Device clocks further than this from the server's are flagged in the audit trail.
SKEW_LIMIT_MS = 5 * 60 * 1000


class _NeedsWriteLock(Exception):
    """Raised by a planned batch (see _plan) that has to read or write more than its memoised rows."""


class _WriteLockNeeded:
    """A planned batch's connection until it has the write lock."""

    def __getattr__(self, name: str) -> Any:
        raise _NeedsWriteLock(name)


_WRITE_LOCK_NEEDED: Any = _WriteLockNeeded()


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
    return f"{prefix}-{uuid7(now_ms, os.urandom(10)).hex}"


# (event_id, device_seq, outcome, rule, exception_id, reason): one event's result, as EventResult has it.
Result = tuple[str, int, Outcome, str | None, str | None, str | None]
_DATETIME = TypeAdapter(dt.datetime)


@dataclass(frozen=True)
class PushResult:
    """What one push did. The per-event results stay plain tuples: building and dumping a pydantic
    model per event cost more than applying most events."""

    results: list[Result]
    last_seq: int
    received_at: dt.datetime

    def json(self) -> bytes:
        """The PushResponse document, as pydantic would write it."""
        return _dumps_bytes({
            "results": [{"event_id": e, "device_seq": s, "outcome": o, "rule": r, "exception_id": x,
                         "reason": w} for e, s, o, r, x, w in self.results],
            "last_seq": self.last_seq,
            "received_at": _DATETIME.dump_python(self.received_at, mode="json"),
        })


# Writers take turns. Within a process, one push at a time: a thread writing releases the GIL for
# every row it hands SQLite or PostgreSQL, and while another thread of its process ran Python (parsing
# or planning a batch) it waited for the GIL again at each row, holding the database's write lock
# twice as long. Pushes in other processes plan meanwhile, so the lock is rarely idle.
# Between processes on SQLite (one writer), an flock on a file beside the database: a second writer
# would wait in SQLite's busy handler, which polls with sleeps that grow to 100 ms, so the database
# sat idle between pushes; the kernel wakes the flock's next holder the moment it is released.
# BEGIN IMMEDIATE still orders any other writer. PostgreSQL's writers queue on the feed's lock.
_TURNS: weakref.WeakKeyDictionary[Engine, tuple[threading.Lock, int | None]] = weakref.WeakKeyDictionary()
_TURNS_GUARD = threading.Lock()


def _turns(engine: Engine) -> tuple[threading.Lock, int | None]:
    """This process's lock for `engine`, and the descriptor of its SQLite file's lock (None on other
    databases, and on an in-memory database, which has one process)."""
    with _TURNS_GUARD:
        found = _TURNS.get(engine)
        if found is None:
            database = engine.url.database if engine.dialect.name == "sqlite" else None
            lock_file = None
            if database and database != ":memory:":
                lock_file = os.open(f"{database}.writer-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                weakref.finalize(engine, os.close, lock_file)
            found = _TURNS[engine] = (threading.Lock(), lock_file)
        return found


@contextmanager
def _file_turn(lock_file: int | None) -> Iterator[None]:
    if lock_file is None:
        yield
        return
    fcntl.flock(lock_file, fcntl.LOCK_EX)  # blocks without the GIL
    try:
        yield
    finally:
        fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction, in this process's turn and the database's."""
    process_lock, lock_file = _turns(engine)
    with process_lock, _file_turn(lock_file), engine.begin() as conn:
        yield conn


def push_batch(engine: Engine, device: Device, events: list[Event], *, sent_at: dt.datetime,
               received_at: dt.datetime) -> PushResult:
    seqs = [e.device_seq for e in events]
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        raise PushRefused("batch_out_of_order", "events in a batch must have consecutive device_seq values in order")
    if any(e.device_id != device.device_id for e in events):
        raise PushRefused("wrong_device", f"every event in this batch must come from device {device.device_id}")
    heads = _event_heads(engine.dialect, events, received_at)
    ids = [head[0] for head in heads]
    if len(set(ids)) != len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise PushRefused("event_id_taken", f"event {twice} appears twice in this batch; event ids must be unique")
    deadline = time.monotonic() + PREDECESSOR_WAIT_S
    while True:
        try:
            return _push_in_turn(engine, device, events, heads, sent_at=sent_at, received_at=received_at)
        except PushRefused as refused:
            # A device keeps more than one batch on its way, so this one may have overtaken the one
            # before it (taken up by another thread or worker): wait for that one, then try again.
            if refused.error != "gap" or not _predecessor_applied(engine, device.device_id, seqs[0], deadline):
                raise
            # Applied after the batch ahead of it, so received after it too: the server's receipt
            # times follow each device's order.
            received_at = dt.datetime.now(dt.UTC)
            received = _EVENT_INSERT.param(engine.dialect, "received_at")(received_at)
            at = _EVENT_INSERT.columns.index("received_at")
            heads = [(*head[:at], received, *head[at + 1:]) for head in heads]


def _push_in_turn(engine: Engine, device: Device, events: list[Event], heads: list[tuple[Any, ...]], *,
                  sent_at: dt.datetime, received_at: dt.datetime) -> PushResult:
    """Apply the batch in one transaction; PushRefused("gap") when it is not the batch's turn yet."""
    first_seq = events[0].device_seq
    ids = [head[0] for head in heads]
    skew_ms = int((received_at - sent_at).total_seconds() * 1000)
    fresh_ids: list[str] = ids
    process_lock, lock_file = _turns(engine)
    try:
        with process_lock:
            planned = _plan(engine, device, events, heads, received_at, skew_ms)
            with _file_turn(lock_file), engine.begin() as conn:
                feed.lock_feed(conn)
                row = conn.execute(
                    select(t.ledger.c.last_seq).where(t.ledger.c.device_id == device.device_id).with_for_update()
                ).one()
                last = row.last_seq
                if planned is not None and last == first_seq - 1 and planned.still_holds(conn):
                    batch, results, new_last = planned, [], events[-1].device_seq
                else:
                    # The seqs are consecutive: the duplicates, if any, come first.
                    known = max(0, min(len(events), last - first_seq + 1))
                    duplicates, fresh, fresh_ids = events[:known], events[known:], ids[known:]
                    if fresh and fresh[0].device_seq != last + 1:
                        raise PushRefused("gap", f"device_seq {fresh[0].device_seq} leaves a gap: send {last + 1} next",
                                          expected_seq=last + 1)
                    results = _stored_results(conn, device, duplicates)
                    new_last = fresh[-1].device_seq if fresh else last
                    batch = _Batch(conn, device, received_at, skew_ms)
                    _apply_all(batch, fresh, heads[known:], new_last)
                batch.flush(conn)
                results += batch.results
                conn.execute(update(t.ledger).where(t.ledger.c.device_id == device.device_id).values(
                    last_seq=new_last, last_push_at=received_at, last_skew_ms=skew_ms))
    except (IntegrityError, engine.dialect.loaded_dbapi.IntegrityError):
        # The events' primary key refuses an id already taken (by another device, or by this one at
        # another seq); looking every id up first cost each push a lookup per event. Nothing was written.
        with reader(engine).connect() as conn:
            _refuse_taken_ids(conn, fresh_ids)
        raise
    return PushResult(results=results, last_seq=new_last, received_at=received_at)


def _apply_all(batch: _Batch, fresh: list[Event], heads: list[tuple[Any, ...]], new_last: int) -> None:
    """Apply the batch's new events and stage their rows, ready for batch.flush()."""
    if fresh:
        # First in the feed for this batch: every change after this marker reflects the device's
        # events through new_last, so the device knows which of its own events to re-apply on top.
        batch._publish(batch.device.device_id, "ack", batch.device.device_id, {"last_seq": new_last})
    batch.prefetch(fresh)
    for event, head in zip(fresh, heads):
        batch.apply(event, head)
    batch.stage()


def _plan(engine: Engine, device: Device, events: list[Event], heads: list[tuple[Any, ...]],
          received_at: dt.datetime, skew_ms: int) -> _Batch | None:
    """The batch applied to a read snapshot, without the write lock, so other pushes write meanwhile.
    Under the lock it is used only if it is the batch's turn and every read it made still gives the
    same rows (_Batch.still_holds). None when the device has no ledger or the snapshot already holds
    some of the batch's events, or when an event needs the lock (one that reads or writes more than
    the memoised rows, such as closing an exception or counting a bin).

    The batch ahead of it may still be on its way (a device keeps two in flight, and another worker
    process may be applying it): the plan is made all the same, on the state before that batch. A
    device ends its batches where no unit goes on into the next, so the plan usually still holds
    when that batch has committed: two workers work out a device's batches side by side and write
    them one after another, instead of each waiting for the one ahead before it starts. A batch
    whose predecessor has not arrived at all is planned in vain, then refused as a gap."""
    with reader(engine).connect() as conn, conn.begin():
        last = conn.execute(select(t.ledger.c.last_seq).where(t.ledger.c.device_id == device.device_id)).scalar()
        if last is None or last >= events[0].device_seq:
            return None
        batch = _Batch(_WRITE_LOCK_NEEDED, device, received_at, skew_ms, source=conn)
        try:
            _apply_all(batch, events, heads, events[-1].device_seq)
        except _NeedsWriteLock:
            return None
    return batch


# How long a batch that arrived before the one ahead of it waits for it before it is refused as a gap.
PREDECESSOR_WAIT_S = 2.0


def _predecessor_applied(engine: Engine, device_id: str, first_seq: int, deadline: float) -> bool:
    """Wait, without the write lock, until the device's ledger reaches first_seq - 1; False when
    the deadline passes first."""
    pause = 0.0005
    last_seq = select(t.ledger.c.last_seq).where(t.ledger.c.device_id == device_id)
    while time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.005)
        with reader(engine).connect() as conn:  # a fresh read each time: it sees the latest commit
            if conn.execute(last_seq).scalar_one() >= first_seq - 1:
                return True
    return False


def _event_heads(dialect: Dialect, events: list[Event], received_at: dt.datetime) -> list[tuple[Any, ...]]:
    """Each event's row without its result (the first 12 of _EVENT_INSERT's columns), as the driver
    takes it. Built before the write lock is taken, so other pushes apply and commit meanwhile."""
    occurred = _EVENT_INSERT.param(dialect, "occurred_at")
    received = _EVENT_INSERT.param(dialect, "received_at")(received_at)
    # All payloads in one call, then orjson: the same JSON as model_dump_json() per payload, at a third of its cost.
    payloads = _PAYLOADS.dump_python([e.payload for e in events], mode="json")
    return [(str(e.event_id), e.device_id, e.device_seq, e.type, e.hlc, e.actor, e.role,
             occurred(e.occurred_at), received, e.schema_version, e.base_version, _dumps(payload))
            for e, payload in zip(events, payloads)]


_PAYLOADS = TypeAdapter(list[Payload])


def _refuse_taken_ids(conn: Connection, ids: list[str]) -> None:
    if not ids:
        return
    taken = conn.execute(select(t.events.c.event_id, t.events.c.device_id)
                         .where(_one_of(conn.dialect, t.events.c.event_id, ids)).limit(1)).first()
    if taken is not None:
        raise PushRefused("event_id_taken", f"event {taken.event_id} was already sent by device {taken.device_id}; "
                          "event ids must be unique")


def _stored_results(conn: Connection, device: Device, duplicates: list[Event]) -> list[Result]:
    if not duplicates:
        return []
    rows = {r.device_seq: r for r in conn.execute(
        select(t.events.c.device_seq, t.events.c.event_id, t.events.c.outcome, t.events.c.rule,
               t.events.c.exception_id, t.events.c.reason)
        .where(t.events.c.device_id == device.device_id,
               t.events.c.device_seq.between(duplicates[0].device_seq, duplicates[-1].device_seq)))}
    results: list[Result] = []
    for event in duplicates:
        stored = rows[event.device_seq]
        if stored.event_id != str(event.event_id):
            raise PushRefused("seq_reused", f"device_seq {event.device_seq} was already used by event "
                              f"{stored.event_id}; this device's log does not match what it sent before")
        results.append((stored.event_id, event.device_seq, Outcome.DUPLICATE, ConflictRule.DUPLICATE_EVENT,
                        stored.exception_id, stored.reason))
    return results


def unit_from_row(row: Any) -> ReturnUnit:
    m = row._mapping
    fields = {c: m[c] for c in ("lpn", "sku", "rma_id", "line_no", "serial", "lot", "expiry", "reason_code", "state",
                                "held_from", "bin_code", "grade", "disposition") if m[c] is not None}
    return ReturnUnit(**fields, condition_codes=tuple(m["condition_codes"]), server_version=m["version"])


_UNCHECKED: Any = object()
# An RMA line with what a receipt against it needs: its item, its reason and its RMA's state.
_RMA_LINES = (select(t.rma_lines.c.rma_id, t.rma_lines.c.line_no, t.rma_lines.c.sku, t.rma_lines.c.reason_code,
                     t.rma_lines.c.expected_qty, t.rma_lines.c.received_qty, t.rmas.c.state)
              .join(t.rmas, t.rmas.c.rma_id == t.rma_lines.c.rma_id))


@dataclass
class _Batch:
    """The state one push reads, memoised, and the writes it collects for one flush.

    A planned batch (see _plan) reads through `source`, a read snapshot, and records every read;
    its `conn` raises _NeedsWriteLock until flush() gives it the write transaction."""

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
    event_rows: list[tuple[Any, ...]] = field(default_factory=list)  # in _EVENT_INSERT's column order
    audit_rows: list[dict[str, Any]] = field(default_factory=list)
    count_rows: list[dict[str, Any]] = field(default_factory=list)
    _unit_inserts: list[tuple[Any, ...]] = field(default_factory=list)  # in _UNIT_INSERT's column order
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
    _rma_lines: dict[tuple[str, int], Any] = field(default_factory=dict)
    _rmas_known: dict[str, bool] = field(default_factory=dict)  # package references that are RMA ids
    _serials: dict[tuple[str, str], str] = field(default_factory=dict)
    _rule_set: list[DispositionRule] | None = None
    _categories: dict[str, str] = field(default_factory=dict)  # sku -> category, of items that exist
    # Authorisation that depends only on (actor, role, event type), or only on a bin, within this batch.
    _role_checks: dict[tuple[str, Role, Any], Judgement | None] = field(default_factory=dict)
    _bin_checks: dict[str, Judgement | None] = field(default_factory=dict)
    _skew: dt.timedelta = field(init=False)
    # datetimes as the driver takes them for the units insert's columns (_RowInsert.param)
    _unit_times: tuple[Any, Any, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.site_id = self.site_id or self.device.site_id or None
        self._skew = dt.timedelta(milliseconds=self.skew_ms)
        if self.source is None:
            self.source = self.conn
        else:
            self._reads = []
        dialect = self.source.dialect
        self._unit_times = tuple(_UNIT_INSERT.param(dialect, c) for c in ("received_at", "reclassified_at", "stored_at"))

    # --- reads: fetched for the whole batch in a few queries, then memoised -----------------

    def prefetch(self, events: list[Event]) -> None:
        """Read what the batch refers to with one query per table instead of one per event."""
        payloads = [e.payload for e in events]
        receipts = [p for p in payloads if isinstance(p, RmaReceipt | BlindReceipt)]
        lpns = {lpn for p in payloads if (lpn := _optional(p, "lpn"))}
        users = {e.actor for e in events} | {
            p.decision.approved_by for p in payloads if isinstance(p, DispositionDecided) and p.decision.approved_by}
        bins = {code for e in events for code in _bins_named(e)}
        read = self._read
        dialect = self.source.dialect
        if lpns:
            rows = {r.lpn: unit_from_row(r) for r in read(
                select(t.units).where(_one_of(dialect, t.units.c.lpn, sorted(lpns))))}
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
            self._categories = dict(read(select(t.items.c.sku, t.items.c.category).where(
                _one_of(dialect, t.items.c.sku, sorted(skus)))))
        # The RMA lines of receipts, and of receipts voided (their count on the line is taken back).
        rma_ids = {p.rma_id for p in receipts if isinstance(p, RmaReceipt)} | {
            u.rma_id for p in payloads if isinstance(p, ReceiptVoided) and (u := self.units.get(p.lpn)) and u.rma_id}
        if rma_ids:
            self._rma_lines = {(r.rma_id, r.line_no): r for r in read(
                _RMA_LINES.where(_one_of(dialect, t.rma_lines.c.rma_id, sorted(rma_ids))))}
        serials = {(p.sku, p.serial) for p in receipts if p.serial}
        if serials:  # by SKU too: the index is on (sku, serial); a voided receipt's serial is free again
            self._serials = {(r.sku, r.serial): r.lpn for r in read(
                select(t.units.c.lpn, t.units.c.sku, t.units.c.serial)
                .where(_one_of(dialect, t.units.c.sku, sorted({s for s, _ in serials})),
                       _one_of(dialect, t.units.c.serial, sorted({n for _, n in serials})),
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

    def rma_line(self, rma_id: str, line_no: int) -> Any:
        if (rma_id, line_no) not in self._rma_lines:
            self._rma_lines[(rma_id, line_no)] = self._first(
                _RMA_LINES.where(t.rma_lines.c.rma_id == rma_id, t.rma_lines.c.line_no == line_no))
        return self._rma_lines[(rma_id, line_no)]

    def _is_rma(self, rma_id: str) -> bool:
        if rma_id not in self._rmas_known:
            self._rmas_known[rma_id] = self._first(select(t.rmas.c.rma_id).where(t.rmas.c.rma_id == rma_id)) is not None
        return self._rmas_known[rma_id]

    def unit(self, lpn: str) -> ReturnUnit | None:
        if lpn not in self.units:
            row = self._first(select(t.units).where(t.units.c.lpn == lpn))
            self.units[lpn] = unit_from_row(row) if row else None
        return self.units[lpn]

    # --- applying ---------------------------------------------------------------------------

    def apply(self, event: Event, head: tuple[Any, ...]) -> Result:
        """Apply one event; `head` is its row from _event_heads()."""
        result = self._authorize(event) or self._apply(event)
        exception_id = None
        if result.exception:
            kind, detail = result.exception
            exception_id = self._open_exception(kind, event, detail)
        if result.rule:
            self._audit(result.rule, event, {"outcome": result.outcome.value, "reason": result.reason,
                                             "exception_id": exception_id})
        event_id = head[0]
        self.event_rows.append((*head, result.outcome, result.rule, exception_id, result.reason))
        if result.outcome is Outcome.REJECTED or result.outcome is Outcome.CONFLICT:
            self._publish(event.device_id, "result", event_id, {
                "device_seq": event.device_seq, "outcome": result.outcome.value, "rule": result.rule,
                "reason": result.reason, "exception_id": exception_id})
        outcome: Result = (event_id, event.device_seq, result.outcome, result.rule, exception_id, result.reason)
        self.results.append(outcome)
        return outcome

    def _authorize(self, event: Event) -> Judgement | None:
        key = (event.actor, event.role, event.type)
        refused = self._role_checks.get(key, _UNCHECKED)
        if refused is _UNCHECKED:
            refused = self._role_checks[key] = self._check_role(event)
        if refused is not None:
            return refused
        for code in _bins_named(event):
            refused = self._bin_checks.get(code, _UNCHECKED)
            if refused is _UNCHECKED:
                refused = self._bin_checks[code] = self._check_bin(code)
            if refused is not None:
                return refused
        payload = event.payload
        lpn = _optional(payload, "lpn")
        if lpn and not isinstance(payload, RmaReceipt | BlindReceipt):
            unit = self.unit(lpn)
            site = self.bin(unit.bin_code).site_id if unit is not None else None
            if site is not None and site != self.device.site_id:
                return Judgement(Outcome.REJECTED, ConflictRule.WRONG_SITE,
                                 f"unit {lpn} is at site {site}, not this device's site {self.device.site_id}")
        approved_by = payload.decision.approved_by if isinstance(payload, DispositionDecided) else None
        if approved_by:
            approver = self.user(approved_by)
            if approver is None or not approver.active or not can(Role(approver.role), Permission.APPROVE_OVERRIDE):
                return Judgement(Outcome.REJECTED, ConflictRule.ACTOR_LACKS_ROLE,
                                 f"{approved_by} may not approve overrides")
        return None

    def _check_role(self, event: Event) -> Judgement | None:
        user = self.user(event.actor)
        permission = EVENT_PERMISSION[event.type]
        if user is None or not user.active or user.role != event.role.value or not can(event.role, permission):
            return Judgement(Outcome.REJECTED, ConflictRule.ACTOR_LACKS_ROLE,
                             f"{event.actor} ({event.role.value}) may not {permission.value.replace('_', ' ')}")
        return None

    def _check_bin(self, code: str) -> Judgement | None:
        row = self.bin(code)
        if row is None:
            return Judgement(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unknown bin {code}")
        if row.site_id != self.device.site_id:
            return Judgement(Outcome.REJECTED, ConflictRule.WRONG_SITE,
                             f"bin {code} belongs to site {row.site_id}, not this device's site {self.device.site_id}")
        return None

    def _apply(self, event: Event) -> Judgement:
        payload = event.payload
        match payload:
            case RmaReceipt() | BlindReceipt():
                return self._receive(event, payload)
            case BinReassigned():
                return self._reassign(event, payload)
            case BinCounted():
                return self._count(event, payload)
            case ExceptionResolved(lpn=None):
                return self._resolve_exception_only(event, payload)
        unit = self.unit(payload.lpn)
        if unit is None:
            return Judgement(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unit {payload.lpn} was never received")
        if isinstance(payload, ExceptionResolved) and not self._is_open_exception_of(payload.exception_id, unit.lpn):
            return Judgement(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE,
                             f"no open exception {payload.exception_id} about unit {unit.lpn}")
        try:
            changed = evolve(unit, payload)
        except IllegalTransition as refused:
            return self._refused_transition(event, unit, refused)
        if isinstance(payload, corrections.CORRECTIONS):
            return corrections.apply(self, event, unit, changed)
        if isinstance(payload, DispositionDecided):
            unapproved = self._unapproved_override(unit, changed, payload)
            if unapproved is not None:
                return unapproved
        outcome = APPLIED
        if isinstance(payload, UnitStored):
            outcome = self.check_store_policy(event, unit, payload)
        if isinstance(payload, ExceptionResolved):
            self._close_exception(payload, event.actor)
        self._write_unit(unit, changed, event)
        return outcome
    def _is_open_exception_of(self, exception_id: str, lpn: str) -> bool:
        row = self.conn.execute(select(t.exceptions.c.lpn).where(
            t.exceptions.c.exception_id == exception_id, t.exceptions.c.status == "open")).first()
        return row is not None and row.lpn == lpn

    def _unapproved_override(self, unit: ReturnUnit, decided: ReturnUnit, payload: DispositionDecided
                             ) -> Judgement | None:
        """Re-check a device's decision with the server's rules. An override the rules want approved,
        sent without approval, is still recorded, but the unit waits for a supervisor."""
        decision = payload.decision
        if decision.approved_by or unit.grade is None or (decided.state, UnitEvent.DISPUTE) not in TRANSITIONS:
            return None
        try:
            rule = suggest(self._rules(), category=self._category(unit.sku), grade=unit.grade,
                           reason_code=unit.reason_code, condition_codes=unit.condition_codes)
        except InvalidInput:  # no server rule covers it: nothing to enforce
            return None
        if decision.disposition is rule.disposition or not rule.override_needs_approval:
            return None
        self._write_unit(unit, advance(decided, UnitEvent.DISPUTE), None)
        return Judgement(Outcome.CONFLICT, ConflictRule.OVERRIDE_NEEDS_APPROVAL,
                         f"{decision.disposition.value} instead of {rule.disposition.value} needs a supervisor's "
                         f"approval (rule {rule.rule_id}); the unit waits for one",
                         (ExceptionKind.OVERRIDE_APPROVAL, {"lpn": unit.lpn, "rule_id": rule.rule_id,
                                                            "suggested": rule.disposition.value,
                                                            "chosen": decision.disposition.value}))

    def _rules(self) -> list[DispositionRule]:
        if self._rule_set is None:
            self._rule_set = [DispositionRule.model_validate(r.body) for r in self._read(
                select(t.disposition_rules.c.body).order_by(t.disposition_rules.c.position))]
        return self._rule_set

    def _category(self, sku: str) -> str:
        if sku not in self._categories:
            self._categories[sku] = self._read(select(t.items.c.category).where(t.items.c.sku == sku))[0].category
        return self._categories[sku]

    def _receive(self, event: Event, payload: RmaReceipt | BlindReceipt) -> Judgement:
        if payload.sku not in self._categories:
            return Judgement(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unknown item {payload.sku}")
        existing = self.unit(payload.lpn)
        if not lpn_is_free(existing):
            # Two devices recorded the same receipt only if every fact of it agrees; otherwise one
            # license plate is on two physical units.
            same = (existing.sku, existing.serial, existing.lot, existing.rma_id, existing.line_no) == (
                payload.sku, payload.serial, payload.lot, _optional(payload, "rma_id"), _optional(payload, "line_no")
            ) and (isinstance(payload, RmaReceipt) or existing.reason_code == payload.reason_code)
            if same:
                return Judgement(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                                 "already received by another device")
            return Judgement(Outcome.CONFLICT, ConflictRule.LPN_REUSED,
                             f"license plate {payload.lpn} is already on unit {existing.sku}",
                             (ExceptionKind.DUPLICATE_LPN, {"lpn": payload.lpn, "existing_sku": existing.sku,
                                                            "new_sku": payload.sku}))
        outcome = APPLIED
        if isinstance(payload, RmaReceipt):
            line = self._rma_lines.get((payload.rma_id, payload.line_no))
            if line is None:
                return Judgement(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE,
                                 f"unknown RMA line {payload.rma_id}/{payload.line_no}")
            reason = line.reason_code
            if line.sku != payload.sku:
                # The device checks the item against its copy of the RMA, which the ERP may have
                # changed since: the unit is where it is, but it is not what the line expects.
                outcome = Judgement(Outcome.CONFLICT, ConflictRule.RECEIPT_WRONG_ITEM,
                                    f"line {payload.line_no} of {payload.rma_id} expects {line.sku}, "
                                    f"not {payload.sku}; receipt kept for review, not counted on the line",
                                    (ExceptionKind.WRONG_ITEM, {"lpn": payload.lpn, "rma_id": payload.rma_id,
                                                                "line_no": payload.line_no, "expected_sku": line.sku,
                                                                "received_sku": payload.sku}))
            else:
                if RmaState(line.state) not in RECEIVABLE_RMA_STATES:
                    outcome = Judgement(Outcome.CONFLICT, ConflictRule.RECEIPT_ON_CLOSED_RMA,
                                        f"RMA {payload.rma_id} is {line.state}; receipt kept for review",
                                        (ExceptionKind.RMA_NOT_RECEIVABLE, {"lpn": payload.lpn,
                                                                            "rma_id": payload.rma_id,
                                                                            "state": line.state}))
                self.rma_received[(payload.rma_id, payload.line_no)] += 1
                received = line.received_qty + self.rma_received[(payload.rma_id, payload.line_no)]
                if received > line.expected_qty and outcome.exception is None:
                    # Applied, with an exception: the handheld already flagged it to the associate.
                    outcome = Judgement(Outcome.APPLIED, ConflictRule.RECEIPT_OVER_LINE,
                                        f"line {payload.line_no} of {payload.rma_id} expects {line.expected_qty}, "
                                        f"this is unit {received}: kept and counted, for a supervisor to review",
                                        (ExceptionKind.OVER_RECEIPT, {"lpn": payload.lpn, "rma_id": payload.rma_id,
                                                                      "line_no": payload.line_no,
                                                                      "expected": line.expected_qty,
                                                                      "received": received}))
            self.rma_first_receipt.setdefault(payload.rma_id, self._physical_time(event))
        else:
            reason = payload.reason_code
            if payload.package_ref and self._is_rma(payload.package_ref):
                # Received blind out of an RMA's package: the item is on none of its lines (applied, with an
                # exception: the handheld already flagged it to the associate).
                outcome = Judgement(Outcome.APPLIED, ConflictRule.RECEIPT_NOT_ON_RMA,
                                    f"{payload.sku} is on no line of {payload.package_ref}: kept for a supervisor "
                                    "to review", (ExceptionKind.NOT_ON_RMA, {"lpn": payload.lpn, "sku": payload.sku,
                                                                             "rma_id": payload.package_ref}))
        twin = self._serials.get((payload.sku, payload.serial)) if payload.serial else None
        if twin is not None and outcome.exception is None:
            outcome = Judgement(Outcome.CONFLICT, ConflictRule.DUPLICATE_SERIAL,
                                f"serial {payload.serial} was already received as {twin}",
                                (ExceptionKind.DUPLICATE_SERIAL, {"lpn": payload.lpn, "serial": payload.serial,
                                                                   "first_lpn": twin}))
        elif twin is not None:  # one exception per event: the one opened names the serial's first unit too
            kind, detail = outcome.exception
            outcome = replace(outcome, exception=(kind, {**detail, "serial": payload.serial, "first_lpn": twin}))
        if payload.serial:
            self._serials.setdefault((payload.sku, payload.serial), payload.lpn)
        if existing is None:  # otherwise a voided receipt's row takes the new one
            self.new_units.add(payload.lpn)
        self._write_unit(existing, received_unit(payload, reason_code=reason), event)
        return outcome

    def _refused_transition(self, event: Event, unit: ReturnUnit, refused: IllegalTransition) -> Judgement:
        decision = _decision_of(event)
        if decision is not None:
            field_name, value = decision
            current = getattr(unit, field_name)
            if current == value:
                return Judgement(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                                 f"{field_name} {value} was already recorded by another device")
            # Only a unit whose state may be disputed is: a quarantined unit already waits for a
            # supervisor and a closed one is done, so those refuse the decision like any other
            # invalid step (advance() would raise, and the whole batch would be refused again on
            # every retry, blocking the device's queue).
            rival = current is not None and event.base_version < (unit.server_version or 0)
            if rival and unit.state in (UnitState.QUARANTINED, UnitState.DISPUTED) or (
                    rival and (unit.state, UnitEvent.DISPUTE) in TRANSITIONS):
                return self.dispute(event, unit, field_name, value)
        if _already_reflects(unit, event.payload):
            return Judgement(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                             f"{event.type.value.replace('_', ' ')} was already recorded by another device")
        return Judgement(Outcome.REJECTED, ConflictRule.INVALID_TRANSITION, str(refused))

    def dispute(self, event: Event, unit: ReturnUnit, field_name: str, value: Any) -> Judgement:
        """A decision that differs from the one standing: the first stands, and the unit (if its state
        allows) waits disputed for a supervisor."""
        if (unit.state, UnitEvent.DISPUTE) in TRANSITIONS:
            self._write_unit(unit, advance(unit, UnitEvent.DISPUTE), event)
        current = getattr(unit, field_name)
        return Judgement(Outcome.CONFLICT, ConflictRule.DIFFERENT_DECISIONS,
                         f"{field_name} {value} differs from {current} decided first; a supervisor decides",
                         (ExceptionKind.DISPUTE, {"lpn": unit.lpn, "field": field_name,
                                                  "standing": str(current), "proposed": str(value),
                                                  # who proposed it, for the supervisor weighing both sides
                                                  "proposed_by": event.actor, "proposed_device": event.device_id,
                                                  "proposed_at": event.occurred_at.isoformat()}))

    def check_store_policy(self, event: Event, unit: ReturnUnit, payload: UnitStored | UnitMoved) -> Judgement:
        row = self.bin(payload.bin_code)
        bin_ = self._bin_models.get(row.code)
        if bin_ is None:
            bin_ = self._bin_models[row.code] = Bin(code=row.code, type=row.type, zone=row.zone, purpose=row.purpose,
                                                    owner=row.owner)
        try:
            check_store_bin(unit, bin_)
        except BinTypeMismatch as mismatch:
            return Judgement(Outcome.CONFLICT, ConflictRule.BIN_TYPE_MISMATCH, str(mismatch),
                             (ExceptionKind.BIN_POLICY_VIOLATION, {"lpn": unit.lpn, "bin_code": row.code,
                                                                   "required": mismatch.required}))
        if row.reassigned_at is not None and row.reassigned_at > self._physical_time(event):
            return Judgement(Outcome.CONFLICT, ConflictRule.BIN_REASSIGNED_OFFLINE,
                             f"bin {row.code} was reassigned ({row.purpose}) while this device was offline",
                             (ExceptionKind.BIN_POLICY_VIOLATION, {"lpn": unit.lpn, "bin_code": row.code,
                                                                   "purpose": row.purpose}))
        return APPLIED

    def _reassign(self, event: Event | None, payload: BinReassigned) -> Judgement:
        row = self.bin(payload.bin_code)
        target = self.bin(payload.move_contents_to) if payload.move_contents_to else None
        for bin_row in filter(None, (row, target)):
            if bin_row.type != BinType.QUARANTINE:
                return Judgement(Outcome.REJECTED, ConflictRule.INVALID_TRANSITION,
                                 f"{bin_row.code} is not a quarantine bin: quarantined units stay in quarantine")
        self.conn.execute(update(t.bins).where(t.bins.c.code == row.code).values(
            purpose=payload.purpose, zone=payload.zone, owner=payload.owner, version=t.bins.c.version + 1,
            reassigned_at=self.received_at))
        self._bins.pop(row.code)
        self._bin_models.pop(row.code, None)
        self._publish(None, "bin", row.code, {
            "code": row.code, "purpose": payload.purpose, "zone": payload.zone, "owner": payload.owner})
        if payload.move_contents_to:
            self._flush_units()
            for r in self.conn.execute(select(t.units).where(t.units.c.bin_code == row.code)):
                unit = self.units.get(r.lpn) or unit_from_row(r)
                self._write_unit(unit, unit.model_copy(update={"bin_code": payload.move_contents_to}), event)
        return APPLIED

    def _count(self, event: Event, payload: BinCounted) -> Judgement:
        """Record counted against what the server expects in the bin at this point of the log."""
        self._flush_units()
        expected = dict(self.conn.execute(select(t.units.c.sku, func.count()).where(
            t.units.c.bin_code == payload.bin_code, t.units.c.state != UnitState.VOIDED).group_by(t.units.c.sku)).all())
        self.count_rows.extend(
            {"event_id": str(event.event_id), "bin_code": payload.bin_code, "sku": sku,
             "counted": payload.counts.get(sku, 0), "expected": expected.get(sku, 0),
             "counted_at": self._physical_time(event)}
            for sku in sorted(expected.keys() | payload.counts.keys()))
        return APPLIED

    def _resolve_exception_only(self, event: Event, payload: ExceptionResolved) -> Judgement:
        """A supervisor closes an exception on a device without choosing a grade or disposition."""
        row = self.conn.execute(select(t.exceptions.c.kind, t.exceptions.c.lpn, t.exceptions.c.bin_code).where(
            t.exceptions.c.exception_id == payload.exception_id, t.exceptions.c.status == "open")).first()
        if row is None:
            return Judgement(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"no open exception {payload.exception_id}")
        unit = self.unit(row.lpn) if row.lpn else None
        code = unit.bin_code if unit is not None else row.bin_code
        where = self.bin(code) if code else None
        if where is not None and where.site_id != self.device.site_id:
            return Judgement(Outcome.REJECTED, ConflictRule.WRONG_SITE, f"exception {payload.exception_id} is about "
                             f"site {where.site_id}, not this device's site {self.device.site_id}")
        self._close_exception(payload, event.actor)
        if resolution_resumes(row.kind, unit):
            # Closed without a choice (the device had not pulled the dispute yet): what stands stays.
            self._write_unit(unit, evolve(unit, payload.model_copy(update={"lpn": unit.lpn})), event)
        return APPLIED

    # --- writes -----------------------------------------------------------------------------

    def _write_unit(self, old: ReturnUnit | None, new: ReturnUnit, event: Event | None) -> None:
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
            stamps.update(received_device=event.device_id, received_at=self._physical_time(event))
        if new.disposition is not None and (old is None or old.disposition is None):
            stamps["reclassified_at"] = self._physical_time(event)
        if new.state is UnitState.STORED and (old is None or old.state is not UnitState.STORED):
            stamps["stored_at"] = self._physical_time(event)
        # A voided receipt is no unit: it leaves stock and never comes back.
        if old is not None and old.state is not UnitState.VOIDED:
            self.stock[(old.sku, old.bin_code, old.state)] -= 1
        if new.state is not UnitState.VOIDED:
            self.stock[(new.sku, new.bin_code, new.state)] += 1

    def _physical_time(self, event: Event | None) -> dt.datetime:
        """When the step happened, on the server's clock: the device's time corrected by its measured skew.
        Metrics use it, so a week offline does not count as a week of cycle time."""
        if event is None:
            return self.received_at
        return event.occurred_at.astimezone(dt.UTC) + self._skew

    def _publish(self, device_id: str | None, kind: str, key: str, body: dict[str, Any]) -> None:
        """Queue a change for the pull feed: for one device, or for every device of this batch's site."""
        self.change_rows.append((device_id, self.site_id, kind, key, _dumps(body)))

    def _open_exception(self, kind: ExceptionKind, event: Event, detail: dict[str, Any]) -> str:
        exception_id = new_id("EXC")
        row = {"exception_id": exception_id, "kind": kind.value, "status": "open", "lpn": detail.get("lpn"),
               "bin_code": detail.get("bin_code"), "device_id": event.device_id, "event_id": str(event.event_id),
               "detail": detail, "opened_at": self.received_at}
        self.exception_rows.append(row)
        self._publish(None, "exception", exception_id, {k: v for k, v in row.items() if k != "opened_at"})
        return exception_id

    def _close_exception(self, payload: ExceptionResolved, actor: str | None) -> bool:
        resolution = payload.model_dump(mode="json", exclude={"type"})
        done = self.conn.execute(update(t.exceptions).where(
            t.exceptions.c.exception_id == payload.exception_id, t.exceptions.c.status == "open").values(
            status="resolved", resolved_at=self.received_at, resolved_by=actor, resolution=resolution)).rowcount
        if done:  # the devices show a conflict as settled, and by whom
            self._publish(None, "resolution", payload.exception_id, {**resolution, "resolved_by": actor})
        return bool(done)

    def _audit(self, rule: ConflictRule, event: Event, detail: dict[str, Any]) -> None:
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
                    *(public[c] for c in _UNIT_FIELDS), _dumps(public["condition_codes"]), public["server_version"],
                    stamps["received_device"], received(stamps["received_at"]),
                    reclassified(stamps.get("reclassified_at")), stored(stamps.get("stored_at"))))
            else:
                row = {c: public[c] for c in _UNIT_COLUMNS_OF_MODEL if c != "lpn"}
                row.update(stamps, version=public["server_version"], key_lpn=lpn)
                # executemany per set of changed columns, so a step's timestamp is never overwritten with NULL
                self._unit_updates[tuple(sorted(k for k in row if k != "key_lpn"))].append(row)
            self._publish(None, "unit", lpn, public)
        self.new_units.clear()
        self.dirty_units.clear()

    def _write_units(self, conn: Connection) -> None:
        _UNIT_INSERT(conn, self._unit_inserts)
        for columns, rows in self._unit_updates.items():
            conn.execute(update(t.units).where(t.units.c.lpn == bindparam("key_lpn"))
                         .values({c: bindparam(c) for c in columns}), rows)
        self._unit_inserts.clear()
        self._unit_updates.clear()

    def _flush_units(self) -> None:
        """Write the units changed so far, for a statement that reads the units table next."""
        self.stage()
        self._write_units(self.conn)

    def flush(self, conn: Connection) -> None:
        """Write everything the batch collected in `conn`, the write transaction."""
        self.conn = self.source = conn
        self._reads = None
        self.stage()
        self._write_units(conn)
        _add_stock(conn, self.stock)
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
        _EVENT_INSERT(conn, self.event_rows)
        if self.exception_rows:
            conn.execute(insert(t.exceptions), self.exception_rows)
        if self.audit_rows:
            # One executemany needs the same keys in every row: a clock-skew or supervisor entry has
            # no event, actor or capture time.
            conn.execute(insert(t.audit), [{**_AUDIT_BLANK, **r} for r in self.audit_rows])
        if self.count_rows:
            conn.execute(insert(t.bin_counts), self.count_rows)
        _CHANGE_INSERT(conn, self.change_rows)


def _add_stock(conn: Connection, deltas: Counter) -> None:
    """Apply the batch's stock movements in one upsert; stock may never go negative (invariant 6)."""
    rows = [(sku, b, str(status), d) for (sku, b, status), d in deltas.items() if d]
    if not rows:
        return
    dialect = conn.dialect
    if dialect.driver in _BULK_DRIVERS:
        # Plain SQL, all rows in one statement (compiling the ON CONFLICT statement cost more than
        # running it, and a round trip per row cost PostgreSQL more still); RETURNING gives the new
        # quantities, so neither check below scans the table.
        if dialect.driver == "pysqlite":
            source = ("SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
                      "json_extract(value, '$[3]') FROM json_each(?) WHERE true")  # WHERE: see SQLite's upsert docs
            params: tuple[Any, ...] = (_dumps(rows),)
        else:
            source = "SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[])"
            params = tuple(map(list, zip(*rows)))
        totals = conn.exec_driver_sql(
            f"INSERT INTO stock (sku, bin_code, status, qty) {source} ON CONFLICT (sku, bin_code, status) "
            "DO UPDATE SET qty = stock.qty + excluded.qty RETURNING sku, bin_code, status, qty", params).all()
    else:
        statement = (postgresql if dialect.name == "postgresql" else sqlite).insert(t.stock)
        statement = statement.on_conflict_do_update(index_elements=["sku", "bin_code", "status"],
                                                    set_={"qty": t.stock.c.qty + statement.excluded.qty})
        totals = [conn.execute(statement.values(sku=sku, bin_code=b, status=status, qty=d)
                               .returning(*t.stock.c)).one() for sku, b, status, d in rows]
    if any(qty < 0 for *_, qty in totals):
        raise RuntimeError("stock would go negative: the applied movements are inconsistent")
    emptied = [{"s": sku, "b": b, "st": status} for sku, b, status, qty in totals if qty == 0]
    if emptied:
        c = t.stock.c
        conn.execute(t.stock.delete().where(c.sku == bindparam("s"), c.bin_code == bindparam("b"),
                                            c.status == bindparam("st")), emptied)


# The units columns that hold a ReturnUnit field under the same name (condition_codes is JSON).
_UNIT_FIELDS = ("lpn", "sku", "rma_id", "line_no", "serial", "lot", "expiry", "reason_code", "state", "held_from",
                "bin_code", "grade", "disposition")
_UNIT_COLUMNS_OF_MODEL = (*_UNIT_FIELDS, "condition_codes")
_AUDIT_BLANK = {c.name: None for c in t.audit.c if c.name != "audit_id"}


_BULK_DRIVERS = ("pysqlite", "psycopg")


class _RowInsert:
    """INSERT of many rows given as tuples in `columns` order: one DBAPI executemany on SQLite,
    one COPY on PostgreSQL (psycopg), SQLAlchemy's own insert on any other driver.

    SQLAlchemy's executemany of dicts spends more per row preparing parameters than SQLite spends
    inserting it. Here the statement is written once per dialect and the rows arrive as the driver
    takes them: JSON columns as the text the caller serialised, and each column in `converted`
    through `param(dialect, column)`, the column type's own bind processor (or a faster equivalent
    checked against it). What is stored is what SQLAlchemy would store. A StrEnum member goes as
    it is: both drivers send its text, and reading `.value` costs more than that.
    """

    def __init__(self, table: Table, columns: tuple[str, ...], converted: tuple[str, ...] = ()) -> None:
        self.table, self.columns, self.converted = table, columns, converted
        self._json = [isinstance(table.c[c].type, JSON) for c in columns]
        self._sql: dict[Any, str | None] = {}
        self._params: dict[tuple[Any, str], Any] = {}

    def param(self, dialect: Dialect, column: str) -> Any:
        """The function that turns a value of `column` into what the driver takes on `dialect`."""
        found = self._params.get((dialect, column))
        if found is None:
            if dialect.driver not in _BULK_DRIVERS:  # SQLAlchemy's insert converts the values itself
                found = _same
            else:
                type_ = self.table.c[column].type
                slow = type_.dialect_impl(dialect).bind_processor(dialect) or _same
                found = _fast_param(type_, dialect, slow)
            self._params[(dialect, column)] = found
        return found

    def _prepare(self, dialect: Dialect) -> str | None:
        if dialect.driver not in _BULK_DRIVERS:
            return None
        cols: list[Column] = [self.table.c[c] for c in self.columns]
        for c, is_json in zip(cols, self._json):
            if (not is_json and c.name not in self.converted
                    and c.type.dialect_impl(dialect).bind_processor(dialect) is not None):
                raise TypeError(f"{self.table.name}.{c.name} converts its values on {dialect.name}: "
                                "list it in `converted` and build its values with param()")
        quote = dialect.identifier_preparer.quote
        into = f"{quote(self.table.name)} ({', '.join(quote(c.name) for c in cols)})"
        if dialect.driver == "psycopg":
            # COPY: PostgreSQL parses each value from text as its column's type (the JSON text too)
            # and spends a fraction of what one INSERT per row costs it.
            return f"COPY {into} FROM STDIN"
        return f"INSERT INTO {into} VALUES ({', '.join('?' * len(cols))})"

    def __call__(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        dialect = conn.dialect
        if dialect not in self._sql:
            self._sql[dialect] = self._prepare(dialect)
        sql = self._sql[dialect]
        if sql is None:  # a driver this was not written for: SQLAlchemy's own path (param() left values as they were)
            conn.execute(insert(self.table), [
                {c: json.loads(v) if is_json and v is not None else v for c, is_json, v in zip(self.columns, self._json, r)}
                for r in rows])
            return
        if dialect.driver == "psycopg":
            # The same connection, so the same transaction as everything else the push writes.
            with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        conn.exec_driver_sql(sql, rows)


def _fast_param(type_: Any, dialect: Dialect, slow: Any) -> Any:
    """On SQLite a UtcDateTime becomes text through two processors (UTC conversion, then the
    DATETIME format): the same text from one isoformat call, used only if it agrees with them."""
    if dialect.driver != "pysqlite" or not isinstance(type_, t.UtcDateTime):
        return slow

    def fast(value: Any) -> Any:
        if type(value) is dt.datetime:
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC)
            text = value.isoformat()  # no arguments: the quickest form; no fraction when microsecond is 0
            return f"{text[:10]} {text[11:26]}" if value.microsecond else f"{text[:10]} {text[11:19]}.000000"
        return slow(value)

    samples = [dt.datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
               dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC), dt.datetime(987, 6, 5, 4, 3, 2, 1),
               dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))]
    return fast if all(fast(v) == slow(v) for v in samples) else slow


_EVENT_INSERT = _RowInsert(t.events, (
    "event_id", "device_id", "device_seq", "type", "hlc", "actor", "role", "occurred_at", "received_at",
    "schema_version", "base_version", "payload", "outcome", "rule", "exception_id", "reason"),
    converted=("occurred_at", "received_at"))
_UNIT_INSERT = _RowInsert(t.units, (*_UNIT_FIELDS, "condition_codes", "version", "received_device", "received_at",
                                    "reclassified_at", "stored_at"),
                          converted=("received_at", "reclassified_at", "stored_at"))
_CHANGE_INSERT = _RowInsert(t.changes, ("device_id", "site_id", "kind", "key", "body"))


def _same(value: Any) -> Any:
    return value


def _one_of(dialect: Dialect, column: Column, values: list[str]) -> ColumnElement[bool]:
    """`column IN values` with the values in one bound parameter, so a batch's hundreds of ids
    compile and bind like one (SQLAlchemy renders an IN list parameter by parameter)."""
    if dialect.name == "sqlite":
        return column.in_(select(literal_column("value")).select_from(func.json_each(_dumps(values))))
    if dialect.name == "postgresql":
        # Not `column = ANY(:values)`: psycopg prepares a statement run five times, and while a growing
        # table has no statistics yet PostgreSQL's generic plan for that scans the whole table,
        # comparing each row with every value (up to 60 ms a push in bench/ingest.py). The semi-join
        # on unnest is planned as an index lookup per value.
        return column.in_(select(func.unnest(bindparam(None, values, type_=postgresql.ARRAY(String)))))
    return column.in_(values)


def _dumps(value: Any) -> str:
    """JSON text for a JSON column; orjson, or the standard library for what orjson refuses (huge ints)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _dumps_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


_BIN_FIELDS: dict[type, tuple[str, ...]] = {}
_HAS_FIELD: dict[tuple[type, str], bool] = {}


def _optional(payload: Any, name: str) -> Any:
    """getattr(payload, name, None) without pydantic's slow path for a missing attribute."""
    key = (type(payload), name)
    has = _HAS_FIELD.get(key)
    if has is None:
        has = _HAS_FIELD[key] = name in type(payload).model_fields
    return getattr(payload, name) if has else None


def _bins_named(event: Event) -> list[str]:
    payload = event.payload
    names = _BIN_FIELDS.get(type(payload))
    if names is None:
        names = _BIN_FIELDS[type(payload)] = tuple(
            n for n in ("bin_code", "move_contents_to") if n in type(payload).model_fields)
    return [code for n in names if (code := getattr(payload, n))]


def _already_reflects(unit: ReturnUnit, payload: Any) -> bool:
    """Whether the unit already is what this step would make it: the same physical step recorded by
    two devices (the second one refused by the state machine) is one fact, merged."""
    match payload:
        case UnitStored(bin_code=code) | UnitMoved(bin_code=code):
            return unit.state in (UnitState.STORED, UnitState.QUARANTINED) and unit.bin_code == code
        case ReceiptVoided():
            return unit.state is UnitState.VOIDED
        case DispositionReopened():
            return unit.state is UnitState.GRADED and unit.disposition is None
        case UnitQuarantined():
            return unit.state is UnitState.QUARANTINED
        case InspectionRecorded(inspection=inspection):
            return unit.state is UnitState.INSPECTED and unit.condition_codes == inspection.condition_codes
    return False


def _decision_of(event: Event) -> tuple[str, Any] | None:
    if isinstance(event.payload, UnitGraded | UnitRegraded):
        return "grade", event.payload.grade
    if isinstance(event.payload, DispositionDecided):
        return "disposition", event.payload.decision.disposition
    return None


def _server_action(engine: Engine, supervisor: Actor, received_at: dt.datetime, action: str,
                   detail: dict[str, Any], apply: Any) -> _Batch:
    """Run a supervisor's action on the server in one transaction, audited and published to devices."""
    with _transaction(engine) as conn:
        feed.lock_feed(conn)
        batch = _Batch(conn, Device(device_id="", site_id=""), received_at, 0)
        apply(batch)
        batch.audit_rows.append({"rule": action, "actor": supervisor.user_id, "received_at": received_at,
                                 "detail": detail})
        batch.flush(conn)
    return batch


def resolve_by_supervisor(engine: Engine, supervisor: Actor, exception_id: str, *, grade: Grade | None,
                          disposition: Disposition | None, note: str, received_at: dt.datetime) -> dict[str, Any]:
    """A supervisor resolves an exception; a disputed unit resumes with the chosen decision."""
    # build(): a field the request let through but the event refuses is a 422, not a 500.
    payload = build(ExceptionResolved, exception_id=exception_id, grade=grade, disposition=disposition, note=note)
    found: dict[str, Any] = {}

    def apply(batch: _Batch) -> None:
        row = batch.conn.execute(select(t.exceptions).where(t.exceptions.c.exception_id == exception_id)).first()
        if row is None:
            raise UnknownEntity("exception", exception_id)
        if row.status != "open":
            raise InvalidInput(f"exception {exception_id} is already resolved")
        unit = batch.unit(row.lpn) if row.lpn else None
        code = unit.bin_code if unit is not None else row.bin_code
        where = batch.bin(code) if code else None
        batch.site_id = where.site_id if where is not None else None  # None: every site
        if resolution_resumes(row.kind, unit, grade=grade, disposition=disposition):  # refuses what it cannot apply
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
        batch.site_id = batch.bin(unit.bin_code).site_id  # only that site's devices need it
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
            if row.site_id != batch.bin(payload.bin_code).site_id:
                raise InvalidInput(f"{code} is at site {row.site_id}, not where {payload.bin_code} is")
        batch.site_id = batch.bin(payload.bin_code).site_id  # only that site's devices need it
        batch._reassign(None, payload)

    _server_action(engine, supervisor, received_at, "supervisor_reassignment", payload.model_dump(mode="json"), apply)
