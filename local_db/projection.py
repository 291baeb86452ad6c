"""Projections of the event log: how one event changes the device's read tables.

The same code runs when a command commits its event and when the log is replayed from scratch,
so the two can be compared (tests do) and projections can always be rebuilt.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from enum import Enum

from domain import (
    BinCounted,
    BinReassigned,
    BlindReceipt,
    Disposition,
    Event,
    Grade,
    InspectionRecorded,
    ReturnUnit,
    RmaReceipt,
    UnitState,
)
from domain.evolve import evolve, received_unit

from .errors import StoreError

# Tables written only by `project`, in an order that lets them be emptied without breaking a foreign key.
PROJECTION_TABLES = ("inspections", "bin_counts", "bin_assignments", "units")

_UNIT_COLUMNS = (
    "lpn", "sku", "rma_id", "line_no", "serial", "lot", "expiry", "reason_code", "state", "held_from",
    "bin_code", "condition_codes", "grade", "disposition", "server_version",
)


_UPSERT_UNIT = (
    f"INSERT INTO units ({', '.join(_UNIT_COLUMNS)}, last_seq) VALUES ({', '.join('?' * (len(_UNIT_COLUMNS) + 1))})"
    f" ON CONFLICT (lpn) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in (*_UNIT_COLUMNS[1:], 'last_seq'))}"
)


def unit_from_row(row: sqlite3.Row | tuple) -> ReturnUnit:
    """A unit from its projection row. The row was written from a validated unit in the same
    schema, so it is constructed without validating again (this is on every command's path)."""
    (lpn, sku, rma_id, line_no, serial, lot, expiry, reason_code, state, held_from, bin_code, conditions, grade,
     disposition, server_version) = row
    return ReturnUnit.model_construct(
        lpn=lpn, sku=sku, rma_id=rma_id, line_no=line_no, serial=serial, lot=lot,
        expiry=dt.date.fromisoformat(expiry) if expiry else None, reason_code=reason_code,
        state=UnitState(state), held_from=UnitState(held_from) if held_from else None, bin_code=bin_code,
        condition_codes=tuple(json.loads(conditions)), grade=Grade(grade) if grade else None,
        disposition=Disposition(disposition) if disposition else None, server_version=server_version)


def load_unit(conn: sqlite3.Connection, lpn: str) -> ReturnUnit | None:
    row = conn.execute(f"SELECT {', '.join(_UNIT_COLUMNS)} FROM units WHERE lpn = ?", (lpn,)).fetchone()
    return unit_from_row(row) if row else None


def project(conn: sqlite3.Connection, event: Event, change: tuple[ReturnUnit, ReturnUnit] | None = None) -> None:
    """Apply one event, appended in this transaction, to the projections. A command that has just
    read and evolved the unit passes (before, after), saving a second read and evolve."""
    payload = event.payload
    seq = event.device_seq
    match payload:
        case RmaReceipt() | BlindReceipt():
            reason = rma_line_reason(conn, payload.rma_id, payload.line_no) if isinstance(payload, RmaReceipt) else None
            if isinstance(payload, RmaReceipt) and reason is None:
                raise StoreError(f"event log refers to RMA {payload.rma_id} line {payload.line_no}, "
                                 "which this device does not have")
            write_unit(conn, received_unit(payload, line_reason=reason), seq)
        case BinReassigned():
            conn.execute(
                """INSERT INTO bin_assignments (bin_code, purpose, zone, owner, device_seq) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (bin_code) DO UPDATE SET purpose = excluded.purpose, zone = excluded.zone,
                   owner = excluded.owner, device_seq = excluded.device_seq""",
                (payload.bin_code, payload.purpose, payload.zone, payload.owner, seq),
            )
            if payload.move_contents_to:
                lpns = [r[0] for r in conn.execute("SELECT lpn FROM units WHERE bin_code = ? ORDER BY lpn",
                                                    (payload.bin_code,))]
                for lpn in lpns:
                    unit = _existing_unit(conn, lpn)
                    update_unit(conn, unit, unit.model_copy(update={"bin_code": payload.move_contents_to}), seq)
        case BinCounted():
            expected = units_per_sku(conn, payload.bin_code)
            for sku in sorted(expected.keys() | payload.counts.keys()):
                conn.execute(
                    "INSERT INTO bin_counts (device_seq, bin_code, sku, counted, expected) VALUES (?, ?, ?, ?, ?)",
                    (seq, payload.bin_code, sku, payload.counts.get(sku, 0), expected.get(sku, 0)),
                )
        case _:
            lpn = getattr(payload, "lpn", None)
            if lpn is None:  # an exception resolution that concerns no unit on this device
                return
            if change is not None and change[0].lpn == lpn:
                before, after = change
            else:
                before = _existing_unit(conn, lpn)
                after = evolve(before, payload)
            update_unit(conn, before, after, seq)
            if isinstance(payload, InspectionRecorded):
                conn.execute(
                    "INSERT OR REPLACE INTO inspections (lpn, body, device_seq) VALUES (?, ?, ?)",
                    (lpn, payload.inspection.model_dump_json(), seq),
                )


def units_per_sku(conn: sqlite3.Connection, bin_code: str) -> dict[str, int]:
    """Units per SKU the device believes are in a bin (the bin_contents view: no voided receipt),
    what a count of the bin is compared against."""
    return dict(conn.execute("SELECT sku, COUNT(*) FROM bin_contents WHERE bin_code = ? GROUP BY sku", (bin_code,)))


def rma_line_reason(conn: sqlite3.Connection, rma_id: str, line_no: int) -> str | None:
    """The reason code of an RMA line, which a receipt against it gives the unit; None if not held."""
    row = conn.execute("SELECT reason_code FROM rma_lines WHERE rma_id = ? AND line_no = ?", (rma_id, line_no)).fetchone()
    return row[0] if row else None


def _existing_unit(conn: sqlite3.Connection, lpn: str) -> ReturnUnit:
    unit = load_unit(conn, lpn)
    if unit is None:
        raise StoreError(f"event log refers to unit {lpn}, which was never received on this device")
    return unit


def write_unit(conn: sqlite3.Connection, unit: ReturnUnit, seq: int) -> None:
    conn.execute(_UPSERT_UNIT, (*(_column_value(getattr(unit, c)) for c in _UNIT_COLUMNS), seq))


def update_unit(conn: sqlite3.Connection, before: ReturnUnit, after: ReturnUnit, seq: int) -> None:
    """Write only the columns that changed. SQLite rewrites an index whose column is in the SET
    list even when its value is the same; left out, the bin and serial indexes stay clean and a
    durable command commits fewer pages."""
    changed = [c for c in _UNIT_COLUMNS[1:] if getattr(before, c) != getattr(after, c)]
    assignments = ", ".join(f"{c} = ?" for c in (*changed, "last_seq"))
    values = [_column_value(getattr(after, c)) for c in changed]
    conn.execute(f"UPDATE units SET {assignments} WHERE lpn = ?", (*values, seq, after.lpn))


def _column_value(value: object) -> object:
    """A unit field as its projection column holds it: enums by value, dates in ISO form, condition
    codes as a JSON list."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return value
