"""The verdicts the push path gives an event beyond applying it: who may do it and where, a step
the state machine refuses (merged, disputed or rejected), two devices' different decisions, and
the bin policy of a store or a move. Each returns a Judgement (None: nothing against it)."""

from __future__ import annotations

from typing import Any

from domain import (
    EVENT_PERMISSION,
    BinTypeMismatch,
    BlindReceipt,
    DispositionDecided,
    Event,
    IllegalTransition,
    Permission,
    ReturnUnit,
    RmaReceipt,
    Role,
    UnitMoved,
    UnitStored,
    can,
)
from domain.codes import UnitState
from domain.conflicts import ConflictRule, ExceptionKind
from domain.evolve import already_reflects, check_store_bin, decision_of
from domain.units import TRANSITIONS, UnitEvent, advance
from sync.protocol import Outcome

from .batch import Batch, bins_named, payload_field
from .judgement import APPLIED, Judgement

_UNCHECKED: Any = object()


def authorize(batch: Batch, event: Event) -> Judgement | None:
    key = (event.actor, event.role, event.type)
    refused = batch.role_checks.get(key, _UNCHECKED)
    if refused is _UNCHECKED:
        refused = batch.role_checks[key] = _check_role(batch, event)
    if refused is not None:
        return refused
    for code in bins_named(event):
        refused = batch.bin_checks.get(code, _UNCHECKED)
        if refused is _UNCHECKED:
            refused = batch.bin_checks[code] = _check_bin(batch, code)
        if refused is not None:
            return refused
    payload = event.payload
    lpn = payload_field(payload, "lpn")
    if lpn and not isinstance(payload, RmaReceipt | BlindReceipt):
        unit = batch.unit(lpn)
        site = batch.bin(unit.bin_code).site_id if unit is not None else None
        if site is not None and site != batch.device.site_id:
            return Judgement(Outcome.REJECTED, ConflictRule.WRONG_SITE,
                             f"unit {lpn} is at site {site}, not this device's site {batch.device.site_id}")
    approved_by = payload.decision.approved_by if isinstance(payload, DispositionDecided) else None
    if approved_by:
        approver = batch.user(approved_by)
        if approver is None or not approver.active or not can(Role(approver.role), Permission.APPROVE_OVERRIDE):
            return Judgement(Outcome.REJECTED, ConflictRule.ACTOR_LACKS_ROLE,
                             f"{approved_by} may not approve overrides")
    return None


def _check_role(batch: Batch, event: Event) -> Judgement | None:
    user = batch.user(event.actor)
    permission = EVENT_PERMISSION[event.type]
    if user is None or not user.active or user.role != event.role.value or not can(event.role, permission):
        return Judgement(Outcome.REJECTED, ConflictRule.ACTOR_LACKS_ROLE,
                         f"{event.actor} ({event.role.value}) may not {permission.value.replace('_', ' ')}")
    return None


def _check_bin(batch: Batch, code: str) -> Judgement | None:
    row = batch.bin(code)
    if row is None:
        return Judgement(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unknown bin {code}")
    if row.site_id != batch.device.site_id:
        return Judgement(Outcome.REJECTED, ConflictRule.WRONG_SITE,
                         f"bin {code} belongs to site {row.site_id}, not this device's site {batch.device.site_id}")
    return None


def refused_transition(batch: Batch, event: Event, unit: ReturnUnit, refused: IllegalTransition) -> Judgement:
    decision = decision_of(event.payload)
    if decision is not None:
        field_name, value = decision
        current = getattr(unit, field_name)
        if current == value:
            return Judgement(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                             f"{field_name} {value} was already recorded by another device")
        # Only a unit whose state may be disputed is: a quarantined unit already waits for a
        # supervisor and a closed one is done, so those refuse the decision like any other
        # invalid step (advance() would raise, and the whole batch would be refused again on
        # every retry, blocking the device's queue).
        rival = current is not None and event.base_version < (unit.server_version or 0)
        if rival and unit.state in (UnitState.QUARANTINED, UnitState.DISPUTED) or (
                rival and (unit.state, UnitEvent.DISPUTE) in TRANSITIONS):
            return dispute(batch, event, unit, field_name, value)
    if already_reflects(unit, event.payload):
        return Judgement(Outcome.APPLIED, ConflictRule.SAME_OUTCOME_MERGED,
                         f"{event.type.value.replace('_', ' ')} was already recorded by another device")
    return Judgement(Outcome.REJECTED, ConflictRule.INVALID_TRANSITION, str(refused))


def dispute(batch: Batch, event: Event, unit: ReturnUnit, field_name: str, value: Any) -> Judgement:
    """A decision that differs from the one standing: the first stands, and the unit (if its state
    allows) waits disputed for a supervisor."""
    if (unit.state, UnitEvent.DISPUTE) in TRANSITIONS:
        batch.write_unit(unit, advance(unit, UnitEvent.DISPUTE), event)
    current = getattr(unit, field_name)
    return Judgement(Outcome.CONFLICT, ConflictRule.DIFFERENT_DECISIONS,
                     f"{field_name} {value} differs from {current} decided first; a supervisor decides",
                     (ExceptionKind.DISPUTE, {"lpn": unit.lpn, "field": field_name,
                                              "standing": str(current), "proposed": str(value),
                                              # who proposed it, for the supervisor weighing both sides
                                              "proposed_by": event.actor, "proposed_device": event.device_id,
                                              "proposed_at": event.occurred_at.isoformat()}))


def check_store_policy(batch: Batch, event: Event, unit: ReturnUnit, payload: UnitStored | UnitMoved) -> Judgement:
    row = batch.bin(payload.bin_code)
    try:
        check_store_bin(unit, batch.bin_model(row))
    except BinTypeMismatch as mismatch:
        return Judgement(Outcome.CONFLICT, ConflictRule.BIN_TYPE_MISMATCH, str(mismatch),
                         (ExceptionKind.BIN_POLICY_VIOLATION, {"lpn": unit.lpn, "bin_code": row.code,
                                                               "required": mismatch.required}))
    if row.reassigned_at is not None and row.reassigned_at > batch.physical_time(event):
        return Judgement(Outcome.CONFLICT, ConflictRule.BIN_REASSIGNED_OFFLINE,
                         f"bin {row.code} was reassigned ({row.purpose}) while this device was offline",
                         (ExceptionKind.BIN_POLICY_VIOLATION, {"lpn": unit.lpn, "bin_code": row.code,
                                                               "purpose": row.purpose}))
    return APPLIED
