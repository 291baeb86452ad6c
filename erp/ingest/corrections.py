"""Corrections on the push path: a receipt voided, a unit regraded, a disposition reopened, a
unit moved. Each is a new event, judged like every step (steps._apply): refused by
the state machine against the server's state, it is merged when the unit already is what it
would make it, and rejected with the reason otherwise. Once the state machine allows it, this
module adds what only corrections need:

- a regrade or a reopening names the grade or disposition it corrects. When another device
  changed it meanwhile, the correction starts from a decision that no longer stands: a regrade to
  what stands now is merged, another one disputes the unit as two different decisions do; a
  reopening is rejected (the device's next decision is then judged against what stands);
- a voided receipt leaves stock (see Batch.write_unit) and its RMA line's received count, and
  frees its serial for a new receipt;
- a move is a physical fact, checked against the bin policy as a store is.
"""

from __future__ import annotations

from domain import DispositionReopened, Event, ReceiptVoided, ReturnUnit, UnitMoved, UnitRegraded
from domain.conflicts import APPLIED, ConflictRule, Outcome, Verdict

from .batch import Batch
from .verdicts import check_store_policy, dispute

CORRECTIONS = (ReceiptVoided, UnitRegraded, DispositionReopened, UnitMoved)


def apply(batch: Batch, event: Event, unit: ReturnUnit, changed: ReturnUnit) -> Verdict:
    """Apply a correction the state machine allows on `unit` (`changed` is the unit after it)."""
    outcome = APPLIED
    match event.payload:
        case UnitRegraded(grade=grade, previous_grade=previous) if unit.grade is not previous:
            if unit.grade is grade:
                return Verdict(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                               f"grade {grade.value} was already recorded by another device")
            return dispute(batch, event, unit, "grade", grade)
        case DispositionReopened(previous_disposition=previous) if unit.disposition is not previous:
            return Verdict(Outcome.REJECTED, ConflictRule.INVALID_TRANSITION,
                           f"the disposition of {unit.lpn} is {unit.disposition.value}, not {previous.value}: "
                           "another device changed it meanwhile")
        case ReceiptVoided():
            _take_back_receipt(batch, unit)
        case UnitMoved() as moved:
            outcome = check_store_policy(batch, event, unit, moved)
    batch.write_unit(unit, changed, event)
    return outcome


def _take_back_receipt(batch: Batch, unit: ReturnUnit) -> None:
    """Undo what a receipt counted: its RMA line's received quantity (counted only when the unit is
    the line's item) and its serial, which a new receipt may then carry without a duplicate."""
    if unit.rma_id is not None:
        line = batch.rma_line(unit.rma_id, unit.line_no)
        if line is not None and line.sku == unit.sku:
            batch.rma_received[(unit.rma_id, unit.line_no)] -= 1
    if unit.serial and batch.serials.get((unit.sku, unit.serial)) == unit.lpn:
        del batch.serials[(unit.sku, unit.serial)]
