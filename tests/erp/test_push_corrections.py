"""Corrections pushed to the central API, on SQLite and PostgreSQL: each applied exactly once,
judged by the same conflict rules as every step, with stock and RMA receipt counts following."""

from __future__ import annotations

from sqlalchemy import func, select

from domain import (
    BlindReceipt,
    Disposition,
    DispositionReopened,
    Grade,
    InspectionRecorded,
    Inspection,
    ReceiptVoided,
    UnitMoved,
    UnitRegraded,
    UnitState,
)
from domain.labels import lpn
from erp import tables as t
from tests.conftest import ASSOCIATE, SUPERVISOR
from tests.erp.conftest import craft, push
from tests.integration.test_device_store import answers, plain_line, to_state

LPN1 = lpn(1)


def unit_row(engine, code=LPN1):
    with engine.connect() as conn:
        return conn.execute(select(t.units).where(t.units.c.lpn == code)).one()


def received_on(engine, rma_id, line_no):
    with engine.connect() as conn:
        return conn.execute(select(t.rma_lines.c.received_qty).where(
            t.rma_lines.c.rma_id == rma_id, t.rma_lines.c.line_no == line_no)).scalar_one()


def stock(engine):
    with engine.connect() as conn:
        return conn.execute(select(t.stock.c.sku, t.stock.c.bin_code, t.stock.c.status, t.stock.c.qty)
                            .order_by(t.stock.c.bin_code)).all()


def outcomes(response):
    assert response.status_code == 200, response.text
    return [(r["outcome"], r["rule"]) for r in response.json()["results"]]


def exceptions(engine):
    with engine.connect() as conn:
        return conn.execute(select(t.exceptions.c.kind, t.exceptions.c.lpn, t.exceptions.c.detail)).all()


def test_a_voided_receipt_leaves_stock_and_its_rma_line_and_its_lpn_is_received_again(api, erp_engine,
                                                                                      device_factory, catalogue):
    store, headers = device_factory("hh-1")
    rma, line, _ = plain_line(catalogue)
    to_state(store, catalogue, UnitState.RECEIVED)
    store.void_receipt(ASSOCIATE, lpn=LPN1, reason="received on the wrong RMA")
    assert outcomes(push(api, headers, store)) == [("applied", None), ("applied", None)]
    voided = unit_row(erp_engine)
    assert (voided.state, voided.version) == ("voided", 2)
    assert stock(erp_engine) == []
    assert received_on(erp_engine, rma.rma_id, line.line_no) == 0

    store.receive(ASSOCIATE, lpn=LPN1, sku=line.sku, bin_code="BIN-DCK-A02", reason_code="wrong_item")
    assert outcomes(push(api, headers, store, after_seq=2)) == [("applied", None)]
    again = unit_row(erp_engine)
    assert (again.state, again.rma_id, again.bin_code, again.version) == ("received", None, "BIN-DCK-A02", 3)
    assert stock(erp_engine) == [(line.sku, "BIN-DCK-A02", "received", 1)]
    assert received_on(erp_engine, rma.rma_id, line.line_no) == 0
    # Sent again, nothing is applied twice.
    assert [o for o, _ in outcomes(push(api, headers, store))] == ["duplicate"] * 3
    assert stock(erp_engine) == [(line.sku, "BIN-DCK-A02", "received", 1)]


