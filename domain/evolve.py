"""How each event changes a return unit: the one place both commands (to validate) and
projections (to apply) ask, so a device's checks and its replay can never disagree.

Corrections ("undo the last step") are events like any other, never edits of the log. Changing a
disposition is modelled as reopening it (DispositionReopened: dispositioned -> graded) followed by
an ordinary DispositionDecided, rather than one "disposition changed" event carrying the new
decision: the new decision then goes through exactly the same rules, override reasons, approvals
and server checks as every decision, and undoing a step always returns the unit to the state
before that step, as a regrade and a voided receipt do too.
"""

from __future__ import annotations

from enum import StrEnum

from .codes import BIN_TYPE_FOR_DISPOSITION, PROCESSING_BIN_TYPES, BinType, Disposition, Grade, UnitState
from .conflicts import ExceptionKind
from .entities import Bin, ReturnUnit
from .errors import BinTypeMismatch, IllegalTransition, InvalidInput
from .events import (
    BlindReceipt,
    DispositionDecided,
    DispositionReopened,
    ExceptionResolved,
    InspectionRecorded,
    QuarantineReleased,
    ReceiptVoided,
    RmaReceipt,
    UnitGraded,
    UnitMoved,
    UnitQuarantined,
    UnitRegraded,
    UnitStored,
)
from .labels import bin_type_of
from .units import UnitEvent, advance
from .words import N_

UnitPayload = (
    InspectionRecorded | UnitGraded | DispositionDecided | UnitStored | UnitQuarantined
    | QuarantineReleased | ExceptionResolved | ReceiptVoided | UnitRegraded | DispositionReopened | UnitMoved
)


def received_unit(payload: RmaReceipt | BlindReceipt, *, line_reason: str | None = None) -> ReturnUnit:
    """The unit a receipt creates. Its reason is the customer's: on an RMA receipt, the one its RMA
    line gives (`line_reason`, required); on a blind receipt, the one the associate chose."""
    if isinstance(payload, RmaReceipt) and line_reason is None:
        raise InvalidInput(f"RMA {payload.rma_id} line {payload.line_no} gives no reason: it is not known here")
    return ReturnUnit(
        lpn=payload.lpn,
        sku=payload.sku,
        rma_id=payload.rma_id if isinstance(payload, RmaReceipt) else None,
        line_no=payload.line_no if isinstance(payload, RmaReceipt) else None,
        serial=payload.serial,
        lot=payload.lot,
        expiry=payload.expiry,
        reason_code=line_reason if isinstance(payload, RmaReceipt) else payload.reason_code,
        state=UnitState.RECEIVED,
        bin_code=payload.bin_code,
    )


def lpn_is_free(unit: ReturnUnit | None) -> bool:
    """Whether a receipt may put a new unit under this LPN: none holds it, or its receipt was voided."""
    return unit is None or unit.state is UnitState.VOIDED


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
        case ReceiptVoided():
            return advance(unit, UnitEvent.VOID)
        case UnitRegraded(grade=grade):
            return advance(unit, UnitEvent.REGRADE, grade=grade, disposition=None)
        case DispositionReopened():
            return advance(unit, UnitEvent.REOPEN, disposition=None)
        case UnitMoved(bin_code=bin_code):
            if unit.state is UnitState.QUARANTINED and bin_type_of(unit.bin_code) is not BinType.QUARANTINE:
                raise IllegalTransition(unit.lpn, unit.state.value, UnitEvent.MOVE.value,
                                        "a quarantined unit is put away in a quarantine bin before it is moved")
            return advance(unit, UnitEvent.MOVE, bin_code=bin_code)
    raise TypeError(f"not a unit event: {payload!r}")


class Correction(StrEnum):
    """The one correction a unit's current state offers: its last step undone."""

    VOID_RECEIPT = "void_receipt"
    REGRADE = "regrade"
    REOPEN_DISPOSITION = "reopen_disposition"
    MOVE = "move"

    @property
    def label(self) -> str:
        """What the handheld's Undo button says (in English: the app translates it where shown)."""
        return _CORRECTION_LABELS[self]


_CORRECTION_LABELS = {
    Correction.VOID_RECEIPT: N_("Void this receipt"),
    Correction.REGRADE: N_("Change the grade"),
    Correction.REOPEN_DISPOSITION: N_("Change the disposition"),
    Correction.MOVE: N_("Move to another bin"),
}
_LAST_STEP_CORRECTION = {
    UnitState.RECEIVED: Correction.VOID_RECEIPT,
    UnitState.GRADED: Correction.REGRADE,
    UnitState.DISPOSITIONED: Correction.REOPEN_DISPOSITION,
    UnitState.STORED: Correction.MOVE,
}


def correction_for(unit: ReturnUnit) -> Correction | None:
    """The correction that undoes `unit`'s last step, or None when it has none (an inspection, a
    hold, a dispute or a closed unit is not undone from the handheld). A dispositioned unit may also
    be regraded (UnitRegraded); its last step, the disposition, is what Undo offers."""
    if unit.state is UnitState.QUARANTINED and bin_type_of(unit.bin_code) is BinType.QUARANTINE:
        return Correction.MOVE
    return _LAST_STEP_CORRECTION.get(unit.state)


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
DECISION_EXCEPTIONS = (ExceptionKind.DISPUTE, ExceptionKind.OVERRIDE_APPROVAL)


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
