"""Hybrid logical clock and UUIDv7 event ids. Time and randomness come in as parameters."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import NamedTuple

from .errors import InvalidInput

_HLC_RE = re.compile(r"([0-9]{15})\.([0-9]{6})")  # ASCII digits: \d takes other scripts' too
_MAX_LOGICAL = 999_999


class Hlc(NamedTuple):
    """A timestamp that orders events even when wall clocks disagree or step backwards.

    `wall_ms` is the largest physical time seen; `logical` counts events within it. The text form
    sorts like the tuple, so SQLite can order by it.
    """

    wall_ms: int
    logical: int

    def __str__(self) -> str:
        return f"{self.wall_ms:015d}.{self.logical:06d}"

    @classmethod
    def parse(cls, text: str) -> Hlc:
        match = _HLC_RE.fullmatch(text)
        if not match:
            raise InvalidInput(f"not a hybrid logical clock value: {text!r}")
        return cls(int(match[1]), int(match[2]))


class HybridClock:
    def __init__(self, wall_ms: Callable[[], int], last: Hlc | None = None) -> None:
        self._wall_ms = wall_ms
        self._last = last or Hlc(0, 0)

    @property
    def last(self) -> Hlc:
        return self._last

    def now(self) -> Hlc:
        """A timestamp for a local event, strictly greater than every one before it."""
        return self._advance(self._last)

    def observe(self, remote: Hlc) -> Hlc:
        """Merge a timestamp from another node, then tick: later local events sort after it."""
        return self._advance(max(self._last, remote))

    def _advance(self, floor: Hlc) -> Hlc:
        wall = self._wall_ms()
        if wall > floor.wall_ms:
            stamp = Hlc(wall, 0)
        elif floor.logical < _MAX_LOGICAL:
            stamp = Hlc(floor.wall_ms, floor.logical + 1)
        else:  # a million events in one millisecond: borrow the next millisecond
            stamp = Hlc(floor.wall_ms + 1, 0)
        self._last = stamp
        return stamp


def uuid7(unix_ms: int, random_bytes: bytes) -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit millisecond time, version, 74 random bits, variant."""
    if len(random_bytes) < 10:
        raise ValueError("uuid7 needs 10 random bytes")
    rand = int.from_bytes(random_bytes[:10], "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