def test_a_receipt_and_its_void_in_one_batch_count_nothing(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    rma, line, _ = plain_line(catalogue)
    to_state(store, catalogue, UnitState.RECEIVED)
    store.void_receipt(ASSOCIATE, lpn=LPN1, reason="double scan")
    store.receive(ASSOCIATE, lpn=LPN1, sku=line.sku, bin_code="BIN-DCK-A01", rma_id=rma.rma_id)
    assert [o for o, _ in outcomes(push(api, headers, store))] == ["applied"] * 3
    assert received_on(erp_engine, rma.rma_id, line.line_no) == 1
    assert stock(erp_engine) == [(line.sku, "BIN-DCK-A01", "received", 1)]


def test_the_serial_of_a_voided_receipt_is_received_again_without_a_duplicate(api, erp_engine, device_factory,
                                                                            catalogue):
    store, headers = device_factory("hh-1")
    phone = next(i for i in catalogue.items if i.serial_tracked and not i.lot_tracked)
    store.receive(ASSOCIATE, lpn=LPN1, sku=phone.sku, bin_code="BIN-DCK-A01", reason_code="defective", serial="SN-7")
    store.void_receipt(ASSOCIATE, lpn=LPN1, reason="scanned on the wrong package")
    push(api, headers, store)
    store.receive(ASSOCIATE, lpn=lpn(2), sku=phone.sku, bin_code="BIN-DCK-A01", reason_code="defective",
                  serial="SN-7")
    assert outcomes(push(api, headers, store, after_seq=2)) == [("applied", None)]
    assert exceptions(erp_engine) == []


def test_a_void_of_a_unit_another_device_inspected_is_rejected(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED)
    push(api, headers, store)
    other, headers2 = device_factory("hh-2")
    inspection = Inspection(answers=answers(store, LPN1))
    outcomes(push(api, headers2, other, events=[craft("hh-2", 1, InspectionRecorded(lpn=LPN1, inspection=inspection),
                                                      base_version=1)]))
    store.void_receipt(ASSOCIATE, lpn=LPN1, reason="double scan")
    [result] = push(api, headers, store, after_seq=1).json()["results"]
    assert (result["outcome"], result["rule"]) == ("rejected", "invalid_transition")
    assert "is inspected: cannot void" in result["reason"]
    assert unit_row(erp_engine).state == "inspected"


def test_the_same_void_from_two_devices_is_merged(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED)
    store.void_receipt(ASSOCIATE, lpn=LPN1, reason="double scan")
    push(api, headers, store)
    other, headers2 = device_factory("hh-2")
    void = craft("hh-2", 1, ReceiptVoided(lpn=LPN1, reason="double scan"), base_version=1)
    assert outcomes(push(api, headers2, other, events=[void])) == [("applied", "same_outcome_merged")]
    assert unit_row(erp_engine).version == 2


def test_a_regrade_of_a_dispositioned_unit_is_decided_again_on_the_server(api, erp_engine, device_factory,
                                                                         catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.DISPOSITIONED, grade=Grade.A)
    store.regrade(ASSOCIATE, lpn=LPN1, grade=Grade.C, reason="scratch under the label")
    store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE)
    store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-LIQ-L01")
    assert [o for o, _ in outcomes(push(api, headers, store))] == ["applied"] * 7
    unit = unit_row(erp_engine)
    assert (unit.state, unit.grade, unit.disposition, unit.bin_code) == ("stored", "C", "liquidate", "BIN-LIQ-L01")
    assert stock(erp_engine) == [(unit.sku, "BIN-LIQ-L01", "stored", 1)]


def regraded_a_to_c_by_another_device(api, device_factory, catalogue):
    """hh-1 grades the unit A, regrades it C and pushes; returns hh-2 and its headers, which saw
    grade A (the unit's version 3) and never pulled the regrade."""
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED, grade=Grade.A)
    store.regrade(ASSOCIATE, lpn=LPN1, grade=Grade.C, reason="scratch")
    push(api, headers, store)
    return device_factory("hh-2")


def test_two_devices_regrading_differently_dispute_the_unit(api, erp_engine, device_factory, catalogue):
    other, headers2 = regraded_a_to_c_by_another_device(api, device_factory, catalogue)
    # hh-2 corrects grade A to B: the grade it corrects no longer stands.
    rival = craft("hh-2", 1, UnitRegraded(lpn=LPN1, grade=Grade.B, previous_grade=Grade.A, reason="dent"),
                  base_version=3)
    same = craft("hh-2", 2, UnitRegraded(lpn=LPN1, grade=Grade.C, previous_grade=Grade.A, reason="scratch"),
                 base_version=3)
    results = push(api, headers2, other, events=[rival, same]).json()["results"]
    # The grade standing (C) is then what hh-2's second correction proposes: merged, not disputed again.
    assert [(r["outcome"], r["rule"]) for r in results] == [
        ("conflict", "different_decisions_disputed"), ("applied", "same_outcome_merged")]
    unit = unit_row(erp_engine)
    assert (unit.state, unit.grade, unit.held_from) == ("disputed", "C", "graded")
    kind, lpn, detail = exceptions(erp_engine)[0]
    assert (kind, lpn, detail) == ("dispute", LPN1, {"lpn": LPN1, "field": "grade", "standing": "C", "proposed": "B",
                                                     "proposed_by": "alex", "proposed_device": "hh-2",
                                                     "proposed_at": detail["proposed_at"]})


def test_the_same_regrade_from_two_devices_is_merged(api, erp_engine, device_factory, catalogue):
    other, headers2 = regraded_a_to_c_by_another_device(api, device_factory, catalogue)
    same = craft("hh-2", 1, UnitRegraded(lpn=LPN1, grade=Grade.C, previous_grade=Grade.A, reason="scratch"),
                 base_version=3)
    assert outcomes(push(api, headers2, other, events=[same])) == [("applied", "same_outcome_merged")]
    assert (unit_row(erp_engine).state, unit_row(erp_engine).version) == ("graded", 4)


def test_a_reopened_disposition_is_decided_again_and_a_stale_reopening_is_rejected(api, erp_engine, device_factory,
                                                                                  catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.DISPOSITIONED, grade=Grade.B)
    store.reopen_disposition(ASSOCIATE, lpn=LPN1, reason="tapped restock by mistake")
    store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE, override_reason="crushed box")
    assert [o for o, _ in outcomes(push(api, headers, store))] == ["applied"] * 6
    assert (unit_row(erp_engine).state, unit_row(erp_engine).disposition) == ("dispositioned", "liquidate")
    other, headers2 = device_factory("hh-2")
    # hh-2 still saw restock: the disposition it withdraws is no longer the one standing.
    stale = craft("hh-2", 1, DispositionReopened(lpn=LPN1, previous_disposition=Disposition.RESTOCK, reason="x"),
                  base_version=4)
    [result] = push(api, headers2, other, events=[stale]).json()["results"]
    assert (result["outcome"], result["rule"]) == ("rejected", "invalid_transition")
    assert "liquidate, not restock" in result["reason"]
    assert (unit_row(erp_engine).state, unit_row(erp_engine).disposition) == ("dispositioned", "liquidate")


