"""Bins: which one to suggest when a unit is put away (a pure choice among bins described by the
caller), and what a re-purposing may change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .codes import BinType, UnitState
from .entities import Bin, ReturnUnit
from .errors import InvalidInput
from .evolve import required_bin_type

# The states in which a unit waits for a bin: decided, or held and not yet in a quarantine bin.
_WAITING_FOR_A_BIN = (UnitState.DISPOSITIONED, UnitState.QUARANTINED)


@dataclass(frozen=True)
class BinCandidate:
    """A bin as the put-away choice sees it: its type and what it holds now."""

    code: str
    type: BinType
    same_sku: int  # units of the SKU being put away
    total: int  # units of any SKU


def put_away_bin(unit: ReturnUnit, candidates: Iterable[BinCandidate]) -> str | None:
    """A bin of the type `unit` needs: one already holding its SKU (the one with most of it), so that
    like units stay together; else the emptiest. Ties go to the lowest code. None when the unit is
    not waiting for a bin (or already is in one of that type), or no bin of that type is known."""
    if unit.state not in _WAITING_FOR_A_BIN:
        return None
    required = required_bin_type(unit)
    fitting = [c for c in candidates if c.type is required]
    if any(c.code == unit.bin_code for c in fitting):
        return None
    holding = [c for c in fitting if c.same_sku > 0]
    if holding:
        return min(holding, key=lambda c: (-c.same_sku, c.code)).code
    return min(fitting, key=lambda c: (c.total, c.code)).code if fitting else None


def check_reassignment(bin_: Bin, move_contents_to: Bin | None) -> None:
    """A re-purposing (purpose, zone, owner) is for quarantine bins only, and its contents may move
    only to another quarantine bin: quarantined units stay in quarantine. The device, the push path
    and the office all ask here."""
    for each in filter(None, (bin_, move_contents_to)):
        if each.type is not BinType.QUARANTINE:
            raise InvalidInput(f"{each.code} is not a quarantine bin: only quarantine bins are re-purposed, "
                               "and quarantined units stay in quarantine")
    if move_contents_to is not None and move_contents_to.code == bin_.code:
        raise InvalidInput("move the contents to a different bin")
