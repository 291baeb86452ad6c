"""Corrections of a unit's last step: how each one changes the unit, which states refuse it, and
which one the handheld offers for a unit (domain.evolve.correction_for)."""

from __future__ import annotations

import pytest

from domain import (
    Disposition,
    DispositionDecided,
    DispositionDecision,
    DispositionReopened,
    Grade,
    IllegalTransition,
    ReceiptVoided,
    ReturnUnit,
    UnitGraded,
    UnitMoved,
    UnitQuarantined,
    UnitRegraded,
    UnitState,
    UnitStored,
)
from domain.evolve import Correction, correction_for, evolve, lpn_is_free
from domain.verdicts import already_reflects, decision_of

S = UnitState
LPN = "LPN-0000000017"
VOID = ReceiptVoided(lpn=LPN, reason="received on the wrong RMA")
REGRADE = UnitRegraded(lpn=LPN, grade=Grade.C, previous_grade=Grade.A, reason="scratch found")
REOPEN = DispositionReopened(lpn=LPN, previous_disposition=Disposition.RESTOCK, reason="wrong button")
MOVE = UnitMoved(lpn=LPN, bin_code="BIN-RST-R02")


def unit(state: UnitState, **fields: object) -> ReturnUnit:
    defaults: dict[str, object] = {"sku": "ELE-10000", "reason_code": "defective", "bin_code": "BIN-DCK-A01"}
    if state in (S.GRADED, S.DISPOSITIONED, S.STORED):
        defaults["grade"] = Grade.A
    if state in (S.DISPOSITIONED, S.STORED):
        defaults["disposition"] = Disposition.RESTOCK
    if state is S.STORED:
        defaults["bin_code"] = "BIN-RST-R01"
    if state in (S.QUARANTINED, S.DISPUTED):
        defaults["held_from"] = S.GRADED
    return ReturnUnit(lpn=LPN, state=state, **(defaults | fields))


def test_voiding_a_received_unit_makes_it_voided_and_frees_its_lpn():
    received = unit(S.RECEIVED)
    assert not lpn_is_free(received)
    voided = evolve(received, VOID)
    assert voided.state is S.VOIDED
    assert lpn_is_free(voided) and lpn_is_free(None)


def test_regrading_a_graded_unit_changes_its_grade():
    regraded = evolve(unit(S.GRADED), REGRADE)
    assert (regraded.state, regraded.grade, regraded.disposition) == (S.GRADED, Grade.C, None)


def test_regrading_a_dispositioned_unit_drops_its_disposition_to_be_decided_again():
    regraded = evolve(unit(S.DISPOSITIONED), REGRADE)
    assert (regraded.state, regraded.grade, regraded.disposition) == (S.GRADED, Grade.C, None)


def test_reopening_a_disposition_returns_the_unit_to_graded():
    reopened = evolve(unit(S.DISPOSITIONED), REOPEN)
    assert (reopened.state, reopened.grade, reopened.disposition) == (S.GRADED, Grade.A, None)


def test_moving_a_stored_unit_changes_its_bin_and_keeps_it_stored():
    moved = evolve(unit(S.STORED), MOVE)
    assert (moved.state, moved.bin_code) == (S.STORED, "BIN-RST-R02")


def test_a_quarantined_unit_in_a_quarantine_bin_moves_and_stays_on_hold():
    held = unit(S.QUARANTINED, bin_code="BIN-QUA-Q01", held_from=S.DISPOSITIONED)
    moved = evolve(held, UnitMoved(lpn=LPN, bin_code="BIN-QUA-Q02"))
    assert (moved.state, moved.held_from, moved.bin_code) == (S.QUARANTINED, S.DISPOSITIONED, "BIN-QUA-Q02")


def test_a_quarantined_unit_not_yet_put_away_is_stored_not_moved():
    with pytest.raises(IllegalTransition, match="put away in a quarantine bin before it is moved"):
        evolve(unit(S.QUARANTINED), UnitMoved(lpn=LPN, bin_code="BIN-QUA-Q02"))


