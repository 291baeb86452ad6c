"""Property: any sequence of commands, refused ones included, leaves the projections equal to a
from-scratch replay of the event log, with device_seq gap-free and nothing half-written.

RETURNFLOW_PROPERTY_EXAMPLES raises the number of generated command sequences (default 40).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import tempfile
from functools import partial
from pathlib import Path

import sqlite_utils
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule

from domain import Disposition, DomainError, Grade, UnitState, suggest
from domain.demo import demo_catalogue
from domain.evolve import required_bin_type
from domain.labels import lpn
from local_db import DeviceStore, Environment
from local_db.projection import PROJECTION_TABLES
from tests.conftest import ASSOCIATE, NOW, SUPERVISOR, open_device, snapshot

CATALOGUE = demo_catalogue(now=NOW)
ITEMS = [i for i in CATALOGUE.items[:24]]
BINS = [b.code for b in CATALOGUE.bins if b.code.endswith(("01", "02"))]
QUARANTINE_BINS = [b.code for b in CATALOGUE.bins if b.type.value == "quarantine"]
CONDITIONS = [c.code for c in CATALOGUE.condition_codes] + ["melted"]
ACTORS = st.sampled_from([ASSOCIATE, SUPERVISOR])
APPROVERS = st.sampled_from([None, ("sam", "1357"), ("sam", "0000"), ("alex", "2468")])
CHECKLISTS = {c.code: [q.question_id for q in c.checklist] for c in CATALOGUE.categories}
ITEM_BY_SKU = {i.sku: i for i in CATALOGUE.items}
DOCK_BINS = {b.code for b in CATALOGUE.bins if b.type.value in ("dock", "inspection")}


class DeviceCommands(RuleBasedStateMachine):
    units = Bundle("units")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="returnflow-prop-")
        self.store = open_device(Path(self.dir) / "device.db", CATALOGUE)
        self.committed = 0
        self.next_lpn = 1

    def _run(self, command) -> bool:
        """Run a command; a refusal must be a typed domain error, anything else fails the property."""
        try:
            command()
        except DomainError:
            return False
        self.committed += 1
        return True

    @rule(target=units, data=st.data(), against_rma=st.booleans(), give_ids=st.booleans(),
          bin_code=st.sampled_from(["BIN-DCK-A01", "BIN-DCK-A01", "BIN-INS-B01", "BIN-RST-R01"]))
    def receive(self, data, against_rma, give_ids, bin_code):
        code = lpn(self.next_lpn)
        self.next_lpn += 1
        if against_rma:
            rma = data.draw(st.sampled_from(CATALOGUE.rmas))
            line = data.draw(st.sampled_from(rma.lines))
            sku = data.draw(st.sampled_from([line.sku, line.sku, line.sku, ITEMS[0].sku]))
            target = dict(rma_id=rma.rma_id, line_no=data.draw(st.sampled_from([None, line.line_no, line.line_no, 9])))
        else:
            sku = data.draw(st.sampled_from(ITEMS)).sku
            target = dict(reason_code=data.draw(st.sampled_from(["defective", "size_fit", "damaged_in_transit", "bored"])))
        item = ITEM_BY_SKU[sku]
        ids = dict(serial=f"SN{self.next_lpn}" if give_ids and item.serial_tracked else None,
                   lot="L1" if give_ids and item.lot_tracked else None,
                   expiry=dt.date(2027, 1, 1) if give_ids and item.lot_tracked else None)
        ok = self._run(lambda: self.store.receive(ASSOCIATE, lpn=code, sku=sku, bin_code=bin_code, **target, **ids))
        return code if ok else multiple()

    @rule(code=units, data=st.data())
    def next_step(self, code, data):
        """The right next command for the unit, so that sequences also reach the deep states."""
        unit = self.store.unit(code)
        if unit.state is UnitState.RECEIVED:
            answers = {q: True for q in CHECKLISTS[ITEM_BY_SKU[unit.sku].category]}
            conditions = data.draw(st.lists(st.sampled_from(CONDITIONS[:-1]), max_size=2, unique=True))
            command = partial(self.store.inspect, ASSOCIATE, lpn=code, answers=answers, condition_codes=conditions)
        elif unit.state is UnitState.INSPECTED:
            command = partial(self.store.grade, ASSOCIATE, lpn=code, grade=data.draw(st.sampled_from(Grade)))
        elif unit.state is UnitState.GRADED:
            rule = suggest(self.store.rules(), category=ITEM_BY_SKU[unit.sku].category, grade=unit.grade,
                           reason_code=unit.reason_code, condition_codes=unit.condition_codes)
            chosen = data.draw(st.sampled_from([rule.disposition, rule.disposition, Disposition.LIQUIDATE]))
            command = partial(self.store.decide_disposition, ASSOCIATE, lpn=code, disposition=chosen,
                              override_reason="supervisor agreed", approver_id="sam", approver_pin="1357")
        elif unit.state in (UnitState.DISPOSITIONED, UnitState.QUARANTINED) and unit.bin_code in DOCK_BINS:
            bins = [b.code for b in CATALOGUE.bins if b.type is required_bin_type(unit)]
            command = partial(self.store.store, ASSOCIATE, lpn=code, bin_code=data.draw(st.sampled_from(bins)))
        elif unit.state is UnitState.QUARANTINED:
            command = partial(self.store.release, SUPERVISOR, lpn=code, note="cleared")
        else:
            return
        assert self._run(command), f"the right next step for {unit} was refused"

    @rule(code=units, complete=st.booleans(), conditions=st.lists(st.sampled_from(CONDITIONS), max_size=2, unique=True))
    def inspect(self, code, complete, conditions):
        questions = CHECKLISTS[ITEM_BY_SKU[self.store.unit(code).sku].category]
        answers = {q: True for q in (questions if complete else questions[:1])}
        self._run(lambda: self.store.inspect(ASSOCIATE, lpn=code, answers=answers, condition_codes=conditions))

    @rule(code=units, grade=st.sampled_from(Grade))
    def grade(self, code, grade):
        self._run(lambda: self.store.grade(ASSOCIATE, lpn=code, grade=grade))

    @rule(code=units, disposition=st.sampled_from(Disposition), reason=st.sampled_from([None, "customer claim"]),
          approver=APPROVERS)
    def decide(self, code, disposition, reason, approver):
        approval = dict(approver_id=approver[0], approver_pin=approver[1]) if approver else {}
        self._run(lambda: self.store.decide_disposition(ASSOCIATE, lpn=code, disposition=disposition,
                                                        override_reason=reason, **approval))

    @rule(code=units, bin_code=st.sampled_from(BINS))
    def store_unit(self, code, bin_code):
        self._run(lambda: self.store.store(ASSOCIATE, lpn=code, bin_code=bin_code))

    @rule(code=units, actor=ACTORS)
    def quarantine(self, code, actor):
        self._run(lambda: self.store.quarantine(actor, lpn=code, reason="held for review"))

    @rule(code=units, actor=ACTORS)
    def release(self, code, actor):
        self._run(lambda: self.store.release(actor, lpn=code, note="checked"))

    # Corrections: each refused outside the states that allow it, like any other step.
    @rule(code=units, reason=st.sampled_from(["", "double scan"]))
    def void_receipt(self, code, reason):
        self._run(lambda: self.store.void_receipt(ASSOCIATE, lpn=code, reason=reason))

    @rule(code=units, data=st.data(), against_rma=st.booleans())
    def receive_a_voided_lpn_again(self, code, data, against_rma):
        if against_rma:
            rma = data.draw(st.sampled_from(CATALOGUE.rmas))
            line = data.draw(st.sampled_from(rma.lines))
            target = dict(sku=line.sku, rma_id=rma.rma_id, line_no=line.line_no)
        else:
            target = dict(sku=data.draw(st.sampled_from(ITEMS)).sku, reason_code="wrong_item")
        item = ITEM_BY_SKU[target["sku"]]
        ids = dict(serial="SN-AGAIN" if item.serial_tracked else None, lot="L2" if item.lot_tracked else None,
                   expiry=dt.date(2027, 1, 1) if item.lot_tracked else None)
        self._run(lambda: self.store.receive(ASSOCIATE, lpn=code, bin_code="BIN-DCK-A02", **target, **ids))

    @rule(code=units, grade=st.sampled_from(Grade))
    def regrade(self, code, grade):
        self._run(lambda: self.store.regrade(ASSOCIATE, lpn=code, grade=grade, reason="second look"))

    @rule(code=units)
    def reopen_disposition(self, code):
        self._run(lambda: self.store.reopen_disposition(ASSOCIATE, lpn=code, reason="wrong button"))

    @rule(code=units, bin_code=st.sampled_from([*BINS, *QUARANTINE_BINS]))
    def move(self, code, bin_code):
        self._run(lambda: self.store.move(ASSOCIATE, lpn=code, bin_code=bin_code))

    @rule(code=units, move_to=st.sampled_from([None, *QUARANTINE_BINS, "BIN-SCR-S01"]), actor=ACTORS)
    def reassign_the_units_bin(self, code, move_to, actor):
        bin_code = self.store.unit(code).bin_code
        self._run(lambda: self.store.reassign_bin(actor, bin_code=bin_code, purpose="review", zone="Q", owner="sam",
                                                  move_contents_to=move_to))

    @rule(code=units, counts=st.dictionaries(st.sampled_from([i.sku for i in ITEMS[:4]]), st.integers(0, 3), max_size=2))
    def count_the_units_bin(self, code, counts):
        bin_code = self.store.unit(code).bin_code
        self._run(lambda: self.store.count_bin(SUPERVISOR, bin_code=bin_code, counts=counts))

    @invariant()
    def log_is_gap_free_and_holds_exactly_the_committed_commands(self):
        seqs = [r[0] for r in self.store.db.execute("SELECT device_seq FROM events ORDER BY device_seq")]
        assert seqs == list(range(1, self.committed + 1))
        assert self.store.db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0] == self.committed

    @invariant()
    def projections_equal_a_replay_of_the_log(self):
        copy = sqlite3.connect(":memory:")
        self.store.db.conn.backup(copy)
        replayed = DeviceStore(sqlite_utils.Database(copy), ":memory:", Environment())
        replayed.rebuild_projections()
        assert snapshot(replayed, PROJECTION_TABLES) == snapshot(self.store, PROJECTION_TABLES)
        copy.close()

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


DeviceCommands.TestCase.settings = settings(
    max_examples=int(os.environ.get("RETURNFLOW_PROPERTY_EXAMPLES", "40")),
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_command_sequences_replay_to_the_same_projections = DeviceCommands.TestCase
