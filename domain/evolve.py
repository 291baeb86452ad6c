"""How each event changes a return unit: the one place both commands (to validate) and
projections (to apply) ask, so a device's checks and its replay can never disagree."""

from __future__ import annotations

from .codes import BIN_TYPE_FOR_DISPOSITION, PROCESSING_BIN_TYPES, BinType, Disposition, Grade, UnitState
from .entities import Bin, ReturnUnit
from .errors import BinTypeMismatch, InvalidInput
from .events import (
    BlindReceipt,
    DispositionDecided,
    ExceptionResolved,
    InspectionRecorded,
    QuarantineReleased,
    RmaReceipt,
    UnitGraded,
    UnitQuarantined,
    UnitStored,
)
from .units import UnitEvent, advance

UnitPayload = (
    InspectionRecorded | UnitGraded | DispositionDecided | UnitStored | UnitQuarantined
    | QuarantineReleased | ExceptionResolved
)


def received_unit(payload: RmaReceipt | BlindReceipt, *, reason_code: str) -> ReturnUnit:
    """The unit a receipt creates; an RMA receipt takes its reason from the RMA line."""
    return ReturnUnit(
        lpn=payload.lpn,
        sku=payload.sku,
        rma_id=payload.rma_id if isinstance(payload, RmaReceipt) else None,
        line_no=payload.line_no if isinstance(payload, RmaReceipt) else None,
        serial=payload.serial,
        lot=payload.lot,
        expiry=payload.expiry,
        reason_code=reason_code,
        state=UnitState.RECEIVED,
        bin_code=payload.bin_code,
    )


def evolve(unit: ReturnUnit, payload: UnitPayload) -> ReturnUnit:
    """The unit after `payload`; raises IllegalTransition when its state does not allow it."""
    match payload:
        case InspectionRecorded(inspection=inspection):
            return advance(unit, UnitEvent.INSPECT, condition_codes=inspection.condition_codes)
        case UnitGraded(grade=grade):
            return advance(unit, UnitEvent.GRADE, grade=grade)
        case DispositionDecided(decision=decision):
            # Deciding "quarantine" puts the unit on hold rather than on its way to a bin.
            event = UnitEvent.QUARANTINE if decision.disposition is Disposition.QUARANTINE else UnitEvent.DECIDE
            return advance(unit, event, disposition=decision.disposition)
        case UnitStored(bin_code=bin_code):
            return advance(unit, UnitEvent.STORE, bin_code=bin_code)
        case UnitQuarantined():
            return advance(unit, UnitEvent.QUARANTINE)
        case QuarantineReleased():
            return advance(unit, UnitEvent.RELEASE)
        case ExceptionResolved(grade=grade, disposition=disposition):
            changes = {k: v for k, v in (("grade", grade), ("disposition", disposition)) if v is not None}
            return advance(unit, UnitEvent.RESOLVE, **changes)
    raise TypeError(f"not a unit event: {payload!r}")


def required_bin_type(unit: ReturnUnit) -> BinType:
    """The bin type `unit` must be stored in now."""
    if unit.state is UnitState.QUARANTINED:
        return BinType.QUARANTINE
    assert unit.disposition is not None, "the state machine stores only dispositioned or quarantined units"
    return BIN_TYPE_FOR_DISPOSITION[unit.disposition]


def check_store_bin(unit: ReturnUnit, bin_: Bin) -> None:
    required = required_bin_type(unit)
    if bin_.type is not required:
        what = "a quarantined unit" if unit.state is UnitState.QUARANTINED else f"disposition {unit.disposition.value}"
        raise BinTypeMismatch(bin_.code, bin_.type.value, required.value, what)


def check_receiving_bin(bin_: Bin) -> None:
    if bin_.type not in PROCESSING_BIN_TYPES:
        raise BinTypeMismatch(bin_.code, bin_.type.value, "dock or inspection", "receiving")


# The exceptions a supervisor settles by choosing a grade or disposition; their unit waits, disputed.
DECISION_EXCEPTIONS = ("dispute", "override_approval")


def resolution_resumes(kind: str, unit: ReturnUnit | None, *, grade: Grade | None = None,
                       disposition: Disposition | None = None) -> bool:
    """Whether settling an exception of `kind` resumes its disputed `unit` (with the choice, if any).
    Refuses a choice that cannot be applied, so that none is ever dropped: one for an exception
    settled with a note only, or one that differs from what stands on a unit that is not disputed."""
    decides = kind in DECISION_EXCEPTIONS
    if (grade or disposition) and not decides:
        raise InvalidInput(f"a {kind.replace('_', ' ')} exception is closed with a note, not a grade or disposition")
    if not decides or unit is None:
        return False
    if unit.state is UnitState.DISPUTED:
        return True
    if (grade and grade is not unit.grade) or (disposition and disposition is not unit.disposition):
        raise InvalidInput(f"{unit.lpn} is {unit.state.value}, not disputed: only its standing "
                           f"{'grade' if grade else 'disposition'} can be kept here")
    return False
