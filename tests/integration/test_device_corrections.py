"""Corrections on the device store (real SQLite files): each one appends a new event and leaves
the log as it was, updates the projections like any step, and a refused one writes nothing."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from domain import (
    BinTypeMismatch,
    Disposition,
    Grade,
    IllegalTransition,
    InvalidInput,
    OverrideReasonRequired,
    UnitState,
)
from domain.evolve import Correction, correction_for
from local_db import DeviceStore, Environment
from local_db.projection import PROJECTION_TABLES
from local_db.screens import bin_contents, rma_progress, work_queues
from tests.conftest import ASSOCIATE, SUPERVISOR, snapshot
from tests.integration.test_device_store import LPN1, LPN2, plain_line, to_state


def replayed(store: DeviceStore) -> dict[str, list[tuple]]:
    """The projections rebuilt from the event log alone, on a copy of the store."""
    copy = sqlite3.connect(":memory:")
    store.db.conn.backup(copy)
    rebuilt = DeviceStore(sqlite_utils.Database(copy), ":memory:", Environment())
    rebuilt.rebuild_projections()
    result = snapshot(rebuilt, PROJECTION_TABLES)
    copy.close()
    return result


def test_a_voided_receipt_leaves_the_unit_voided_and_its_receipt_in_the_log(store, catalogue):
    to_state(store, catalogue, UnitState.RECEIVED)
    assert correction_for(store.unit(LPN1)) is Correction.VOID_RECEIPT
    event = store.void_receipt(ASSOCIATE, lpn=LPN1, reason="received on the wrong RMA")
    assert (event.type.value, event.payload.reason) == ("receipt_voided", "received on the wrong RMA")
    assert store.unit(LPN1).state is UnitState.VOIDED
    assert [e.type.value for e in store.events()] == ["rma_receipt", "receipt_voided"]
    assert store.summary().outbox == {"pending": 2}
    assert correction_for(store.unit(LPN1)) is None
    assert replayed(store) == snapshot(store, PROJECTION_TABLES)


def test_a_voided_receipt_leaves_its_rma_line_stock_its_bin_and_the_queues(store, catalogue):
    rma, line, _ = plain_line(catalogue)
    to_state(store, catalogue, UnitState.RECEIVED, code=LPN1)
    to_state(store, catalogue, UnitState.RECEIVED, code=LPN2)
    store.void_receipt(ASSOCIATE, lpn=LPN2, reason="double scan")
    [progress] = [p for p in rma_progress(store, rma.rma_id) if p.line_no == line.line_no]
    assert progress.received == 1
    assert store.db.execute("SELECT sku, bin_code, status, qty FROM stock").fetchall() == [
        (line.sku, "BIN-DCK-A01", "received", 1)]
    assert bin_contents(store, "BIN-DCK-A01") == {line.sku: 1}
    assert work_queues(store)[UnitState.RECEIVED] == 1


def test_a_voided_lpn_is_received_again_as_a_new_unit(store, catalogue):
    rma, line, _ = plain_line(catalogue)
    to_state(store, catalogue, UnitState.RECEIVED)
    store.void_receipt(ASSOCIATE, lpn=LPN1, reason="wrong item")
    other = next(i for i in catalogue.items if i.sku != line.sku and not i.serial_tracked and not i.lot_tracked)
    store.receive(ASSOCIATE, lpn=LPN1, sku=other.sku, bin_code="BIN-DCK-A02", reason_code="wrong_item")
    unit = store.unit(LPN1)
    assert (unit.state, unit.sku, unit.rma_id, unit.bin_code) == (UnitState.RECEIVED, other.sku, None, "BIN-DCK-A02")
    assert [e.type.value for e in store.events()] == ["rma_receipt", "receipt_voided", "blind_receipt"]
    assert replayed(store) == snapshot(store, PROJECTION_TABLES)


def test_a_regrade_of_a_graded_unit_names_the_grade_it_corrects(store, catalogue):
    to_state(store, catalogue, UnitState.GRADED, grade=Grade.A)
    assert correction_for(store.unit(LPN1)) is Correction.REGRADE
    event = store.regrade(ASSOCIATE, lpn=LPN1, grade=Grade.C, reason="scratch under the label")
    assert (event.payload.grade, event.payload.previous_grade) == (Grade.C, Grade.A)
    assert (store.unit(LPN1).state, store.unit(LPN1).grade) == (UnitState.GRADED, Grade.C)


def test_a_regrade_of_a_dispositioned_unit_sends_it_back_to_be_decided_again(store, catalogue):
    to_state(store, catalogue, UnitState.DISPOSITIONED, grade=Grade.A)
    store.regrade(ASSOCIATE, lpn=LPN1, grade=Grade.C, reason="scratch under the label")
    unit = store.unit(LPN1)
    assert (unit.state, unit.grade, unit.disposition) == (UnitState.GRADED, Grade.C, None)
    # Grade C suggests liquidation: restock, what was decided for grade A, is now an override.
    with pytest.raises(OverrideReasonRequired):
        store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.RESTOCK)
    store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE)
    assert store.unit(LPN1).disposition is Disposition.LIQUIDATE
    assert replayed(store) == snapshot(store, PROJECTION_TABLES)


def test_a_regrade_needs_a_reason(store, catalogue):
    to_state(store, catalogue, UnitState.GRADED)
    with pytest.raises(InvalidInput, match="reason"):
        store.regrade(ASSOCIATE, lpn=LPN1, grade=Grade.B, reason="")


def test_a_reopened_disposition_is_decided_again_through_the_rules(store, catalogue):
    to_state(store, catalogue, UnitState.DISPOSITIONED, grade=Grade.A)
    assert correction_for(store.unit(LPN1)) is Correction.REOPEN_DISPOSITION
    event = store.reopen_disposition(ASSOCIATE, lpn=LPN1, reason="tapped restock by mistake")
    assert event.payload.previous_disposition is Disposition.RESTOCK
    unit = store.unit(LPN1)
    assert (unit.state, unit.grade, unit.disposition) == (UnitState.GRADED, Grade.A, None)
    with pytest.raises(OverrideReasonRequired):
        store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE)
    store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE, override_reason="crushed box")
    assert store.unit(LPN1).disposition is Disposition.LIQUIDATE
    assert [e.type.value for e in store.events()][-3:] == [
        "disposition_decided", "disposition_reopened", "disposition_decided"]


def test_a_stored_unit_moves_to_another_bin_of_its_type(store, catalogue):
    unit = to_state(store, catalogue, UnitState.STORED)
    assert correction_for(unit) is Correction.MOVE
    store.move(ASSOCIATE, lpn=LPN1, bin_code="BIN-RST-R02")
    assert (store.unit(LPN1).state, store.unit(LPN1).bin_code) == (UnitState.STORED, "BIN-RST-R02")
    stock = store.db.execute("SELECT sku, bin_code, status, qty FROM stock").fetchall()
    assert stock == [(unit.sku, "BIN-RST-R02", "stored", 1)]
    assert replayed(store) == snapshot(store, PROJECTION_TABLES)


# A correction refused, with the state the unit (graded A) reached first: the error and nothing written.
_REFUSED_CORRECTIONS = {
    "void once inspected": (UnitState.INSPECTED, IllegalTransition, "cannot void",
                            lambda s: s.void_receipt(ASSOCIATE, lpn=LPN1, reason="double scan")),
    "regrade before grading": (UnitState.INSPECTED, IllegalTransition, "cannot regrade",
                               lambda s: s.regrade(ASSOCIATE, lpn=LPN1, grade=Grade.C, reason="second look")),
    "regrade once stored": (UnitState.STORED, IllegalTransition, "cannot regrade",
                            lambda s: s.regrade(ASSOCIATE, lpn=LPN1, grade=Grade.C, reason="second look")),
    "regrade to the same grade": (UnitState.GRADED, InvalidInput, "graded A already",
                                  lambda s: s.regrade(ASSOCIATE, lpn=LPN1, grade=Grade.A, reason="second look")),
    "reopen once stored": (UnitState.STORED, IllegalTransition, "cannot reopen",
                           lambda s: s.reopen_disposition(ASSOCIATE, lpn=LPN1, reason="changed my mind")),
    "move into a bin of another type": (UnitState.STORED, BinTypeMismatch, "needs a restock bin",
                                        lambda s: s.move(ASSOCIATE, lpn=LPN1, bin_code="BIN-SCR-S01")),
    "move into the bin it is in": (UnitState.STORED, InvalidInput, "in BIN-RST-R01 already",
                                   lambda s: s.move(ASSOCIATE, lpn=LPN1, bin_code="BIN-RST-R01")),
    "move before storage": (UnitState.DISPOSITIONED, IllegalTransition, "cannot move",
                            lambda s: s.move(ASSOCIATE, lpn=LPN1, bin_code="BIN-RST-R02")),
}


@pytest.mark.parametrize("case", sorted(_REFUSED_CORRECTIONS))
def test_a_refused_correction_raises_and_writes_nothing(store, catalogue, case):
    state, error, message, correct = _REFUSED_CORRECTIONS[case]
    to_state(store, catalogue, state, grade=Grade.A)
    before = snapshot(store)
    with pytest.raises(error, match=message):
        correct(store)
    assert snapshot(store) == before


def test_a_quarantined_unit_moves_between_quarantine_bins_once_put_away(store, catalogue):
    to_state(store, catalogue, UnitState.RECEIVED)
    store.quarantine(ASSOCIATE, lpn=LPN1, reason="seal broken")
    with pytest.raises(IllegalTransition, match="put away in a quarantine bin"):
        store.move(ASSOCIATE, lpn=LPN1, bin_code="BIN-QUA-Q02")
    store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-QUA-Q01")
    assert correction_for(store.unit(LPN1)) is Correction.MOVE
    with pytest.raises(BinTypeMismatch):
        store.move(ASSOCIATE, lpn=LPN1, bin_code="BIN-RST-R01")
    store.move(ASSOCIATE, lpn=LPN1, bin_code="BIN-QUA-Q02")
    unit = store.unit(LPN1)
    assert (unit.state, unit.held_from, unit.bin_code) == (UnitState.QUARANTINED, UnitState.RECEIVED, "BIN-QUA-Q02")


def test_a_bin_count_does_not_expect_a_voided_receipt(store, catalogue):
    to_state(store, catalogue, UnitState.RECEIVED, code=LPN1)
    to_state(store, catalogue, UnitState.RECEIVED, code=LPN2)
    store.void_receipt(ASSOCIATE, lpn=LPN2, reason="double scan")
    sku = store.unit(LPN1).sku
    event = store.count_bin(SUPERVISOR, bin_code="BIN-DCK-A01", counts={sku: 1})
    rows = store.db.execute("SELECT sku, counted, expected FROM bin_counts WHERE device_seq = ?",
                            (event.device_seq,)).fetchall()
    assert rows == [(sku, 1, 1)]
