"""The conflict rules of DESIGN.md as pure functions: given what the server holds and what a device
sent, the verdict (domain.conflicts.Verdict). The push path (erp/ingest/) reads the state these
need and applies what they decide; nothing here reads or writes anything.

Physical facts are never rejected (the item is where it is); decisions can be disputed; policy
breaches become exceptions; nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .codes import RECEIVABLE_RMA_STATES, Disposition, Grade, Role, RmaState, UnitState
from .conflicts import APPLIED, ConflictRule, ExceptionKind, Outcome, Verdict
from .entities import Bin, ReturnUnit
from .errors import BinTypeMismatch, IllegalTransition
from .events import (
    BlindReceipt,
    DispositionDecided,
    DispositionReopened,
    InspectionRecorded,
    ReceiptVoided,
    RmaReceipt,
    UnitGraded,
    UnitMoved,
    UnitQuarantined,
    UnitRegraded,
    UnitStored,
)
from .evolve import UnitPayload, check_store_bin, lpn_is_free
from .roles import Permission, can
from .units import TRANSITIONS, UnitEvent


def actor_verdict(actor: str, role: Role, permission: Permission, *, held_role: Role | None,
                  active: bool) -> Verdict | None:
    """An event whose actor does not hold the role it names, is not active, or whose role may not
    do this: rejected (and audited as a security event). `held_role`: the role the server knows
    for the actor (None: an unknown person)."""
    if held_role is None or not active or held_role is not role or not can(role, permission):
        return Verdict(Outcome.REJECTED, ConflictRule.ACTOR_LACKS_ROLE,
                       f"{actor} ({role.value}) may not {permission.value.replace('_', ' ')}")
    return None


def decision_of(payload: object) -> tuple[str, Grade | Disposition] | None:
    """The decision a step records, as (the unit's field, the value): two devices that decide
    differently on one unit dispute it."""
    if isinstance(payload, UnitGraded | UnitRegraded):
        return "grade", payload.grade
    if isinstance(payload, DispositionDecided):
        return "disposition", payload.decision.disposition
    return None


def already_reflects(unit: ReturnUnit, payload: UnitPayload) -> bool:
    """Whether the unit already is what this step would make it: the same physical step recorded by
    two devices (the second one refused by the state machine) is one fact, merged."""
    match payload:
        case UnitStored(bin_code=code) | UnitMoved(bin_code=code):
            return unit.state in (UnitState.STORED, UnitState.QUARANTINED) and unit.bin_code == code
        case ReceiptVoided():
            return unit.state is UnitState.VOIDED
        case DispositionReopened():
            return unit.state is UnitState.GRADED and unit.disposition is None
        case UnitQuarantined():
            return unit.state is UnitState.QUARANTINED
        case InspectionRecorded(inspection=inspection):
            return unit.state is UnitState.INSPECTED and unit.condition_codes == inspection.condition_codes
    return False


def rival_decision(unit: ReturnUnit, payload: UnitPayload, base_version: int) -> tuple[str, Grade | Disposition] | None:
    """A decision that differs from one another device made first (the event was made on an older
    version of the unit), on a unit that may be disputed: (field, the value proposed). Only such a
    unit is: a quarantined or disputed one already waits for a supervisor, a closed one is done, so
    those refuse the decision like any other invalid step (refused_step_verdict)."""
    decision = decision_of(payload)
    if decision is None:
        return None
    current = getattr(unit, decision[0])
    rival = current is not None and current != decision[1] and base_version < (unit.server_version or 0)
    if rival and (unit.state in (UnitState.QUARANTINED, UnitState.DISPUTED)
                  or (unit.state, UnitEvent.DISPUTE) in TRANSITIONS):
        return decision
    return None


def dispute_verdict(unit: ReturnUnit, field_name: str, value: Grade | Disposition, *, proposed_by: str,
                    proposed_device: str, proposed_at: dt.datetime) -> Verdict:
    """Two different decisions: the first stands, the unit waits disputed (where its state allows),
    and a supervisor weighs both sides, knowing who proposed the second."""
    current = getattr(unit, field_name)
    return Verdict(Outcome.CONFLICT, ConflictRule.DIFFERENT_DECISIONS,
                   f"{field_name} {value} differs from {current} decided first; a supervisor decides",
                   (ExceptionKind.DISPUTE, {"lpn": unit.lpn, "field": field_name, "standing": str(current),
                                            "proposed": str(value), "proposed_by": proposed_by,
                                            "proposed_device": proposed_device,
                                            "proposed_at": proposed_at.isoformat()}))


def refused_step_verdict(unit: ReturnUnit, payload: UnitPayload, refused: IllegalTransition) -> Verdict:
    """A step the state machine refuses on the server's unit (and that is no rival decision): merged
    when the unit already is what the step would make it, rejected with the reason otherwise."""
    decision = decision_of(payload)
    if decision is not None and getattr(unit, decision[0]) == decision[1]:
        return Verdict(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                       f"{decision[0]} {decision[1]} was already recorded by another device")
    if already_reflects(unit, payload):
        return Verdict(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                       f"{payload.type.value.replace('_', ' ')} was already recorded by another device")
    return Verdict(Outcome.REJECTED, ConflictRule.INVALID_TRANSITION, str(refused))


def store_verdict(unit: ReturnUnit, bin_: Bin, *, reassigned_at: dt.datetime | None,
                  stored_at: dt.datetime) -> Verdict:
    """A unit stored or moved into a bin (a physical fact, always kept): an exception when the bin is
    of the wrong type, or was re-purposed after the step (`stored_at`, on the server's clock)."""
    try:
        check_store_bin(unit, bin_)
    except BinTypeMismatch as mismatch:
        return Verdict(Outcome.CONFLICT, ConflictRule.BIN_TYPE_MISMATCH, str(mismatch),
                       (ExceptionKind.BIN_POLICY_VIOLATION, {"lpn": unit.lpn, "bin_code": bin_.code,
                                                             "required": mismatch.required}))
    if reassigned_at is not None and reassigned_at > stored_at:
        return Verdict(Outcome.CONFLICT, ConflictRule.BIN_REASSIGNED_OFFLINE,
                       f"bin {bin_.code} was reassigned ({bin_.purpose}) while this device was offline",
                       (ExceptionKind.BIN_POLICY_VIOLATION, {"lpn": unit.lpn, "bin_code": bin_.code,
                                                             "purpose": bin_.purpose}))
    return APPLIED


@dataclass(frozen=True, slots=True)
class LineSoFar:
    """An RMA line as a receipt against it finds it: its item, its RMA's state, how many units it
    expects and how many were received before this one."""

    sku: str
    rma_state: RmaState
    expected: int
    received: int


def receipt_verdict(receipt: RmaReceipt | BlindReceipt, *, existing: ReturnUnit | None, line: LineSoFar | None,
                    package_is_rma: bool = False, first_with_serial: str | None = None) -> Verdict:
    """A receipt: a physical fact, kept whenever its references exist, with at most one exception.

    `existing`: the unit the server holds under the receipt's LPN, if any; `line`: the RMA line of an
    RMA receipt (None: the server knows no such line); `package_is_rma`: a blind receipt's package
    reference is an RMA; `first_with_serial`: the LPN a unit with the same item and serial was
    received as before."""
    if not lpn_is_free(existing):
        # Two devices recorded the same receipt only if every fact of it agrees; otherwise one
        # license plate is on two physical units.
        facts = (receipt.sku, receipt.serial, receipt.lot, getattr(receipt, "rma_id", None),
                 getattr(receipt, "line_no", None))
        same = (existing.sku, existing.serial, existing.lot, existing.rma_id, existing.line_no) == facts and (
            isinstance(receipt, RmaReceipt) or existing.reason_code == receipt.reason_code)
        if same:
            return Verdict(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED, "already received by another device")
        return Verdict(Outcome.CONFLICT, ConflictRule.LPN_REUSED,
                       f"license plate {receipt.lpn} is already on unit {existing.sku}",
                       (ExceptionKind.DUPLICATE_LPN, {"lpn": receipt.lpn, "existing_sku": existing.sku,
                                                      "new_sku": receipt.sku}))
    verdict = APPLIED
    if isinstance(receipt, RmaReceipt):
        if line is None:
            return Verdict(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE,
                           f"unknown RMA line {receipt.rma_id}/{receipt.line_no}")
        verdict = _line_verdict(receipt, line)
    elif receipt.package_ref and package_is_rma:
        # Received blind out of an RMA's package: the item is on none of its lines (applied, with an
        # exception: the handheld already flagged it to the associate).
        verdict = Verdict(Outcome.APPLIED, ConflictRule.RECEIPT_NOT_ON_RMA,
                          f"{receipt.sku} is on no line of {receipt.package_ref}: kept for a supervisor to review",
                          (ExceptionKind.NOT_ON_RMA, {"lpn": receipt.lpn, "sku": receipt.sku,
                                                      "rma_id": receipt.package_ref}))
    if first_with_serial is None:
        return verdict
    if verdict.exception is None:
        return Verdict(Outcome.CONFLICT, ConflictRule.DUPLICATE_SERIAL,
                       f"serial {receipt.serial} was already received as {first_with_serial}",
                       (ExceptionKind.DUPLICATE_SERIAL, {"lpn": receipt.lpn, "serial": receipt.serial,
                                                         "first_lpn": first_with_serial}))
    # One exception per event: the one opened names the serial's first unit too.
    kind, detail = verdict.exception
    return Verdict(verdict.outcome, verdict.rule, verdict.reason,
                   (kind, {**detail, "serial": receipt.serial, "first_lpn": first_with_serial}))


def counts_on_line(receipt: RmaReceipt, line: LineSoFar) -> bool:
    """Whether a receipt counts as one of its line's units: only when it is the line's item."""
    return line.sku == receipt.sku


def _line_verdict(receipt: RmaReceipt, line: LineSoFar) -> Verdict:
    if not counts_on_line(receipt, line):
        # The device checks the item against its copy of the RMA, which the ERP may have changed
        # since: the unit is where it is, but it is not what the line expects.
        return Verdict(Outcome.CONFLICT, ConflictRule.RECEIPT_WRONG_ITEM,
                       f"line {receipt.line_no} of {receipt.rma_id} expects {line.sku}, not {receipt.sku}; "
                       "receipt kept for review, not counted on the line",
                       (ExceptionKind.WRONG_ITEM, {"lpn": receipt.lpn, "rma_id": receipt.rma_id,
                                                   "line_no": receipt.line_no, "expected_sku": line.sku,
                                                   "received_sku": receipt.sku}))
    if line.rma_state not in RECEIVABLE_RMA_STATES:
        return Verdict(Outcome.CONFLICT, ConflictRule.RECEIPT_ON_CLOSED_RMA,
                       f"RMA {receipt.rma_id} is {line.rma_state.value}; receipt kept for review",
                       (ExceptionKind.RMA_NOT_RECEIVABLE, {"lpn": receipt.lpn, "rma_id": receipt.rma_id,
                                                           "state": line.rma_state.value}))
    received = line.received + 1
    if received > line.expected:
        # Applied, with an exception: the handheld already flagged it to the associate.
        return Verdict(Outcome.APPLIED, ConflictRule.RECEIPT_OVER_LINE,
                       f"line {receipt.line_no} of {receipt.rma_id} expects {line.expected}, this is unit {received}: "
                       "kept and counted, for a supervisor to review",
                       (ExceptionKind.OVER_RECEIPT, {"lpn": receipt.lpn, "rma_id": receipt.rma_id,
                                                     "line_no": receipt.line_no, "expected": line.expected,
                                                     "received": received}))
    return APPLIED
