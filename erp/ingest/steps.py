"""Each event applied to a push's batch: authorised, then judged by its type (a receipt, a step the
state machine allows or refuses, a correction, a bin re-purposed or counted, an exception closed),
its unit changed and its result, exception, audit entry and feed changes staged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from domain import (
    BinCounted,
    BinReassigned,
    BlindReceipt,
    DispositionDecided,
    Event,
    ExceptionResolved,
    IllegalTransition,
    InvalidInput,
    ReturnUnit,
    RmaReceipt,
    RmaState,
    UnitStored,
    suggest,
)
from domain.bins import check_reassignment
from domain.codes import UnitState
from domain.conflicts import APPLIED, ConflictRule, ExceptionKind, Outcome, Verdict
from domain.evolve import evolve, lpn_is_free, received_unit, resolution_resumes
from domain.units import TRANSITIONS, UnitEvent, advance
from domain.verdicts import LineSoFar, counts_on_line, receipt_verdict

from .. import tables as t
from . import corrections
from .batch import Batch, Result, unit_from_row
from .verdicts import authorize, check_store_policy, refused_transition


def apply(batch: Batch, event: Event, head: tuple[Any, ...]) -> Result:
    """Apply one event; `head` is its row from turns._event_heads()."""
    result = authorize(batch, event) or _apply(batch, event)
    exception_id = None
    if result.exception:
        kind, detail = result.exception
        exception_id = batch.open_exception(kind, event, detail)
    if result.rule:
        batch.audit(result.rule, event, {"outcome": result.outcome.value, "reason": result.reason,
                                         "exception_id": exception_id})
    event_id = head[0]
    batch.event_rows.append((*head, result.outcome, result.rule, exception_id, result.reason))
    if result.outcome is Outcome.REJECTED or result.outcome is Outcome.CONFLICT:
        batch.publish(event.device_id, "result", event_id, {
            "device_seq": event.device_seq, "outcome": result.outcome.value, "rule": result.rule,
            "reason": result.reason, "exception_id": exception_id})
    outcome: Result = (event_id, event.device_seq, result.outcome, result.rule, exception_id, result.reason)
    batch.results.append(outcome)
    return outcome


def _apply(batch: Batch, event: Event) -> Verdict:
    payload = event.payload
    match payload:
        case RmaReceipt() | BlindReceipt():
            return _receive(batch, event, payload)
        case BinReassigned():
            return reassign(batch, event, payload)
        case BinCounted():
            return _count(batch, event, payload)
        case ExceptionResolved(lpn=None):
            return _resolve_exception_only(batch, event, payload)
    unit = batch.unit(payload.lpn)
    if unit is None:
        return Verdict(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unit {payload.lpn} was never received")
    if isinstance(payload, ExceptionResolved) and not batch.is_open_exception_of(payload.exception_id, unit.lpn):
        return Verdict(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE,
                       f"no open exception {payload.exception_id} about unit {unit.lpn}")
    try:
        changed = evolve(unit, payload)
    except IllegalTransition as refused:
        return refused_transition(batch, event, unit, refused)
    if isinstance(payload, corrections.CORRECTIONS):
        return corrections.apply(batch, event, unit, changed)
    if isinstance(payload, DispositionDecided):
        unapproved = _unapproved_override(batch, unit, changed, payload)
        if unapproved is not None:
            return unapproved
    outcome = APPLIED
    if isinstance(payload, UnitStored):
        outcome = check_store_policy(batch, event, unit, payload)
    if isinstance(payload, ExceptionResolved):
        batch.close_exception(payload, event.actor)
    batch.write_unit(unit, changed, event)
    return outcome


def _unapproved_override(batch: Batch, unit: ReturnUnit, decided: ReturnUnit, payload: DispositionDecided
                         ) -> Verdict | None:
    """Re-check a device's decision with the server's rules. An override the rules want approved,
    sent without approval, is still recorded, but the unit waits for a supervisor."""
    decision = payload.decision
    if decision.approved_by or unit.grade is None or (decided.state, UnitEvent.DISPUTE) not in TRANSITIONS:
        return None
    try:
        rule = suggest(batch.rules(), category=batch.category(unit.sku), grade=unit.grade,
                       reason_code=unit.reason_code, condition_codes=unit.condition_codes)
    except InvalidInput:  # no server rule covers it: nothing to enforce
        return None
    if decision.disposition is rule.disposition or not rule.override_needs_approval:
        return None
    batch.write_unit(unit, advance(decided, UnitEvent.DISPUTE), None)
    return Verdict(Outcome.CONFLICT, ConflictRule.OVERRIDE_NEEDS_APPROVAL,
                   f"{decision.disposition.value} instead of {rule.disposition.value} needs a supervisor's "
                   f"approval (rule {rule.rule_id}); the unit waits for one",
                   (ExceptionKind.OVERRIDE_APPROVAL, {"lpn": unit.lpn, "rule_id": rule.rule_id,
                                                      "suggested": rule.disposition.value,
                                                      "chosen": decision.disposition.value}))


def _receive(batch: Batch, event: Event, payload: RmaReceipt | BlindReceipt) -> Verdict:
    if payload.sku not in batch.categories:
        return Verdict(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unknown item {payload.sku}")
    existing = batch.unit(payload.lpn)
    row = line = None
    if isinstance(payload, RmaReceipt) and (row := batch.rma_lines.get((payload.rma_id, payload.line_no))):
        line = LineSoFar(row.sku, RmaState(row.state), row.expected_qty,
                         row.received_qty + batch.rma_received[(payload.rma_id, payload.line_no)])
    package_is_rma = (isinstance(payload, BlindReceipt) and bool(payload.package_ref)
                      and batch.is_rma(payload.package_ref))
    verdict = receipt_verdict(
        payload, existing=existing, line=line, package_is_rma=package_is_rma,
        first_with_serial=batch.serials.get((payload.sku, payload.serial)) if payload.serial else None)
    if not lpn_is_free(existing) or verdict.outcome is Outcome.REJECTED:
        return verdict  # nothing received: the LPN holds another receipt, or the line is unknown
    if line is not None:
        if counts_on_line(payload, line):
            batch.rma_received[(payload.rma_id, payload.line_no)] += 1
        batch.rma_first_receipt.setdefault(payload.rma_id, batch.physical_time(event))
    if payload.serial:
        batch.serials.setdefault((payload.sku, payload.serial), payload.lpn)
    if existing is None:  # otherwise a voided receipt's row takes the new one
        batch.new_units.add(payload.lpn)
    batch.write_unit(existing, received_unit(payload, line_reason=row.reason_code if row else None), event)
    return verdict


def reassign(batch: Batch, event: Event | None, payload: BinReassigned) -> Verdict:
    row = batch.bin(payload.bin_code)
    target = batch.bin(payload.move_contents_to) if payload.move_contents_to else None
    try:
        check_reassignment(batch.bin_model(row), batch.bin_model(target) if target is not None else None)
    except InvalidInput as refused:
        return Verdict(Outcome.REJECTED, ConflictRule.INVALID_TRANSITION, str(refused))
    batch.conn.execute(update(t.bins).where(t.bins.c.code == row.code).values(
        purpose=payload.purpose, zone=payload.zone, owner=payload.owner, version=t.bins.c.version + 1,
        reassigned_at=batch.received_at))
    batch.forget_bin(row.code)
    batch.publish(None, "bin", row.code, {
        "code": row.code, "purpose": payload.purpose, "zone": payload.zone, "owner": payload.owner})
    if payload.move_contents_to:
        batch.flush_units()
        for r in batch.conn.execute(select(t.units).where(t.units.c.bin_code == row.code)):
            unit = batch.units.get(r.lpn) or unit_from_row(r)
            batch.write_unit(unit, unit.model_copy(update={"bin_code": payload.move_contents_to}), event)
    return APPLIED


def _count(batch: Batch, event: Event, payload: BinCounted) -> Verdict:
    """Record counted against what the server expects in the bin at this point of the log."""
    batch.flush_units()
    expected = dict(batch.conn.execute(select(t.units.c.sku, func.count()).where(
        t.units.c.bin_code == payload.bin_code, t.units.c.state != UnitState.VOIDED).group_by(t.units.c.sku)).all())
    batch.count_rows.extend(
        {"event_id": str(event.event_id), "bin_code": payload.bin_code, "sku": sku,
         "counted": payload.counts.get(sku, 0), "expected": expected.get(sku, 0),
         "counted_at": batch.physical_time(event)}
        for sku in sorted(expected.keys() | payload.counts.keys()))
    return APPLIED


def _resolve_exception_only(batch: Batch, event: Event, payload: ExceptionResolved) -> Verdict:
    """A supervisor closes an exception on a device without choosing a grade or disposition."""
    row = batch.conn.execute(select(t.exceptions.c.kind, t.exceptions.c.lpn, t.exceptions.c.bin_code).where(
        t.exceptions.c.exception_id == payload.exception_id, t.exceptions.c.status == "open")).first()
    if row is None:
        return Verdict(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"no open exception {payload.exception_id}")
    unit = batch.unit(row.lpn) if row.lpn else None
    code = unit.bin_code if unit is not None else row.bin_code
    where = batch.bin(code) if code else None
    if where is not None and where.site_id != batch.device.site_id:
        return Verdict(Outcome.REJECTED, ConflictRule.WRONG_SITE, f"exception {payload.exception_id} is about "
                       f"site {where.site_id}, not this device's site {batch.device.site_id}")
    batch.close_exception(payload, event.actor)
    if resolution_resumes(row.kind, unit):
        # Closed without a choice (the device had not pulled the dispute yet): what stands stays.
        batch.write_unit(unit, evolve(unit, payload.model_copy(update={"lpn": unit.lpn})), event)
    return APPLIED
