"""Sync under random work, faults and restarts, checked against DESIGN.md's invariants 1 to 5.

Three devices work on shared units and bins while the network drops, cuts and fails requests
and the central API restarts. After quiescence: every committed event is applied on the server
exactly once and in device_seq order, every device's view of every unit and bin equals the
server's, and every conflict was resolved by a named rule in the audit trail or sits in the
exception queue. RETURNFLOW_SYNC_EXAMPLES=2000 runs a long search.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from sqlalchemy import func, select

from domain import Disposition, DomainError, Grade, UnitState
from domain.demo import demo_catalogue
from erp import tables as t
from erp.masterdata import load_catalogue
from erp.storage import open_database
from sync.engine import SyncFailed
from tests.conftest import ASSOCIATE, NOW, SUPERVISOR
from tests.faults import Fault, FaultProxy
from tests.sync.conftest import ApiServer, Handheld
from tests.sync.workflow import bin_for, inspect, receive, suggested

DEVICES = ("dev-a", "dev-b", "dev-c")
UNIT_FIELDS = ("state", "bin_code", "grade", "disposition", "sku", "rma_id", "line_no", "reason_code", "held_from")
QUARANTINE_BINS = ("BIN-QUA-Q01", "BIN-QUA-Q02")
FAULTS = (Fault.DROP_REQUEST, Fault.DROP_RESPONSE, Fault.CUT_RESPONSE, Fault.ERROR_5XX, Fault.ERROR_5XX_AFTER)
SUPERVISOR_AUTH = ("sam", "1357")
CATALOGUE = demo_catalogue(now=NOW)


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        root = Path(self.dir.name)
        self.erp = open_database(f"sqlite:///{root / 'erp.db'}")
        with self.erp.begin() as conn:
            load_catalogue(conn, CATALOGUE)
        self.api = ApiServer(self.erp).start()
        self.proxy = FaultProxy(self.api.port, seed=0).start()
        self.devices = {d: Handheld(root / f"{d}.db", d, self.proxy.url, self.api.provision(d), batch_size=7,
                                    page_size=50, timeout=httpx.Timeout(5.0))
                        for d in DEVICES}

    @initialize()
    def first_sync(self) -> None:
        for device in self.devices.values():
            device.sync()

    # --- work on the devices, offline or not ----------------------------------------------

    def _unit(self, device: Handheld, index: int) -> str | None:
        lpns = [r[0] for r in device.store.db.execute("SELECT lpn FROM units ORDER BY lpn")]
        return lpns[index % len(lpns)] if lpns else None

    @rule(device=st.sampled_from(DEVICES), number=st.integers(1, 8), line=st.integers(0, 2))
    def receive(self, device: str, number: int, line: int) -> None:
        # A small pool of license plates: two devices receiving the same one is a merge or a conflict.
        try:
            receive(self.devices[device].store, number, line)
        except DomainError:
            pass

    @rule(device=st.sampled_from(DEVICES), index=st.integers(0, 20),
          step=st.sampled_from(["inspect", "grade_a", "grade_d", "suggested", "quarantine", "store", "hold",
                                "release", "void", "regrade", "reopen", "move"]))
    def work(self, device: str, index: int, step: str) -> None:
        store = self.devices[device].store
        lpn = self._unit(self.devices[device], index)
        if lpn is None:
            return
        try:
            match step:
                case "inspect":
                    inspect(store, lpn)
                case "grade_a" | "grade_d":
                    store.grade(ASSOCIATE, lpn=lpn, grade=Grade.A if step == "grade_a" else Grade.D)
                case "suggested" if store.unit(lpn).grade is not None:
                    store.decide_disposition(ASSOCIATE, lpn=lpn, disposition=suggested(store, lpn))
                case "quarantine":
                    store.decide_disposition(ASSOCIATE, lpn=lpn, disposition=Disposition.QUARANTINE)
                case "store":
                    unit = store.unit(lpn)
                    target = QUARANTINE_BINS[index % 2] if unit.state is UnitState.QUARANTINED else (
                        bin_for(store, unit.disposition) if unit.disposition else "BIN-RST-R01")
                    store.store(ASSOCIATE, lpn=lpn, bin_code=target)
                case "hold":
                    store.quarantine(ASSOCIATE, lpn=lpn, reason="seal broken")
                case "release":
                    store.release(SUPERVISOR, lpn=lpn, note="checked")
                # Corrections of the last step; a voided LPN is received again by the receive rule.
                case "void":
                    store.void_receipt(ASSOCIATE, lpn=lpn, reason="double scan")
                case "regrade" if store.unit(lpn).grade is not None:
                    store.regrade(ASSOCIATE, lpn=lpn, grade=Grade.C if store.unit(lpn).grade is Grade.A else Grade.A,
                                  reason="second look")
                case "reopen":
                    store.reopen_disposition(ASSOCIATE, lpn=lpn, reason="wrong button")
                case "move":
                    unit = store.unit(lpn)
                    target = QUARANTINE_BINS[(index + 1) % 2] if unit.state is UnitState.QUARANTINED else (
                        bin_for(store, unit.disposition) if unit.disposition else "BIN-RST-R01")
                    store.move(ASSOCIATE, lpn=lpn, bin_code=target if target != unit.bin_code else "BIN-RST-R02")
        except DomainError:
            pass  # refused on the device: nothing written

    @rule(device=st.sampled_from(DEVICES), bin_index=st.integers(0, 1), move=st.booleans(), zone=st.sampled_from("QZ"))
    def reassign_bin(self, device: str, bin_index: int, move: bool, zone: str) -> None:
        code, other = QUARANTINE_BINS[bin_index], QUARANTINE_BINS[1 - bin_index]
        self.devices[device].store.reassign_bin(SUPERVISOR, bin_code=code, purpose=f"hold zone {zone}", zone=zone,
                                                owner="sam", move_contents_to=other if move else None)

    # --- the network and the server -------------------------------------------------------

    @rule(device=st.sampled_from(DEVICES))
    def sync(self, device: str) -> None:
        try:
            self.devices[device].sync()
        except SyncFailed:
            pass  # retried by a later sync: nothing may be lost meanwhile

    @rule(rates=st.dictionaries(st.sampled_from(FAULTS), st.floats(0.0, 0.12), max_size=3))
    def set_faults(self, rates: dict[Fault, float]) -> None:
        self.proxy.set_faults(rates)

    @rule()
    def restart_api(self) -> None:
        self.api.stop()
        self.api.start()

    @precondition(lambda self: self._open_exceptions())
    @rule(index=st.integers(0, 20), grade=st.sampled_from([Grade.A, Grade.C]))
    def supervisor_resolves(self, index: int, grade: Grade) -> None:
        exceptions = self._open_exceptions()
        exception_id, kind = exceptions[index % len(exceptions)]
        body = {"note": "decided at the office"} | ({"grade": grade.value} if kind == "dispute" else {})
        response = httpx.post(f"{self.api.url}/api/v1/exceptions/{exception_id}/resolve", json=body,
                              auth=SUPERVISOR_AUTH, timeout=10)
        assert response.status_code < 500, response.text

    def _open_exceptions(self) -> list[tuple[str, str]]:
        with self.erp.connect() as conn:
            return [tuple(r) for r in conn.execute(select(t.exceptions.c.exception_id, t.exceptions.c.kind)
                                                   .where(t.exceptions.c.status == "open")
                                                   .order_by(t.exceptions.c.exception_id))]

    # --- quiescence and the invariants ----------------------------------------------------

    def teardown(self) -> None:
        try:
            self.proxy.set_faults({})
            for _ in range(2):  # the second round pulls what the others pushed in the first
                for device in self.devices.values():
                    device.sync()
            self.check_quiescent_state()
        finally:
            for device in self.devices.values():
                device.close()
            self.proxy.stop()
            self.api.stop()
            self.erp.dispose()
            self.dir.cleanup()

    def check_quiescent_state(self) -> None:
        with self.erp.connect() as conn:
            server_units = {r.lpn: r for r in conn.execute(select(t.units))}
            server_bins = {r.code: r for r in conn.execute(select(t.bins))}
            ledger = dict(conn.execute(select(t.ledger.c.device_id, t.ledger.c.last_seq)).all())
            audited = {r[0] for r in conn.execute(select(t.audit.c.event_id).where(t.audit.c.event_id.is_not(None)))}
            negative_stock = conn.execute(select(func.count()).where(t.stock.c.qty < 0)).scalar_one()
            server_events = {d: conn.execute(
                select(t.events.c.device_seq, t.events.c.event_id, t.events.c.outcome, t.events.c.rule,
                       t.events.c.exception_id, t.events.c.received_at)
                .where(t.events.c.device_id == d).order_by(t.events.c.device_seq)).all() for d in DEVICES}
        assert negative_stock == 0
        for device_id, device in self.devices.items():
            store = device.store
            log = [(e.device_seq, str(e.event_id)) for e in store.events()]
            applied = server_events[device_id]
            # 1 exactly once, 2 in order: the server holds the device's log, each event once, no gap
            assert [(r.device_seq, r.event_id) for r in applied] == log
            assert ledger[device_id] == len(log)
            received = [r.received_at for r in applied]
            assert received == sorted(received), "a later event was applied before an earlier one"
            # the outbox is empty and agrees with the server's outcomes
            assert store.sync_counts()["pending"] == 0
            statuses = dict(store.db.execute("SELECT device_seq, status FROM sync_results"))
            for r in applied:
                expected = {"applied": "acknowledged", "conflict": "conflict", "rejected": "rejected"}[r.outcome]
                assert statuses[r.device_seq] == expected, (device_id, r.device_seq, r.outcome)
                # 5 accountability: a conflict names its rule and is audited or queued
                if r.outcome == "conflict":
                    assert r.rule and (r.exception_id or r.event_id in audited)
            # 4 convergence: every unit and every bin as the server has it
            device_units = {r[0] for r in store.db.execute("SELECT lpn FROM units")}
            assert device_units == set(server_units), device_id
            for lpn, row in server_units.items():
                mine = store.unit(lpn).model_dump(mode="json")
                assert {f: mine[f] for f in UNIT_FIELDS} == {f: getattr(row, f) for f in UNIT_FIELDS}, (device_id, lpn)
            for code in QUARANTINE_BINS:
                mine = store.bin(code)
                theirs = server_bins[code]
                assert (mine.purpose, mine.zone, mine.owner) == (theirs.purpose, theirs.zone, theirs.owner), device_id


SyncMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("RETURNFLOW_SYNC_EXAMPLES", "6")),
    stateful_step_count=int(os.environ.get("RETURNFLOW_SYNC_STEPS", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSync = SyncMachine.TestCase