def test_a_reopening_already_made_by_another_device_is_merged(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.DISPOSITIONED)
    store.reopen_disposition(ASSOCIATE, lpn=LPN1, reason="wrong button")
    push(api, headers, store)
    other, headers2 = device_factory("hh-2")
    same = craft("hh-2", 1, DispositionReopened(lpn=LPN1, previous_disposition=Disposition.RESTOCK, reason="x"),
                 base_version=4)
    assert outcomes(push(api, headers2, other, events=[same])) == [("applied", "same_outcome_merged")]


def test_a_move_follows_the_unit_in_stock(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    unit = to_state(store, catalogue, UnitState.STORED)
    store.move(ASSOCIATE, lpn=LPN1, bin_code="BIN-RST-R02")
    assert [o for o, _ in outcomes(push(api, headers, store))] == ["applied"] * 6
    assert (unit_row(erp_engine).state, unit_row(erp_engine).bin_code) == ("stored", "BIN-RST-R02")
    assert stock(erp_engine) == [(unit.sku, "BIN-RST-R02", "stored", 1)]


def test_a_move_into_a_bin_reassigned_while_offline_is_accepted_with_an_exception(api, erp_engine, device_factory,
                                                                                  catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED)
    store.quarantine(ASSOCIATE, lpn=LPN1, reason="hazmat label")
    store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-QUA-Q01")
    push(api, headers, store)
    store.move(ASSOCIATE, lpn=LPN1, bin_code="BIN-QUA-Q02")
    supervisor_store, supervisor_headers = device_factory("hh-sup")
    supervisor_store.reassign_bin(SUPERVISOR, bin_code="BIN-QUA-Q02", purpose="vendor claim", zone="Q", owner="sam")
    assert push(api, supervisor_headers, supervisor_store).status_code == 200
    assert outcomes(push(api, headers, store, after_seq=5)) == [("conflict", "bin_reassigned_offline")]
    assert (unit_row(erp_engine).state, unit_row(erp_engine).bin_code) == ("quarantined", "BIN-QUA-Q02")
    assert [kind for kind, _, _ in exceptions(erp_engine)] == ["bin_policy_violation"]


def test_a_move_of_a_unit_not_yet_stored_is_rejected_and_one_into_a_wrong_bin_kept(api, erp_engine, device_factory,
                                                                                 catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.DISPOSITIONED)
    early = craft("hh-1", 5, UnitMoved(lpn=LPN1, bin_code="BIN-RST-R02"))
    assert outcomes(push(api, headers, store, events=[*store.events(), early]))[-1] == (
        "rejected", "invalid_transition")
    store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-RST-R01")
    stored = store.events(after_seq=4)[0].model_copy(update={"device_seq": 6})
    wrong = craft("hh-1", 7, UnitMoved(lpn=LPN1, bin_code="BIN-SCR-S01"))
    assert outcomes(push(api, headers, store, events=[stored, wrong])) == [
        ("applied", None), ("conflict", "bin_type_mismatch")]
    assert unit_row(erp_engine).bin_code == "BIN-SCR-S01"  # the unit is where it is
    with erp_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.exceptions)).scalar_one() == 1


def test_a_bin_count_on_the_server_does_not_expect_a_voided_receipt(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED, code=LPN1)
    to_state(store, catalogue, UnitState.RECEIVED, code=lpn(2))
    store.void_receipt(ASSOCIATE, lpn=lpn(2), reason="double scan")
    sku = store.unit(LPN1).sku
    store.count_bin(SUPERVISOR, bin_code="BIN-DCK-A01", counts={sku: 1})
    push(api, headers, store)
    with erp_engine.connect() as conn:
        assert conn.execute(select(t.bin_counts.c.sku, t.bin_counts.c.counted, t.bin_counts.c.expected)).all() == [
            (sku, 1, 1)]


def test_a_blind_receipt_under_a_voided_lpn_from_another_device_is_a_new_receipt(api, erp_engine, device_factory,
                                                                                 catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED)
    store.void_receipt(ASSOCIATE, lpn=LPN1, reason="wrong RMA")
    push(api, headers, store)
    other, headers2 = device_factory("hh-2")
    item = catalogue.items[3]
    receipt = craft("hh-2", 1, BlindReceipt(lpn=LPN1, sku=item.sku, bin_code="BIN-DCK-A03", reason_code="unknown"))
    assert outcomes(push(api, headers2, other, events=[receipt])) == [("applied", None)]
    unit = unit_row(erp_engine)
    assert (unit.state, unit.sku, unit.received_device) == ("received", item.sku, "hh-2")
