"""How many wrong PINs a person may type, and what a PIN looks like; pure functions over counts and times.

Sign-in and a supervisor's approval count together: both guess the same PIN.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .errors import PinMalformed

# Wrong PINs in a row that lock a person out, and for how long: on a handheld and on the central
# API alike, so that a 4-digit PIN cannot be found by trying them all.
MAX_WRONG_PINS = 5
PIN_LOCKOUT = dt.timedelta(minutes=5)

# ASCII digits only: str.isdigit() would also take other scripts' digits and superscripts.
_PIN = re.compile(r"[0-9]{4,8}")


def check_pin_format(pin: str | None) -> str:
    """The PIN when it has a PIN's form; PinMalformed otherwise, before any try is counted."""
    if pin is None or not _PIN.fullmatch(pin):
        raise PinMalformed()
    return pin


@dataclass(frozen=True)
class PinTries:
    """One person's wrong PINs since their last right one, and the end of their lockout, if any."""

    wrong: int = 0
    locked_until_ms: int | None = None

    def locked_at(self, now_ms: int) -> bool:
        return self.locked_until_ms is not None and now_ms < self.locked_until_ms

    def after_wrong_pin(self, now_ms: int, lockout_ms: int) -> PinTries:
        """The count after one more wrong PIN; the one that reaches the limit starts a lockout.
        A lockout that has ended gives a fresh count."""
        wrong = 1 if self.locked_until_ms is not None else self.wrong + 1
        return PinTries(wrong, now_ms + lockout_ms if wrong >= MAX_WRONG_PINS else None)
