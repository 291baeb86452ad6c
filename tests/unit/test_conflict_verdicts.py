"""The conflict table of DESIGN.md, row by row, as domain/verdicts.py decides it: no database, no
server. (The first row, the same event arriving again, is the ledger's: tests/erp/test_push.py.)"""

from __future__ import annotations

import datetime as dt

import pytest

from domain import (
    BinType,
    BlindReceipt,
    Disposition,
    Grade,
    IllegalTransition,
    InvalidInput,
    ReturnUnit,
    RmaReceipt,
    RmaState,
    Role,
    UnitGraded,
    UnitState,
    UnitStored,
)
from domain.conflicts import APPLIED, ConflictRule, ExceptionKind, Outcome
from domain.entities import Bin
from domain.evolve import received_unit
from domain.roles import Permission
from domain.verdicts import (
    LineSoFar,
    actor_verdict,
    dispute_verdict,
    receipt_verdict,
    refused_step_verdict,
    rival_decision,
    store_verdict,
)
from tests.unit.test_corrections import LPN
from tests.unit.test_corrections import unit as unit_in

AT = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
RECEIPT = RmaReceipt(lpn=LPN, sku="ELE-10000", rma_id="RMA-00000017", line_no=1, bin_code="BIN-DCK-A01")
LINE = LineSoFar(sku="ELE-10000", rma_state=RmaState.APPROVED, expected=2, received=0)
RESTOCK_BIN = Bin(code="BIN-RST-R01", type=BinType.RESTOCK, zone="R")


def unit(state: UnitState, version: int = 3, **fields: object) -> ReturnUnit:
    """A unit of the corrections' tests, received on line 1 of RMA-00000017, at server version `version`."""
    return unit_in(state, **({"rma_id": "RMA-00000017", "line_no": 1, "server_version": version} | fields))


def refused(step_unit: ReturnUnit) -> IllegalTransition:
    return IllegalTransition(step_unit.lpn, step_unit.state.value, "step", "not from this state")


# --- two devices make the same transition with the same outcome: merged ---------------------------

def test_the_same_grade_from_a_second_device_is_merged():
    graded = unit(UnitState.GRADED)
    step = UnitGraded(lpn=LPN, grade=Grade.A)
    assert rival_decision(graded, step, base_version=1) is None
    verdict = refused_step_verdict(graded, step, refused(graded))
    assert (verdict.outcome, verdict.rule, verdict.exception) == (Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                                                                  None)


def test_the_same_store_from_a_second_device_is_merged():
    stored = unit(UnitState.STORED)
    verdict = refused_step_verdict(stored, UnitStored(lpn=LPN, bin_code="BIN-RST-R01"), refused(stored))
    assert (verdict.outcome, verdict.rule) == (Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED)


def test_the_same_receipt_from_a_second_device_is_merged():
    verdict = receipt_verdict(RECEIPT, existing=unit(UnitState.RECEIVED), line=LINE)
    assert (verdict.outcome, verdict.rule) == (Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED)


# --- different decisions from the same base: the first stands, the unit is disputed -----------------

def test_a_different_grade_made_on_an_older_version_disputes_the_unit():
    graded = unit(UnitState.GRADED, version=3)
    assert rival_decision(graded, UnitGraded(lpn=LPN, grade=Grade.C), base_version=2) == ("grade", Grade.C)
    verdict = dispute_verdict(graded, "grade", Grade.C, proposed_by="alex", proposed_device="hh-2", proposed_at=AT)
    assert (verdict.outcome, verdict.rule) == (Outcome.CONFLICT, ConflictRule.DIFFERENT_DECISIONS)
    kind, detail = verdict.exception
    assert kind is ExceptionKind.DISPUTE
    assert detail == {"lpn": LPN, "field": "grade", "standing": "A", "proposed": "C", "proposed_by": "alex",
                      "proposed_device": "hh-2", "proposed_at": AT.isoformat()}


def test_a_different_grade_on_a_voided_receipt_is_no_dispute_but_a_refused_step():
    voided = unit(UnitState.VOIDED, grade=Grade.A)  # no unit any more: nothing left to dispute
    step = UnitGraded(lpn=LPN, grade=Grade.C)
    assert rival_decision(voided, step, base_version=1) is None
    assert refused_step_verdict(voided, step, refused(voided)).outcome is Outcome.REJECTED


