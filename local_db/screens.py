"""Read queries for the handheld's screens: work queues, RMA progress, quarantine bins, exceptions,
a unit's card and photos, and where to put a unit away.

Each reads the store's projections in one statement or two; a device holds thousands of units,
not millions, so none of them needs more than the indexes the commands already keep.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from domain import BinType, Disposition, Grade, ReturnUnit, UnitState
from domain.bins import BinCandidate, put_away_bin
from domain.words import N_

from .projection import load_unit, units_per_sku
from .replica import unit_from_body
from .store import DeviceStore

# The queues a home screen shows, in the order work flows, with the step each one waits for (in
# English; the handheld translates them where it shows them).
QUEUES: tuple[tuple[UnitState, str], ...] = (
    (UnitState.RECEIVED, N_("to inspect")),
    (UnitState.INSPECTED, N_("to grade")),
    (UnitState.GRADED, N_("to decide")),
    (UnitState.DISPOSITIONED, N_("to put away")),
    (UnitState.QUARANTINED, N_("in quarantine")),
    (UnitState.DISPUTED, N_("waiting for a supervisor")),
)


@dataclass(frozen=True)
class QueuedUnit:
    lpn: str
    sku: str
    name: str
    bin_code: str
    grade: str | None
    disposition: str | None


@dataclass(frozen=True)
class LineProgress:
    line_no: int
    sku: str
    name: str
    expected: int
    received: int

    @property
    def flag(self) -> str | None:
        if self.received > self.expected:
            return f"{self.received - self.expected} more than expected"
        return None


@dataclass(frozen=True)
class QuarantineBin:
    code: str
    zone: str
    purpose: str | None
    owner: str | None
    units: int


@dataclass(frozen=True)
class OpenException:
    exception_id: str
    kind: str
    lpn: str | None
    bin_code: str | None
    detail: dict[str, Any]
    device_id: str | None = None  # the device whose event opened it


@dataclass(frozen=True)
class UnitStep:
    """One of this device's events about a unit, with what the server made of it so far."""

    device_seq: int
    type: str
    actor: str
    occurred_at: dt.datetime
    device_id: str
    status: str  # "pending", "acknowledged", "conflict" or "rejected"
    rule: str | None  # the named rule that settled a conflict (or merged a step another device recorded)
    exception_id: str | None  # the supervisor's exception a conflict opened
    reason: str | None  # why the server rejected it, or what the conflict was


@dataclass(frozen=True)
class ServerView:
    """The unit as the server last sent it. It says where the unit stands, not the steps that led
    there: the central API's unit history lists those."""

    state: UnitState
    bin_code: str
    grade: Grade | None
    disposition: Disposition | None
    version: int


@dataclass(frozen=True)
class UnitCard:
    lpn: str
    sku: str
    name: str
    serial: str | None
    lot: str | None
    expiry: dt.date | None
    state: UnitState
    bin_code: str
    grade: Grade | None
    disposition: Disposition | None
    rma_id: str | None
    line_no: int | None
    reason: str  # the customer's reason in words (its code, for a reason this device has no words for)
    steps: tuple[UnitStep, ...]  # in the order they were recorded
    photos: tuple[str, ...]  # content hashes, for photo()
    server: ServerView | None  # None: the server has not sent this unit's state yet


def work_queues(store: DeviceStore) -> dict[UnitState, int]:
    counts = dict(store.db.execute("SELECT state, COUNT(*) FROM units GROUP BY state").fetchall())
    return {state: counts.get(state.value, 0) for state, _ in QUEUES}


def units_in(store: DeviceStore, state: UnitState, limit: int = 50) -> list[QueuedUnit]:
    """Up to `limit` units in `state`, the one waiting longest first (its last step is the oldest)."""
    return [QueuedUnit(*r) for r in store.db.execute(
        """SELECT u.lpn, u.sku, i.name, u.bin_code, u.grade, u.disposition FROM units u JOIN items i ON i.sku = u.sku
           WHERE u.state = ? ORDER BY u.last_seq, u.lpn LIMIT ?""", (state.value, limit))]


def rma_progress(store: DeviceStore, rma_id: str) -> list[LineProgress]:
    return [LineProgress(*r) for r in store.db.execute(
        """SELECT l.line_no, l.sku, i.name, l.expected_qty, COALESCE(r.received_qty, 0)
           FROM rma_lines l JOIN items i ON i.sku = l.sku
           LEFT JOIN rma_receipts r ON r.rma_id = l.rma_id AND r.line_no = l.line_no
           WHERE l.rma_id = ? ORDER BY l.line_no""", (rma_id,))]


