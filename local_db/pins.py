"""Offline PIN checks with a lockout: wrong PINs are counted per typed user id in the device
database (pin_tries), so a lockout outlives a restart of the app.

The caller runs these in its write transaction and raises the refusal `count_wrong_pin` returns
only after committing, so that the try is saved however the refusal is handled.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3

from domain import Actor, Role, SignInFailed, hash_pin, verify_pin
from domain.errors import SignInLocked
from domain.pins import PinTries, check_pin_format


@functools.cache
def _nobody_hash() -> str:
    """Checked for an unknown user id, so that it takes as long to refuse as a wrong PIN."""
    return hash_pin("0000", bytes(16))


def check_pin(conn: sqlite3.Connection, user_id: str, pin: str | None, now_ms: int) -> Actor | None:
    """The person `pin` signs in, or None for a wrong PIN, an unknown or an inactive user.
    Refuses a PIN of the wrong form (not counted) and a locked person, before checking anything."""
    pin = check_pin_format(pin)
    tries = _tries(conn, user_id)
    if tries.locked_at(now_ms):
        raise _locked(user_id, tries)
    row = conn.execute("SELECT role, pin_hash, active FROM users WHERE user_id = ?", (user_id,)).fetchone()
    if row is None:
        verify_pin(pin, _nobody_hash())
        return None
    role, pin_hash, active = row
    if not verify_pin(pin, pin_hash) or not active:
        return None
    return Actor(user_id=user_id, role=Role(role))


def count_wrong_pin(conn: sqlite3.Connection, user_id: str, now_ms: int, lockout: dt.timedelta) -> SignInFailed:
    """Record a wrong PIN; returns the refusal to raise once that is committed: SignInLocked when
    this try reached the limit."""
    tries = _tries(conn, user_id).after_wrong_pin(now_ms, int(lockout.total_seconds() * 1000))
    conn.execute(
        """INSERT INTO pin_tries (user_id, wrong, locked_until_ms) VALUES (?, ?, ?) ON CONFLICT (user_id)
           DO UPDATE SET wrong = excluded.wrong, locked_until_ms = excluded.locked_until_ms""",
        (user_id, tries.wrong, tries.locked_until_ms))
    return _locked(user_id, tries) if tries.locked_until_ms is not None else SignInFailed()


def forget_wrong_pins(conn: sqlite3.Connection, user_id: str) -> None:
    """A right PIN starts the count again."""
    conn.execute("DELETE FROM pin_tries WHERE user_id = ?", (user_id,))


def _tries(conn: sqlite3.Connection, user_id: str) -> PinTries:
    row = conn.execute("SELECT wrong, locked_until_ms FROM pin_tries WHERE user_id = ?", (user_id,)).fetchone()
    return PinTries(*row) if row else PinTries()


def _locked(user_id: str, tries: PinTries) -> SignInLocked:
    assert tries.locked_until_ms is not None
    return SignInLocked(user_id, dt.datetime.fromtimestamp(tries.locked_until_ms / 1000, dt.UTC), tries.wrong)
