"""Who may call the API: provisioned devices (id + secret, stored hashed) and users (PIN, hashed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from domain import Actor, Permission, PermissionDenied, Role, UnknownEntity, can, verify_pin
from domain.errors import Conflict
from domain.events import validate_device_id
from domain.pins import MAX_WRONG_PINS, PIN_LOCKOUT

from . import tables as t
from .ingest import Device


class AuthenticationFailed(Exception):
    """The caller is not who it claims, or no longer allowed (a revoked device)."""


def _hash_secret(secret: str) -> str:
    # A device secret has 256 random bits: a fast hash is enough, a slow one would cost every push.
    return hashlib.sha256(secret.encode()).hexdigest()


def provision_device(conn: Connection, device_id: str, site_id: str, now: dt.datetime) -> str:
    """Register a device at a site; returns its secret, which is shown once and stored hashed."""
    validate_device_id(device_id)
    if conn.execute(select(t.sites.c.site_id).where(t.sites.c.site_id == site_id)).first() is None:
        raise UnknownEntity("site", site_id)
    if conn.execute(select(t.devices.c.device_id).where(t.devices.c.device_id == device_id)).first() is not None:
        raise Conflict(f"device {device_id} is already provisioned; revoke it and provision a new id")
    secret = secrets.token_urlsafe(32)
    conn.execute(insert(t.devices).values(device_id=device_id, site_id=site_id, secret_hash=_hash_secret(secret),
                                          active=True, provisioned_at=now))
    conn.execute(insert(t.ledger).values(device_id=device_id, last_seq=0))
    return secret


def revoke_device(conn: Connection, device_id: str, now: dt.datetime) -> None:
    if not conn.execute(update(t.devices).where(t.devices.c.device_id == device_id)
                        .values(active=False, revoked_at=now)).rowcount:
        raise UnknownEntity("device", device_id)


def authenticate_device(conn: Connection, device_id: str, secret: str) -> Device:
    row = conn.execute(select(t.devices).where(t.devices.c.device_id == device_id)).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _hash_secret(secret)):
        raise AuthenticationFailed("unknown device or wrong secret")
    if not row.active:
        raise AuthenticationFailed(f"device {device_id} was revoked; ask an admin to provision it again")
    return Device(device_id=row.device_id, site_id=row.site_id)


class SignInThrottle:
    """Locks a user id out for a while after repeated wrong PINs: a 4-digit PIN must not be guessable
    by trying them all. Kept per API process, so each worker counts on its own."""

    def __init__(self, *, attempts: int = MAX_WRONG_PINS, window_s: float = 300,
                 lockout_s: float = PIN_LOCKOUT.total_seconds(), clock: Callable[[], float] = time.monotonic) -> None:
        self._attempts, self._window, self._lockout, self._clock = attempts, window_s, lockout_s, clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def check(self, user_id: str) -> None:
        remaining = self._locked_until.get(user_id, 0) - self._clock()
        if remaining > 0:
            raise AuthenticationFailed(f"too many wrong PINs for {user_id}: try again in {remaining / 60:.0f} min")

    def failed(self, user_id: str) -> None:
        now = self._clock()
        recent = [t for t in self._failures.get(user_id, []) if now - t < self._window] + [now]
        self._failures[user_id] = recent
        if len(recent) >= self._attempts:
            self._locked_until[user_id] = now + self._lockout
            self._failures[user_id] = []

    def succeeded(self, user_id: str) -> None:
        self._failures.pop(user_id, None)


_USER_ID = re.compile(r"[a-z][a-z0-9_.-]{1,31}")


def authenticate_user(conn: Connection, user_id: str, pin: str, permission: Permission,
                      throttle: SignInThrottle) -> Actor:
    if not _USER_ID.fullmatch(user_id):
        raise AuthenticationFailed("unknown user or wrong PIN")
    throttle.check(user_id)
    row = conn.execute(select(t.users).where(t.users.c.user_id == user_id)).first()
    if row is None or not row.active or not verify_pin(pin, row.pin_hash):
        throttle.failed(user_id)
        raise AuthenticationFailed("unknown user or wrong PIN")
    throttle.succeeded(user_id)
    actor = Actor(user_id=row.user_id, role=Role(row.role))
    if not can(actor.role, permission):
        raise PermissionDenied(actor.user_id, actor.role.value, permission.value)
    return actor
