"""Child process of test_crash_safety: issues device-store commands on a file database until killed.

Run as `python -m tests.reliability.crash_worker DB SEED` from the project root. It says what it
does on stdout, one line per os.write, so a line is in the pipe before the next command starts:

    opening                               imports done, about to open the database
    ready <max device_seq>                database open, commands start
    ok <device_seq> <event_id> <type>     a command returned: its event is committed
    refused <error class>                 a command meant to be refused was refused

A command meant to succeed that fails, or one meant to be refused that succeeds, ends the process
with a traceback on stderr: the parent treats any exit before its SIGKILL as a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import time
from collections.abc import Callable

from domain import (
    BIN_TYPE_FOR_DISPOSITION,
    PROCESSING_BIN_TYPES,
    RECEIVABLE_RMA_STATES,
    Actor,
    BinType,
    Disposition,
    Event,
    Grade,
    ReturnflowError,
    ReturnUnit,
    Role,
    UnitState,
    suggest,
)
from domain.demo import DEMO_PINS
from domain.labels import lpn as lpn_label
from local_db import DeviceStore

ASSOCIATE = Actor(user_id="alex", role=Role.ASSOCIATE)
SUPERVISOR = Actor(user_id="sam", role=Role.SUPERVISOR)
GRADES = (Grade.A,) * 4 + (Grade.B,) * 3 + (Grade.C, Grade.C, Grade.D, Grade.X)


def say(line: str) -> None:
    os.write(sys.stdout.fileno(), f"{line}\n".encode())


class NotRefused(Exception):
    """A command meant to be refused was accepted: the store wrote an event it should not have."""


class Worker:
    """An associate (and now and then a supervisor) working through units; the state comes from the file."""

    def __init__(self, store: DeviceStore, rng: random.Random) -> None:
        self.store = store
        self.rng = rng
        conn = store.db.conn
        self.items = {sku: (category, bool(serial), bool(lot)) for sku, category, serial, lot in conn.execute(
            "SELECT sku, category, serial_tracked, lot_tracked FROM items ORDER BY sku")}
        self.skus = sorted(self.items)
        self.checklists = {code: [q["question_id"] for q in json.loads(body)]
                           for code, body in conn.execute("SELECT code, checklist FROM categories")}
        receivable = tuple(s.value for s in RECEIVABLE_RMA_STATES)
        self.rma_lines = conn.execute(
            f"""SELECT l.rma_id, l.line_no, l.sku FROM rma_lines l JOIN rmas r USING (rma_id)
                WHERE r.state IN ({', '.join('?' * len(receivable))}) ORDER BY l.rma_id, l.line_no""",
            receivable,
        ).fetchall()
        self.reasons = [r[0] for r in conn.execute("SELECT code FROM reason_codes ORDER BY code")]
        self.conditions = [r[0] for r in conn.execute("SELECT code FROM condition_codes ORDER BY code")]
        self.bins: dict[BinType, list[str]] = {}
        for code, bin_type in conn.execute("SELECT code, type FROM bins ORDER BY code"):
            self.bins.setdefault(BinType(bin_type), []).append(code)
        lpns = [r[0] for r in conn.execute("SELECT lpn FROM units")]
        self.next_lpn = 1 + max((int(lpn[4:13]) for lpn in lpns), default=0)
        self.open_lpns = [r[0] for r in conn.execute(
            "SELECT lpn FROM units WHERE state NOT IN ('stored', 'closed') ORDER BY lpn")]

    def step(self) -> tuple[Event | None, str | None]:
        """One command: (its event, None) when it succeeded, (None, error class) when refused as meant."""
        roll = self.rng.random()
        if len(self.open_lpns) < 4 or roll < 0.2:
            return self.receive(), None
        if roll < 0.27:
            return None, self.refused()
        if roll < 0.29:
            return self.count_bin(), None
        if roll < 0.30:
            return self.reassign_quarantine_bin(), None
        return self.advance(self.store.unit(self.rng.choice(self.open_lpns))), None

    def receive(self) -> Event:
        rng, number = self.rng, self.next_lpn
        if self.rma_lines and rng.random() < 0.6:
            rma_id, line_no, sku = rng.choice(self.rma_lines)
            against: dict[str, object] = {"rma_id": rma_id, "line_no": line_no}
        else:
            sku = rng.choice(self.skus)
            against = {"reason_code": rng.choice(self.reasons), "package_ref": f"PKG-{number}"}
        _, serial_tracked, lot_tracked = self.items[sku]
        event = self.store.receive(
            ASSOCIATE,
            lpn=lpn_label(number),
            sku=sku,
            bin_code=rng.choice(self.bins[rng.choice(sorted(PROCESSING_BIN_TYPES))]),
            serial=f"SN{number:09d}" if serial_tracked else None,
            lot=f"LOT{rng.randrange(1000):03d}" if lot_tracked else None,
            expiry=dt.date(2027, 1, 1) + dt.timedelta(days=rng.randrange(365)) if lot_tracked else None,
            **against,
        )
        self.next_lpn += 1
        self.open_lpns.append(event.payload.lpn)
        return event

    def advance(self, unit: ReturnUnit) -> Event:
        """The unit's next step, or now and then a quarantine hold before it is stored."""
        rng, store, lpn = self.rng, self.store, unit.lpn
        if unit.state is not UnitState.QUARANTINED and rng.random() < 0.06:
            return store.quarantine(ASSOCIATE, lpn=lpn, reason="suspected fraud: serial label tampered")
        match unit.state:
            case UnitState.RECEIVED:
                checklist = self.checklists[self.items[unit.sku][0]]
                return store.inspect(
                    ASSOCIATE,
                    lpn=lpn,
                    answers={q: rng.random() < 0.8 for q in checklist},
                    condition_codes=rng.sample(self.conditions, rng.choice((0, 1, 1, 2))),
                    notes=rng.choice(("", "box crushed on one corner", "customer note inside")),
                )
            case UnitState.INSPECTED:
                return store.grade(ASSOCIATE, lpn=lpn, grade=rng.choice(GRADES))
            case UnitState.GRADED:
                return self.decide(unit)
            case UnitState.DISPOSITIONED:
                assert unit.disposition is not None
                event = store.store(ASSOCIATE, lpn=lpn,
                                    bin_code=rng.choice(self.bins[BIN_TYPE_FOR_DISPOSITION[unit.disposition]]))
                self.open_lpns.remove(lpn)
                return event
            case UnitState.QUARANTINED:
                if store.bin(unit.bin_code).type is not BinType.QUARANTINE and rng.random() < 0.6:
                    return store.store(ASSOCIATE, lpn=lpn, bin_code=rng.choice(self.bins[BinType.QUARANTINE]))
                return store.release(SUPERVISOR, lpn=lpn, note="checked with the carrier: release")
        raise AssertionError(f"the worker has no step for unit {lpn} in state {unit.state}")

    def decide(self, unit: ReturnUnit) -> Event:
        assert unit.grade is not None
        rule = suggest(self.store.rules(), category=self.items[unit.sku][0], grade=unit.grade,
                       reason_code=unit.reason_code, condition_codes=unit.condition_codes)
        # A unit already released from a quarantine decision gets another disposition, so that it moves on.
        released = rule.disposition is Disposition.QUARANTINE and unit.disposition is Disposition.QUARANTINE
        if not released and self.rng.random() >= 0.08:
            return self.store.decide_disposition(ASSOCIATE, lpn=unit.lpn, disposition=rule.disposition)
        chosen = self.rng.choice([d for d in Disposition if d not in (rule.disposition, Disposition.QUARANTINE)])
        approval = {"approver_id": "sam", "approver_pin": DEMO_PINS["sam"]} if rule.override_needs_approval else {}
        return self.store.decide_disposition(ASSOCIATE, lpn=unit.lpn, disposition=chosen,
                                             override_reason="supervisor walked the floor and agreed", **approval)

    def refusal(self) -> Callable[[], Event]:
        """A command the store must refuse, on one of the open units, not yet run."""
        rng, store = self.rng, self.store
        unit = store.unit(rng.choice(self.open_lpns))
        attempts: list[Callable[[], Event]] = [
            lambda: store.store(ASSOCIATE, lpn=unit.lpn, bin_code=rng.choice(self.bins[BinType.DOCK])),
            lambda: store.receive(ASSOCIATE, lpn=unit.lpn, sku=unit.sku, bin_code=self.bins[BinType.DOCK][0],
                                  reason_code="unknown"),
            lambda: store.release(ASSOCIATE, lpn=unit.lpn, note="an associate may not release"),
        ]
        if unit.state is not UnitState.INSPECTED:
            attempts.append(lambda: store.grade(ASSOCIATE, lpn=unit.lpn, grade=Grade.A))
        return rng.choice(attempts)

    def refused(self) -> str:
        """A command the store must refuse; returns the error's class name."""
        try:
            event = self.refusal()()
        except ReturnflowError as exc:
            return type(exc).__name__
        raise NotRefused(f"the store accepted a command it must refuse: event {event.device_seq} {event.type}")

    def count_bin(self) -> Event:
        code = self.store.unit(self.rng.choice(self.open_lpns)).bin_code
        counts = dict(self.store.db.conn.execute(
            "SELECT sku, COUNT(*) FROM units WHERE bin_code = ? GROUP BY sku ORDER BY sku", (code,)))
        if self.rng.random() < 0.3:  # a miscount is still a fact to record
            sku = self.rng.choice(sorted(counts))
            counts[sku] -= 1
        return self.store.count_bin(SUPERVISOR, bin_code=code, counts=counts)

    def reassign_quarantine_bin(self) -> Event:
        source, target = self.rng.sample(self.bins[BinType.QUARANTINE], 2)
        return self.store.reassign_bin(SUPERVISOR, bin_code=source, purpose="hazmat review", zone="Q", owner="sam",
                                       move_contents_to=target if self.rng.random() < 0.5 else None)


def main(db_path: str, seed: int) -> None:
    rng = random.Random(seed)
    say("opening")
    store = DeviceStore.open(db_path)
    worker = Worker(store, rng)
    say(f"ready {store.db.conn.execute('SELECT COALESCE(MAX(device_seq), 0) FROM events').fetchone()[0]}")
    while True:
        event, refused = worker.step()
        say(f"ok {event.device_seq} {event.event_id} {event.type.value}" if event else f"refused {refused}")
        if rng.random() < 0.5:  # an associate between scans: kills land while idle as well as mid-command
            time.sleep(rng.uniform(0, 0.004))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
