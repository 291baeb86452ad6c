"""Read queries for the handheld's screens: work queues, RMA progress, quarantine bins, exceptions.

Each reads the store's projections in one statement or two; a device holds thousands of units,
not millions, so none of them needs more than the indexes the commands already keep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from domain import UnitState

from .store import DeviceStore

# The queues a home screen shows, in the order work flows, with the step each one waits for.
QUEUES: tuple[tuple[UnitState, str], ...] = (
    (UnitState.RECEIVED, "to inspect"),
    (UnitState.INSPECTED, "to grade"),
    (UnitState.GRADED, "to decide"),
    (UnitState.DISPOSITIONED, "to put away"),
    (UnitState.QUARANTINED, "in quarantine"),
    (UnitState.DISPUTED, "waiting for a supervisor"),
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


def work_queues(store: DeviceStore) -> dict[UnitState, int]:
    counts = dict(store.db.execute("SELECT state, COUNT(*) FROM units GROUP BY state").fetchall())
    return {state: counts.get(state.value, 0) for state, _ in QUEUES}


def units_in(store: DeviceStore, state: UnitState, limit: int = 50) -> list[QueuedUnit]:
    return [QueuedUnit(*r) for r in store.db.execute(
        """SELECT u.lpn, u.sku, i.name, u.bin_code, u.grade, u.disposition FROM units u JOIN items i ON i.sku = u.sku
           WHERE u.state = ? ORDER BY u.last_seq LIMIT ?""", (state.value, limit))]


def rma_progress(store: DeviceStore, rma_id: str) -> list[LineProgress]:
    return [LineProgress(*r) for r in store.db.execute(
        """SELECT l.line_no, l.sku, i.name, l.expected_qty, COALESCE(r.received_qty, 0)
           FROM rma_lines l JOIN items i ON i.sku = l.sku
           LEFT JOIN rma_receipts r ON r.rma_id = l.rma_id AND r.line_no = l.line_no
           WHERE l.rma_id = ? ORDER BY l.line_no""", (rma_id,))]


def quarantine_bins(store: DeviceStore) -> list[QuarantineBin]:
    return [QuarantineBin(*r) for r in store.db.execute(
        """SELECT b.code, COALESCE(a.zone, b.zone), COALESCE(a.purpose, b.purpose), COALESCE(a.owner, b.owner),
                  (SELECT COUNT(*) FROM units u WHERE u.bin_code = b.code)
           FROM bins b LEFT JOIN bin_assignments a ON a.bin_code = b.code
           WHERE b.type = 'quarantine' ORDER BY b.code""")]


def open_exceptions(store: DeviceStore, limit: int = 100) -> list[OpenException]:
    return [OpenException(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in store.db.execute(
        """SELECT exception_id, kind, lpn, bin_code, detail FROM exceptions WHERE status = 'open'
           ORDER BY exception_id LIMIT ?""", (limit,))]


def bin_contents(store: DeviceStore, code: str) -> dict[str, int]:
    """Units per SKU the device believes are in a bin: what a count is compared against."""
    return dict(store.db.execute("SELECT sku, COUNT(*) FROM units WHERE bin_code = ? GROUP BY sku", (code,)))
