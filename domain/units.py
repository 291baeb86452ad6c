"""The return unit's state machine: an explicit transition table and the one function that applies it."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from .codes import UnitState
from .entities import ReturnUnit
from .errors import IllegalTransition


class UnitEvent(StrEnum):
    INSPECT = "inspect"
    GRADE = "grade"
    DECIDE = "decide"
    STORE = "store"
    QUARANTINE = "quarantine"
    RELEASE = "release"
    DISPUTE = "dispute"
    RESOLVE = "resolve"
    CLOSE = "close"
    # Corrections of a unit's last step (see domain.evolve.correction_for).
    VOID = "void"
    REGRADE = "regrade"
    REOPEN = "reopen"
    MOVE = "move"


class _Resume:
    """Target of release and resolution: the state the hold or dispute interrupted."""

    def __repr__(self) -> str:
        return "RESUME"


RESUME: Final = _Resume()

S = UnitState
E = UnitEvent
_BEFORE_STORED = (S.RECEIVED, S.INSPECTED, S.GRADED, S.DISPOSITIONED)

# Receipt creates a unit in RECEIVED; every later move is listed here and nowhere else.
TRANSITIONS: Final[dict[tuple[UnitState, UnitEvent], UnitState | _Resume]] = {
    (S.RECEIVED, E.INSPECT): S.INSPECTED,
    (S.INSPECTED, E.GRADE): S.GRADED,
    (S.GRADED, E.DECIDE): S.DISPOSITIONED,
    (S.DISPOSITIONED, E.STORE): S.STORED,
    # A quarantined unit is put away in a quarantine bin and stays on hold.
    (S.QUARANTINED, E.STORE): S.QUARANTINED,
    **{(state, E.QUARANTINE): S.QUARANTINED for state in _BEFORE_STORED},
    (S.QUARANTINED, E.RELEASE): RESUME,
    # The server disputes a unit when two devices decided differently; a supervisor resolves it.
    # A quarantined unit already waits for a supervisor, so it is not disputed on top.
    **{(state, E.DISPUTE): S.DISPUTED for state in (*_BEFORE_STORED, S.STORED)},
    (S.DISPUTED, E.RESOLVE): RESUME,
    (S.STORED, E.CLOSE): S.CLOSED,
    # Corrections. A receipt is voided only while nothing else was done to the unit.
    (S.RECEIVED, E.VOID): S.VOIDED,
    # Before storage a grade may change; a dispositioned unit is then decided again.
    (S.GRADED, E.REGRADE): S.GRADED,
    (S.DISPOSITIONED, E.REGRADE): S.GRADED,
    (S.DISPOSITIONED, E.REOPEN): S.GRADED,
    # A stored unit moves between bins; a quarantined one stays on hold (evolve checks it is in a
    # quarantine bin already: until then it is stored, not moved).
    (S.STORED, E.MOVE): S.STORED,
    (S.QUARANTINED, E.MOVE): S.QUARANTINED,
}

_HOLDS = {E.QUARANTINE, E.DISPUTE}

# The step a unit in each state waits for on the normal path, receipt to stored (a quarantined unit:
# its put-away in a quarantine bin; a disputed one: a supervisor's resolution). Every one is a move
# of the table above; a state not listed waits for nothing.
NEXT_STEP: Final[dict[UnitState, UnitEvent]] = {
    S.RECEIVED: E.INSPECT, S.INSPECTED: E.GRADE, S.GRADED: E.DECIDE, S.DISPOSITIONED: E.STORE,
    S.QUARANTINED: E.STORE, S.DISPUTED: E.RESOLVE,
}


def allows(state: UnitState, event: UnitEvent) -> bool:
    """Whether a unit in `state` may take `event` (the table above, for a screen to offer it or not)."""
    return (state, event) in TRANSITIONS


def _why_refused(state: UnitState, event: UnitEvent) -> str:
    if state is S.CLOSED:
        return "the unit is closed"
    if state is S.VOIDED:
        return "its receipt was voided"
    if state is S.DISPUTED:
        return "the unit is disputed and waits for a supervisor"
    allowed = sorted(s.value for (s, e) in TRANSITIONS if e is event)
    return f"{event.value} needs the unit to be {' or '.join(allowed)}"


def next_state(unit: ReturnUnit, event: UnitEvent) -> UnitState:
    """The state `unit` moves to on `event`; raises IllegalTransition if the table has no such move."""
    target = TRANSITIONS.get((unit.state, event))
    if target is None:
        raise IllegalTransition(unit.lpn, unit.state.value, event.value, _why_refused(unit.state, event))
    if target is RESUME:
        assert unit.held_from is not None, "a held unit always records what it was held from"
        return unit.held_from
    return target  # type: ignore[return-value]


def advance(unit: ReturnUnit, event: UnitEvent, **changes: object) -> ReturnUnit:
    """The unit after `event`, with `changes` applied and the hold bookkeeping kept right."""
    state = next_state(unit, event)
    if event in _HOLDS:
        held_from = unit.state
    elif state is S.QUARANTINED:  # stored in a quarantine bin: still the same hold
        held_from = unit.held_from
    else:
        held_from = None
    return unit.model_copy(update={"state": state, "held_from": held_from, **changes})
