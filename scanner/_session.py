"""Two-barcode items: a GTIN and its lot/expiry/serial on separate labels.

A product often carries its GTIN as EAN-13 and its lot and expiry in a second
GS1 barcode. A ScanSession gathers the GS1 fields of one item across scans; a
field is never overwritten by a blank, and a different GTIN starts a new item.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from scanner._classify import Scan, ScanKind

__all__ = ["ItemIdentity", "ScanSession"]

_ITEM_KINDS = frozenset({ScanKind.ITEM, ScanKind.GS1})


@dataclass(frozen=True, slots=True)
class ItemIdentity:
    """What the session knows about the item in hand, from one or more scans."""

    gs1: dict[str, str] = field(default_factory=dict)
    expiry: dt.date | None = None
    scans: tuple[Scan, ...] = ()

    @property
    def gtin(self) -> str | None:
        return self.gs1.get("01")

    @property
    def lot(self) -> str | None:
        return self.gs1.get("10")

    @property
    def serial(self) -> str | None:
        return self.gs1.get("21")


class ScanSession:
    """Combine item scans into one ItemIdentity until a different GTIN or `clear()`."""

    def __init__(self) -> None:
        self._current = ItemIdentity()

    @property
    def current(self) -> ItemIdentity:
        return self._current

    def add(self, scan: Scan) -> ItemIdentity:
        """Merge an item or GS1 scan; other kinds (bins, LPNs...) leave the item alone."""
        if scan.kind not in _ITEM_KINDS:
            return self._current
        fields = {ai: value for ai, value in scan.gs1.items() if value.strip()}
        new_gtin = fields.get("01")
        if new_gtin is not None and self._current.gtin not in (None, new_gtin):
            self._current = ItemIdentity()
        merged = dict(self._current.gs1)
        merged.update(fields)
        self._current = ItemIdentity(
            gs1=merged,
            expiry=scan.expiry or self._current.expiry,
            scans=(*self._current.scans, scan),
        )
        return self._current

    def clear(self) -> None:
        self._current = ItemIdentity()
