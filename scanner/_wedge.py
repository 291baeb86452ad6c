"""Keyboard-wedge input: what a hardware scanner types into a text field.

A wedge scanner types the code followed by Enter (or Tab), optionally prefixed
with the AIM symbology identifier (``]C1``, ``]d2``, ``]Q3``, ``]E0``...). The GS
separator of GS1 data (0x1D) often does not survive the keyboard layer: drivers
send it as Ctrl+] (typed "^]"), as a "<GS>" macro, or drop it; a configurable
stand-in string restores it. Where key timing is known, a scanner burst is told
from human typing by the gap between keys.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DEFAULT_GS_STAND_INS", "InputSource", "WedgeInput", "WedgeReader", "parse_wedge"]

GS = "\x1d"
# Stand-ins that cannot occur in GS1 data: '^', '{', '}' are outside the GS1
# character set, and "<GS>" is what several driver macros print.
DEFAULT_GS_STAND_INS: tuple[str, ...] = ("<GS>", "^]", "{GS}")
TERMINATORS = "\r\n\t"
_AIM_PREFIX = re.compile(r"\][A-Za-z][0-9A-Za-z]")


class InputSource(StrEnum):
    SCANNER = "scanner"  # a burst: keys faster than anyone types
    KEYBOARD = "keyboard"  # human typing
    UNKNOWN = "unknown"  # no key timing available


@dataclass(frozen=True, slots=True)
class WedgeInput:
    """One line typed by a wedge: content with GS restored, without AIM prefix or terminator."""

    text: str
    aim_id: str | None
    source: InputSource = InputSource.UNKNOWN


def parse_wedge(typed: str, *, gs_stand_ins: Sequence[str] = DEFAULT_GS_STAND_INS) -> WedgeInput:
    """Parse one complete line of wedge input (a trailing Enter or Tab is dropped)."""
    line = typed
    while line and line[-1] in TERMINATORS:
        line = line[:-1]
    aim_id = None
    if _AIM_PREFIX.match(line):
        aim_id, line = line[:3], line[3:]
    for stand_in in gs_stand_ins:
        if stand_in:
            line = line.replace(stand_in, GS)
    return WedgeInput(text=line, aim_id=aim_id)


class WedgeReader:
    """Assemble keystrokes into WedgeInput lines, telling scanner bursts from typing.

    ``max_scanner_gap`` is the median time between keys, in seconds, at or below
    which a line counts as a scanner burst (scanners type a key every few ms,
    fast typists need 60 ms or more); ``min_scanner_keys`` guards against a
    short quick double-tap.
    """

    def __init__(
        self,
        *,
        gs_stand_ins: Sequence[str] = DEFAULT_GS_STAND_INS,
        max_scanner_gap: float = 0.03,
        min_scanner_keys: int = 4,
    ) -> None:
        self._gs_stand_ins = tuple(gs_stand_ins)
        self._max_gap = max_scanner_gap
        self._min_keys = min_scanner_keys
        self._keys: list[str] = []
        self._times: list[float | None] = []

    def feed(self, keys: str, at: float | None = None) -> list[WedgeInput]:
        """Add keys typed at time `at` (seconds, any monotonic clock, or None if unknown).

        Returns the lines completed by a terminator in `keys`; empty lines are skipped.
        """
        done = []
        for key in keys:
            if key in TERMINATORS:
                if self._keys:
                    done.append(self._finish())
                continue
            self._keys.append(key)
            self._times.append(at)
        return done

    def _finish(self) -> WedgeInput:
        parsed = parse_wedge("".join(self._keys), gs_stand_ins=self._gs_stand_ins)
        source = self._source(self._times)
        self._keys, self._times = [], []
        return WedgeInput(text=parsed.text, aim_id=parsed.aim_id, source=source)

    def _source(self, times: list[float | None]) -> InputSource:
        known = [t for t in times if t is not None]
        if len(known) != len(times) or len(known) < 2:
            return InputSource.UNKNOWN
        gaps = [later - earlier for earlier, later in zip(known, known[1:], strict=False)]
        if len(times) >= self._min_keys and statistics.median(gaps) <= self._max_gap:
            return InputSource.SCANNER
        return InputSource.KEYBOARD