# --- a transition invalid against the server's state: rejected with the reason ----------------------

def test_a_step_the_unit_has_moved_past_is_rejected_with_the_reason():
    stored = unit(UnitState.STORED)
    why = refused(stored)
    verdict = refused_step_verdict(stored, UnitStored(lpn=LPN, bin_code="BIN-RST-R02"), why)
    assert (verdict.outcome, verdict.rule, verdict.reason) == (Outcome.REJECTED, ConflictRule.INVALID_TRANSITION,
                                                               str(why))


# --- stored in a bin re-purposed while the device was offline: kept, with an exception --------------

def test_a_store_into_a_bin_repurposed_after_it_is_kept_with_a_bin_policy_exception():
    decided = unit(UnitState.DISPOSITIONED)
    repurposed = Bin(code="BIN-RST-R01", type=BinType.RESTOCK, zone="R", purpose="peak overflow")
    verdict = store_verdict(decided, repurposed, reassigned_at=AT, stored_at=AT - dt.timedelta(hours=1))
    assert (verdict.outcome, verdict.rule) == (Outcome.CONFLICT, ConflictRule.BIN_REASSIGNED_OFFLINE)
    assert verdict.exception == (ExceptionKind.BIN_POLICY_VIOLATION,
                                 {"lpn": LPN, "bin_code": "BIN-RST-R01", "purpose": "peak overflow"})
    assert store_verdict(decided, repurposed, reassigned_at=AT, stored_at=AT + dt.timedelta(seconds=1)) is APPLIED


def test_a_store_into_the_wrong_type_of_bin_is_kept_with_an_exception_naming_the_right_type():
    scrapped = unit(UnitState.DISPOSITIONED, disposition=Disposition.SCRAP)
    verdict = store_verdict(scrapped, RESTOCK_BIN, reassigned_at=None, stored_at=AT)
    assert (verdict.outcome, verdict.rule) == (Outcome.CONFLICT, ConflictRule.BIN_TYPE_MISMATCH)
    assert verdict.exception[1]["required"] == "scrap"


# --- a receipt against an RMA cancelled (rejected, closed) meanwhile: accepted, with an exception ----

@pytest.mark.parametrize("state", [RmaState.REJECTED, RmaState.CLOSED])
def test_a_receipt_on_an_rma_no_longer_receivable_is_kept_with_an_exception(state):
    verdict = receipt_verdict(RECEIPT, existing=None, line=LineSoFar("ELE-10000", state, 2, 0))
    assert (verdict.outcome, verdict.rule) == (Outcome.CONFLICT, ConflictRule.RECEIPT_ON_CLOSED_RMA)
    assert verdict.exception == (ExceptionKind.RMA_NOT_RECEIVABLE,
                                 {"lpn": LPN, "rma_id": "RMA-00000017", "state": state.value})


def test_receipts_within_a_line_are_applied_and_one_over_it_opens_an_exception():
    assert receipt_verdict(RECEIPT, existing=None, line=LINE) is APPLIED
    over = receipt_verdict(RECEIPT, existing=None, line=LineSoFar("ELE-10000", RmaState.APPROVED, 2, 2))
    assert (over.outcome, over.rule, over.exception[0]) == (Outcome.APPLIED, ConflictRule.RECEIPT_OVER_LINE,
                                                            ExceptionKind.OVER_RECEIPT)


def test_a_receipt_of_another_item_than_the_line_expects_is_kept_with_an_exception():
    verdict = receipt_verdict(RECEIPT, existing=None, line=LineSoFar("HOM-20000", RmaState.APPROVED, 1, 0))
    assert (verdict.outcome, verdict.rule, verdict.exception[0]) == (
        Outcome.CONFLICT, ConflictRule.RECEIPT_WRONG_ITEM, ExceptionKind.WRONG_ITEM)


