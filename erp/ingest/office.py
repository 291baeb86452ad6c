"""A supervisor's actions on the server itself (from the office, not a device): each one
transaction, applied to a batch as a device's events are, audited and published to the devices."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from domain import (
    Actor,
    BinReassigned,
    Disposition,
    ExceptionResolved,
    Grade,
    InvalidInput,
    QuarantineReleased,
    ReturnUnit,
    UnknownEntity,
    build,
)
from domain.bins import check_reassignment
from domain.evolve import evolve, resolution_resumes

from .. import feed
from .. import tables as t
from . import steps
from .batch import Batch, Device
from .turns import transaction


def _server_action(engine: Engine, supervisor: Actor, received_at: dt.datetime, action: str,
                   detail: dict[str, Any], apply: Any) -> Batch:
    """Run a supervisor's action on the server in one transaction, audited and published to devices."""
    with transaction(engine) as conn:
        feed.lock_feed(conn)
        batch = Batch(conn, Device(device_id="", site_id=""), received_at, 0)
        apply(batch)
        batch.audit_rows.append({"rule": action, "actor": supervisor.user_id, "received_at": received_at,
                                 "detail": detail})
        batch.flush(conn)
    return batch


def resolve_by_supervisor(engine: Engine, supervisor: Actor, exception_id: str, *, grade: Grade | None,
                          disposition: Disposition | None, note: str, received_at: dt.datetime) -> dict[str, Any]:
    """A supervisor resolves an exception; a disputed unit resumes with the chosen decision."""
    # build(): a field the request let through but the event refuses is a 422, not a 500.
    payload = build(ExceptionResolved, exception_id=exception_id, grade=grade, disposition=disposition, note=note)
    found: dict[str, Any] = {}

    def apply(batch: Batch) -> None:
        row = batch.conn.execute(select(t.exceptions).where(t.exceptions.c.exception_id == exception_id)).first()
        if row is None:
            raise UnknownEntity("exception", exception_id)
        if row.status != "open":
            raise InvalidInput(f"exception {exception_id} is already resolved")
        unit = batch.unit(row.lpn) if row.lpn else None
        code = unit.bin_code if unit is not None else row.bin_code
        where = batch.bin(code) if code else None
        batch.site_id = where.site_id if where is not None else None  # None: every site
        if resolution_resumes(row.kind, unit, grade=grade, disposition=disposition):  # refuses what it cannot apply
            batch.write_unit(unit, evolve(unit, payload.model_copy(update={"lpn": unit.lpn})), None)
        batch.close_exception(payload, supervisor.user_id)
        found["lpn"] = row.lpn

    batch = _server_action(engine, supervisor, received_at, "supervisor_resolution",
                           payload.model_dump(mode="json"), apply)
    lpn = found["lpn"]
    return {"exception_id": exception_id, "status": "resolved", "lpn": lpn,
            "state": batch.units[lpn].state.value if lpn and batch.units.get(lpn) else None}


def release_by_supervisor(engine: Engine, supervisor: Actor, payload: QuarantineReleased,
                          received_at: dt.datetime) -> ReturnUnit:
    """A supervisor releases a quarantined unit from the office; devices pull the new state."""
    def apply(batch: Batch) -> None:
        unit = batch.unit(payload.lpn)
        if unit is None:
            raise UnknownEntity("unit", payload.lpn)
        batch.site_id = batch.bin(unit.bin_code).site_id  # only that site's devices need it
        batch.write_unit(unit, evolve(unit, payload), None)

    batch = _server_action(engine, supervisor, received_at, "supervisor_release", payload.model_dump(mode="json"),
                           apply)
    return batch.units[payload.lpn]


def reassign_by_supervisor(engine: Engine, supervisor: Actor, payload: BinReassigned,
                           received_at: dt.datetime) -> None:
    """A supervisor re-purposes a quarantine bin and may move its contents; devices pull both."""
    def apply(batch: Batch) -> None:
        for code in filter(None, (payload.bin_code, payload.move_contents_to)):
            row = batch.bin(code)
            if row is None:
                raise UnknownEntity("bin", code)
            if row.site_id != batch.bin(payload.bin_code).site_id:
                raise InvalidInput(f"{code} is at site {row.site_id}, not where {payload.bin_code} is")
        target = batch.bin(payload.move_contents_to) if payload.move_contents_to else None
        check_reassignment(batch.bin_model(batch.bin(payload.bin_code)),
                           batch.bin_model(target) if target is not None else None)
        batch.site_id = batch.bin(payload.bin_code).site_id  # only that site's devices need it
        steps.reassign(batch, None, payload)

    _server_action(engine, supervisor, received_at, "supervisor_reassignment", payload.model_dump(mode="json"), apply)
