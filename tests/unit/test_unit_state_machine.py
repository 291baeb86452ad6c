"""Every allowed and every refused move of the return unit's transition table."""

from __future__ import annotations

import itertools

import pytest

from domain import RESUME, TRANSITIONS, IllegalTransition, ReturnUnit, UnitEvent, UnitState, advance, next_state
from domain.units import NEXT_STEP, allows

S, E = UnitState, UnitEvent

# The expected table, written out by hand from DESIGN.md so that a change to TRANSITIONS shows here.
EXPECTED: dict[tuple[UnitState, UnitEvent], UnitState | object] = {
    (S.RECEIVED, E.INSPECT): S.INSPECTED,
    (S.INSPECTED, E.GRADE): S.GRADED,
    (S.GRADED, E.DECIDE): S.DISPOSITIONED,
    (S.DISPOSITIONED, E.STORE): S.STORED,
    (S.QUARANTINED, E.STORE): S.QUARANTINED,
    (S.RECEIVED, E.QUARANTINE): S.QUARANTINED,
    (S.INSPECTED, E.QUARANTINE): S.QUARANTINED,
    (S.GRADED, E.QUARANTINE): S.QUARANTINED,
    (S.DISPOSITIONED, E.QUARANTINE): S.QUARANTINED,
    (S.QUARANTINED, E.RELEASE): RESUME,
    (S.RECEIVED, E.DISPUTE): S.DISPUTED,
    (S.INSPECTED, E.DISPUTE): S.DISPUTED,
    (S.GRADED, E.DISPUTE): S.DISPUTED,
    (S.DISPOSITIONED, E.DISPUTE): S.DISPUTED,
    (S.STORED, E.DISPUTE): S.DISPUTED,
    (S.DISPUTED, E.RESOLVE): RESUME,
    (S.STORED, E.CLOSE): S.CLOSED,
    (S.RECEIVED, E.VOID): S.VOIDED,
    (S.GRADED, E.REGRADE): S.GRADED,
    (S.DISPOSITIONED, E.REGRADE): S.GRADED,
    (S.DISPOSITIONED, E.REOPEN): S.GRADED,
    (S.STORED, E.MOVE): S.STORED,
    (S.QUARANTINED, E.MOVE): S.QUARANTINED,
}
ALL_PAIRS = list(itertools.product(UnitState, UnitEvent))
REFUSED = [pair for pair in ALL_PAIRS if pair not in EXPECTED]


def unit_in(state: UnitState, held_from: UnitState | None = None) -> ReturnUnit:
    if held_from is None and state in (S.QUARANTINED, S.DISPUTED):
        held_from = S.GRADED
    return ReturnUnit(lpn="LPN-0000000017", sku="ELE-10000", reason_code="defective", state=state,
                      held_from=held_from, bin_code="BIN-DCK-A01")


def test_table_is_exactly_the_expected_one():
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("state", "event"), list(EXPECTED), ids=lambda v: v.value)
def test_allowed_transition(state, event):
    target = EXPECTED[(state, event)]
    unit = unit_in(state)
    expected = unit.held_from if target is RESUME else target
    assert next_state(unit, event) is expected


@pytest.mark.parametrize(("state", "event"), REFUSED, ids=lambda v: v.value)
def test_refused_transition_names_unit_state_event_and_why(state, event):
    with pytest.raises(IllegalTransition) as refused:
        next_state(unit_in(state), event)
    error = refused.value
    assert (error.lpn, error.state, error.event) == ("LPN-0000000017", state.value, event.value)
    assert error.why
    assert "LPN-0000000017" in str(error) and state.value in str(error) and event.value in str(error)


def test_refusal_explains_a_closed_unit():
    with pytest.raises(IllegalTransition, match="the unit is closed"):
        next_state(unit_in(S.CLOSED), E.INSPECT)


def test_refusal_explains_a_voided_receipt():
    with pytest.raises(IllegalTransition, match="its receipt was voided"):
        next_state(unit_in(S.VOIDED), E.INSPECT)


def test_refusal_explains_a_disputed_unit():
    with pytest.raises(IllegalTransition, match="waits for a supervisor"):
        next_state(unit_in(S.DISPUTED), E.STORE)


def test_refusal_names_the_states_that_would_allow_the_event():
    with pytest.raises(IllegalTransition, match="store needs the unit to be dispositioned or quarantined"):
        next_state(unit_in(S.GRADED), E.STORE)


@pytest.mark.parametrize("held_from", [S.RECEIVED, S.INSPECTED, S.GRADED, S.DISPOSITIONED])
def test_quarantine_then_release_resumes_where_the_hold_began(held_from):
    held = advance(unit_in(held_from), E.QUARANTINE)
    assert (held.state, held.held_from) == (S.QUARANTINED, held_from)
    put_away = advance(held, E.STORE, bin_code="BIN-QUA-Q01")
    assert (put_away.state, put_away.held_from, put_away.bin_code) == (S.QUARANTINED, held_from, "BIN-QUA-Q01")
    released = advance(put_away, E.RELEASE)
    assert (released.state, released.held_from) == (held_from, None)


def test_dispute_then_resolution_resumes_with_the_chosen_decision():
    from domain import Grade

    disputed = advance(unit_in(S.GRADED).model_copy(update={"grade": Grade.B}), E.DISPUTE)
    assert (disputed.state, disputed.held_from) == (S.DISPUTED, S.GRADED)
    resolved = advance(disputed, E.RESOLVE, grade=Grade.C)
    assert (resolved.state, resolved.grade, resolved.held_from) == (S.GRADED, Grade.C, None)


def test_each_states_next_step_on_the_normal_path_is_a_move_of_the_table():
    assert all(allows(state, step) for state, step in NEXT_STEP.items())
    assert set(NEXT_STEP) == {s for s in UnitState if s not in (UnitState.STORED, UnitState.CLOSED, UnitState.VOIDED)}
    assert not allows(UnitState.STORED, UnitEvent.QUARANTINE) and allows(UnitState.GRADED, UnitEvent.QUARANTINE)