def test_a_receipt_on_an_unknown_line_is_rejected_and_a_second_unit_under_one_lpn_is_a_conflict():
    assert receipt_verdict(RECEIPT, existing=None, line=None).rule is ConflictRule.UNKNOWN_REFERENCE
    other = unit(UnitState.RECEIVED, sku="HOM-20000")
    verdict = receipt_verdict(RECEIPT, existing=other, line=LINE)
    assert (verdict.outcome, verdict.rule, verdict.exception[0]) == (
        Outcome.CONFLICT, ConflictRule.LPN_REUSED, ExceptionKind.DUPLICATE_LPN)


def test_a_blind_receipt_out_of_an_rmas_package_is_kept_with_an_exception():
    blind = BlindReceipt(lpn=LPN, sku="HOM-20000", reason_code="defective", bin_code="BIN-DCK-A01",
                         package_ref="RMA-00000017")
    verdict = receipt_verdict(blind, existing=None, line=None, package_is_rma=True)
    assert (verdict.outcome, verdict.rule) == (Outcome.APPLIED, ConflictRule.RECEIPT_NOT_ON_RMA)
    assert receipt_verdict(blind, existing=None, line=None, package_is_rma=False) is APPLIED


# --- the same serial received twice: the second receipt accepted, with an exception ------------------

def test_a_serial_received_before_is_kept_with_a_duplicate_serial_exception():
    with_serial = RECEIPT.model_copy(update={"serial": "SN-1"})
    verdict = receipt_verdict(with_serial, existing=None, line=LINE, first_with_serial="LPN-0000000009")
    assert (verdict.outcome, verdict.rule) == (Outcome.CONFLICT, ConflictRule.DUPLICATE_SERIAL)
    assert verdict.exception == (ExceptionKind.DUPLICATE_SERIAL,
                                 {"lpn": LPN, "serial": "SN-1", "first_lpn": "LPN-0000000009"})


def test_one_exception_per_receipt_names_the_serials_first_unit_too():
    with_serial = RECEIPT.model_copy(update={"serial": "SN-1"})
    closed = LineSoFar("ELE-10000", RmaState.REJECTED, 2, 0)
    verdict = receipt_verdict(with_serial, existing=None, line=closed, first_with_serial="LPN-0000000009")
    assert verdict.rule is ConflictRule.RECEIPT_ON_CLOSED_RMA
    assert verdict.exception[1]["first_lpn"] == "LPN-0000000009" and verdict.exception[1]["serial"] == "SN-1"


# --- an actor lacking the role for an event: rejected -----------------------------------------------

@pytest.mark.parametrize(("role", "held", "active", "lacks"), [
    (Role.ASSOCIATE, Role.ASSOCIATE, True, False),
    (Role.SUPERVISOR, Role.ASSOCIATE, True, True),   # names a role the person does not hold
    (Role.ASSOCIATE, Role.ASSOCIATE, False, True),   # no longer active
    (Role.ASSOCIATE, None, True, True),              # nobody the server knows
])
def test_an_actor_without_the_role_for_the_event_is_rejected(role, held, active, lacks):
    verdict = actor_verdict("alex", role, Permission.GRADE, held_role=held, active=active)
    assert (verdict is not None) is lacks
    if lacks:
        assert (verdict.outcome, verdict.rule) == (Outcome.REJECTED, ConflictRule.ACTOR_LACKS_ROLE)


def test_a_role_that_may_not_do_the_step_is_rejected():
    verdict = actor_verdict("alex", Role.ASSOCIATE, Permission.RELEASE_QUARANTINE, held_role=Role.ASSOCIATE,
                            active=True)
    assert verdict is not None and verdict.rule is ConflictRule.ACTOR_LACKS_ROLE


def test_a_received_units_reason_is_its_rma_lines_or_the_associates_on_a_blind_receipt():
    assert received_unit(RECEIPT, line_reason="defective").reason_code == "defective"
    blind = BlindReceipt(lpn=LPN, sku="HOM-20000", reason_code="not_as_described", bin_code="BIN-DCK-A01")
    assert received_unit(blind).reason_code == "not_as_described"
    with pytest.raises(InvalidInput, match="RMA-00000017 line 1"):
        received_unit(RECEIPT)  # an RMA line nobody here knows gives no reason