def quarantine_bins(store: DeviceStore) -> list[QuarantineBin]:
    return [QuarantineBin(*r) for r in store.db.execute(
        """SELECT b.code, COALESCE(a.zone, b.zone), COALESCE(a.purpose, b.purpose), COALESCE(a.owner, b.owner),
                  (SELECT COUNT(*) FROM bin_contents c WHERE c.bin_code = b.code)
           FROM bins b LEFT JOIN bin_assignments a ON a.bin_code = b.code
           WHERE b.type = 'quarantine' ORDER BY b.code""")]


def open_exceptions(store: DeviceStore, limit: int = 100) -> list[OpenException]:
    return [OpenException(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in store.db.execute(
        """SELECT exception_id, kind, lpn, bin_code, detail, device_id FROM exceptions WHERE status = 'open'
           ORDER BY exception_id LIMIT ?""", (limit,))]


def open_exception_count(store: DeviceStore) -> int:
    """Everything waiting for a supervisor: open exceptions of every kind, not only disputed units."""
    return store.db.execute("SELECT COUNT(*) FROM exceptions WHERE status = 'open'").fetchone()[0]


def bin_contents(store: DeviceStore, code: str) -> dict[str, int]:
    """Units per SKU the device believes are in a bin: what a count is compared against."""
    return units_per_sku(store.db.conn, code)


def unit_card(store: DeviceStore, code: str) -> UnitCard | None:
    """The unit with LPN `code`, else the one with serial `code` whose last step is the most recent
    (a serial can recur across SKUs); None when the device holds neither."""
    conn = store.db.conn
    row = conn.execute("SELECT lpn FROM units WHERE lpn = ?", (code,)).fetchone() or conn.execute(
        "SELECT lpn FROM units WHERE serial = ? ORDER BY last_seq DESC, lpn DESC LIMIT 1", (code,)).fetchone()
    if row is None:
        return None
    unit = load_unit(conn, row[0])
    assert unit is not None
    steps, photos = _steps_and_photos(store, unit.lpn)
    pulled = conn.execute("SELECT body FROM pulled_units WHERE lpn = ?", (unit.lpn,)).fetchone()
    server = unit_from_body(pulled[0]) if pulled else None
    label = conn.execute("SELECT label FROM reason_codes WHERE code = ?", (unit.reason_code,)).fetchone()
    return UnitCard(
        lpn=unit.lpn, sku=unit.sku, name=store.item(unit.sku).name, serial=unit.serial, lot=unit.lot,
        expiry=unit.expiry, state=unit.state, bin_code=unit.bin_code, grade=unit.grade, disposition=unit.disposition,
        rma_id=unit.rma_id, line_no=unit.line_no, reason=label[0] if label else unit.reason_code, steps=steps, photos=photos,
        server=ServerView(server.state, server.bin_code, server.grade, server.disposition, server.server_version)
        if server else None)


def _steps_and_photos(store: DeviceStore, lpn: str) -> tuple[tuple[UnitStep, ...], tuple[str, ...]]:
    device_id = store.device_id  # set: a device without one has no events
    steps, photos = [], {}
    for seq, type_, actor, occurred_at, payload, status, rule, exception_id, reason in store.db.execute(
            """SELECT e.device_seq, e.type, e.actor, e.occurred_at, e.payload, COALESCE(r.status, 'pending'), r.rule,
                      r.exception_id, r.reason
               FROM events e LEFT JOIN sync_results r ON r.device_seq = e.device_seq
               WHERE json_extract(e.payload, '$.lpn') = ? ORDER BY e.device_seq""", (lpn,)):
        steps.append(UnitStep(seq, type_, actor, dt.datetime.fromisoformat(occurred_at), device_id,
                              status, rule, exception_id, reason))
        if type_ == "inspection_recorded":  # photos of the unit, even from an inspection the server refused
            photos.update(dict.fromkeys(json.loads(payload)["inspection"]["photo_hashes"]))
    return tuple(steps), tuple(photos)


def photo(store: DeviceStore, sha256: str) -> bytes | None:
    """A photo this device took (kept until uploaded, and after), by content hash."""
    row = store.db.execute("SELECT content FROM photos WHERE sha256 = ?", (sha256,)).fetchone()
    return row[0] if row else None


def suggest_bin(store: DeviceStore, unit: ReturnUnit) -> str | None:
    """Where to put `unit` away (domain.bins.put_away_bin), among the bins as they hold units now,
    after any reassignment moved their contents."""
    candidates = [BinCandidate(code, BinType(type_), same_sku, total) for code, type_, same_sku, total in store.db.execute(
        """SELECT b.code, b.type, COUNT(*) FILTER (WHERE u.sku = ?), COUNT(u.lpn)
           FROM bins b LEFT JOIN counted_units u ON u.bin_code = b.code GROUP BY b.code""", (unit.sku,))]
    return put_away_bin(unit, candidates)
