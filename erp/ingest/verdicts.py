"""The push path's side of the conflict rules: it reads what domain/verdicts.py needs (the actor,
the bins, the unit, the bin's re-purposing) and applies what it decides (a disputed unit waits for
a supervisor). Who may act, and where, is checked once per batch for each actor, role, event type
and bin."""

from __future__ import annotations

from typing import Any

from domain import (
    EVENT_PERMISSION,
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
from domain.conflicts import ConflictRule, Outcome, Verdict
from domain.units import TRANSITIONS, UnitEvent, advance
from domain.verdicts import actor_verdict, dispute_verdict, refused_step_verdict, rival_decision, store_verdict

from .batch import Batch, bins_named, payload_field

_UNCHECKED: Any = object()


def authorize(batch: Batch, event: Event) -> Verdict | None:
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
            return Verdict(Outcome.REJECTED, ConflictRule.WRONG_SITE,
                           f"unit {lpn} is at site {site}, not this device's site {batch.device.site_id}")
    approved_by = payload.decision.approved_by if isinstance(payload, DispositionDecided) else None
    if approved_by:
        approver = batch.user(approved_by)
        if approver is None or not approver.active or not can(Role(approver.role), Permission.APPROVE_OVERRIDE):
            return Verdict(Outcome.REJECTED, ConflictRule.ACTOR_LACKS_ROLE,
                           f"{approved_by} may not approve overrides")
    return None


def _check_role(batch: Batch, event: Event) -> Verdict | None:
    user = batch.user(event.actor)
    return actor_verdict(event.actor, event.role, EVENT_PERMISSION[event.type],
                         held_role=Role(user.role) if user is not None else None,
                         active=user is not None and user.active)


def _check_bin(batch: Batch, code: str) -> Verdict | None:
    row = batch.bin(code)
    if row is None:
        return Verdict(Outcome.REJECTED, ConflictRule.UNKNOWN_REFERENCE, f"unknown bin {code}")
    if row.site_id != batch.device.site_id:
        return Verdict(Outcome.REJECTED, ConflictRule.WRONG_SITE,
                       f"bin {code} belongs to site {row.site_id}, not this device's site {batch.device.site_id}")
    return None


def refused_transition(batch: Batch, event: Event, unit: ReturnUnit, refused: IllegalTransition) -> Verdict:
    rival = rival_decision(unit, event.payload, event.base_version)
    if rival is not None:
        return dispute(batch, event, unit, *rival)
    return refused_step_verdict(unit, event.payload, refused)


def dispute(batch: Batch, event: Event, unit: ReturnUnit, field_name: str, value: Any) -> Verdict:
    """A decision that differs from the one standing: the first stands, and the unit (if its state
    allows) waits disputed for a supervisor."""
    if (unit.state, UnitEvent.DISPUTE) in TRANSITIONS:
        batch.write_unit(unit, advance(unit, UnitEvent.DISPUTE), event)
    return dispute_verdict(unit, field_name, value, proposed_by=event.actor, proposed_device=event.device_id,
                           proposed_at=event.occurred_at)


def check_store_policy(batch: Batch, event: Event, unit: ReturnUnit, payload: UnitStored | UnitMoved) -> Verdict:
    row = batch.bin(payload.bin_code)
    return store_verdict(unit, batch.bin_model(row), reassigned_at=row.reassigned_at,
                         stored_at=batch.physical_time(event))