# Each correction, the word its refusal names, and the only states it corrects: a receipt while
# nothing else was done, a grade before storage, a disposition before storage, a unit once stored
# or held (a held one in a quarantine bin, tested above).
_CORRECTED_STATES = (
    (VOID, "void", {S.RECEIVED}),
    (REGRADE, "regrade", {S.GRADED, S.DISPOSITIONED}),
    (REOPEN, "reopen", {S.DISPOSITIONED}),
    (MOVE, "move", {S.STORED, S.QUARANTINED}),
)


@pytest.mark.parametrize(("payload", "word", "state"), [
    (payload, word, state) for payload, word, allowed in _CORRECTED_STATES for state in UnitState
    if state not in allowed], ids=lambda v: str(getattr(v, "type", v)))
def test_a_correction_is_refused_in_every_other_state(payload, word, state):
    with pytest.raises(IllegalTransition, match=word):
        evolve(unit(state), payload)


@pytest.mark.parametrize(("state", "fields", "expected"), [
    (S.RECEIVED, {}, Correction.VOID_RECEIPT),
    (S.INSPECTED, {}, None),
    (S.GRADED, {}, Correction.REGRADE),
    (S.DISPOSITIONED, {}, Correction.REOPEN_DISPOSITION),
    (S.STORED, {}, Correction.MOVE),
    (S.QUARANTINED, {"bin_code": "BIN-QUA-Q01"}, Correction.MOVE),
    (S.QUARANTINED, {}, None),
    (S.DISPUTED, {}, None),
    (S.CLOSED, {}, None),
    (S.VOIDED, {}, None),
], ids=lambda v: getattr(v, "value", None) or str(v))
def test_correction_for_names_the_one_undo_of_the_units_last_step(state, fields, expected):
    assert correction_for(unit(state, **fields)) is expected


@pytest.mark.parametrize("correction", list(Correction))
def test_every_correction_offered_is_one_the_state_machine_allows(correction):
    payload = {Correction.VOID_RECEIPT: VOID, Correction.REGRADE: REGRADE, Correction.REOPEN_DISPOSITION: REOPEN,
               Correction.MOVE: MOVE}[correction]
    state = {Correction.VOID_RECEIPT: S.RECEIVED, Correction.REGRADE: S.GRADED,
             Correction.REOPEN_DISPOSITION: S.DISPOSITIONED, Correction.MOVE: S.STORED}[correction]
    assert correction_for(unit(state)) is correction
    evolve(unit(state), payload)
    assert correction.label


# --- the same physical step from two devices: merged, not refused ---------------------------------

@pytest.mark.parametrize(("step", "standing", "merged"), [
    (UnitStored(lpn=LPN, bin_code="BIN-RST-R01"), unit(S.STORED), True),
    (UnitStored(lpn=LPN, bin_code="BIN-RST-R02"), unit(S.STORED), False),  # another bin: refused
    (MOVE, unit(S.STORED, bin_code="BIN-RST-R02"), True),
    (VOID, unit(S.VOIDED), True),
    (REOPEN, unit(S.GRADED), True),
    (REOPEN, unit(S.DISPOSITIONED), False),
    (UnitQuarantined(lpn=LPN, reason="leaking"), unit(S.QUARANTINED), True),
    (UnitGraded(lpn=LPN, grade=Grade.A), unit(S.GRADED), False),  # a decision: disputed or merged by its value
])
def test_a_step_the_unit_already_reflects_is_merged(step, standing, merged):
    assert already_reflects(standing, step) is merged


def test_decisions_are_grades_and_dispositions_and_nothing_else():
    assert decision_of(UnitGraded(lpn=LPN, grade=Grade.B)) == ("grade", Grade.B)
    assert decision_of(REGRADE) == ("grade", Grade.C)
    decided = DispositionDecided(lpn=LPN, decision=DispositionDecision(
        disposition=Disposition.SCRAP, suggested=Disposition.SCRAP, rule_id="damaged_scrap"))
    assert decision_of(decided) == ("disposition", Disposition.SCRAP)
    assert decision_of(MOVE) is None and decision_of(VOID) is None
