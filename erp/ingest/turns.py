"""Ordering and write turns of the push path: a device's batch applied exactly once, in device_seq
order, in one transaction; worked out before the write lock where it can be (_plan), and waiting
for the batch ahead of it when it overtook that one."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError

from domain import Event, Payload
from domain.conflicts import ConflictRule, Outcome

from .. import feed
from .. import tables as t
from ..storage import reader
from . import steps
from .batch import WRITE_LOCK_NEEDED, Batch, Device, NeedsWriteLock, Result
from .bulk import EVENT_INSERT, dumps, dumps_bytes, one_of


class PushRefused(Exception):
    """The whole batch is refused and nothing was written (a gap, a reused seq, a bad order)."""

    def __init__(self, error: str, message: str, expected_seq: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.expected_seq = expected_seq


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
        return dumps_bytes({
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
def transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction, in this process's turn and the database's."""
    process_lock, lock_file = _turns(engine)
    with process_lock, _file_turn(lock_file), engine.begin() as conn:
        yield conn


class _ReceivedBeforeLastPush(Exception):
    """The batch was received before the device's last push was, which took its turn first."""


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
        except _ReceivedBeforeLastPush:
            pass  # it came in before the device's batch ahead of it, and its turn came after that one's
        except PushRefused as refused:
            # A device keeps more than one batch on its way, so this one may have overtaken the one
            # before it (taken up by another thread or worker): wait for that one, then try again.
            if refused.error != "gap" or not _predecessor_applied(engine, device.device_id, seqs[0], deadline):
                raise
        # Applied after the batch ahead of it, so received after it too: the server's receipt
        # times follow each device's order.
        received_at = dt.datetime.now(dt.UTC)
        received = EVENT_INSERT.param(engine.dialect, "received_at")(received_at)
        at = EVENT_INSERT.columns.index("received_at")
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
                row = conn.execute(select(t.ledger.c.last_seq, t.ledger.c.last_push_at)
                                   .where(t.ledger.c.device_id == device.device_id).with_for_update()).one()
                if row.last_push_at is not None and row.last_push_at > received_at:
                    raise _ReceivedBeforeLastPush()
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
                    batch = Batch(conn, device, received_at, skew_ms)
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


def _apply_all(batch: Batch, fresh: list[Event], heads: list[tuple[Any, ...]], new_last: int) -> None:
    """Apply the batch's new events and stage their rows, ready for batch.flush()."""
    if fresh:
        # First in the feed for this batch: every change after this marker reflects the device's
        # events through new_last, so the device knows which of its own events to re-apply on top.
        batch.publish(batch.device.device_id, "ack", batch.device.device_id, {"last_seq": new_last})
    batch.prefetch(fresh)
    for event, head in zip(fresh, heads):
        steps.apply(batch, event, head)
    batch.stage()


def _plan(engine: Engine, device: Device, events: list[Event], heads: list[tuple[Any, ...]],
          received_at: dt.datetime, skew_ms: int) -> Batch | None:
    """The batch applied to a read snapshot, without the write lock, so other pushes write meanwhile.
    Under the lock it is used only if it is the batch's turn and every read it made still gives the
    same rows (Batch.still_holds). None when the device has no ledger or the snapshot already holds
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
        batch = Batch(WRITE_LOCK_NEEDED, device, received_at, skew_ms, source=conn)
        try:
            _apply_all(batch, events, heads, events[-1].device_seq)
        except NeedsWriteLock:
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
    """Each event's row without its result (the first 12 of EVENT_INSERT's columns), as the driver
    takes it. Built before the write lock is taken, so other pushes apply and commit meanwhile."""
    occurred = EVENT_INSERT.param(dialect, "occurred_at")
    received = EVENT_INSERT.param(dialect, "received_at")(received_at)
    # All payloads in one call, then orjson: the same JSON as model_dump_json() per payload, at a third of its cost.
    payloads = _PAYLOADS.dump_python([e.payload for e in events], mode="json")
    return [(str(e.event_id), e.device_id, e.device_seq, e.type, e.hlc, e.actor, e.role,
             occurred(e.occurred_at), received, e.schema_version, e.base_version, dumps(payload))
            for e, payload in zip(events, payloads)]


_PAYLOADS = TypeAdapter(list[Payload])


def _refuse_taken_ids(conn: Connection, ids: list[str]) -> None:
    if not ids:
        return
    taken = conn.execute(select(t.events.c.event_id, t.events.c.device_id)
                         .where(one_of(conn.dialect, t.events.c.event_id, ids)).limit(1)).first()
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
