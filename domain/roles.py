"""Roles, what each may do, and offline PIN checks; all pure functions."""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from typing import TYPE_CHECKING

from .codes import Role
from .errors import InvalidInput, PermissionDenied

if TYPE_CHECKING:
    from .entities import Actor


class Permission(StrEnum):
    RECEIVE = "receive"
    INSPECT = "inspect"
    GRADE = "grade"
    DECIDE_DISPOSITION = "decide_disposition"
    STORE = "store"
    QUARANTINE = "quarantine"
    RELEASE_QUARANTINE = "release_quarantine"
    APPROVE_OVERRIDE = "approve_override"
    REASSIGN_BIN = "reassign_bin"
    COUNT_BIN = "count_bin"
    RESOLVE_EXCEPTION = "resolve_exception"
    MANAGE_MASTER_DATA = "manage_master_data"
    MANAGE_USERS = "manage_users"
    PROVISION_DEVICE = "provision_device"


_FLOOR = frozenset({
    Permission.RECEIVE,
    Permission.INSPECT,
    Permission.GRADE,
    Permission.DECIDE_DISPOSITION,
    Permission.STORE,
    Permission.QUARANTINE,
})
_SUPERVISION = frozenset({
    Permission.RELEASE_QUARANTINE,
    Permission.APPROVE_OVERRIDE,
    Permission.REASSIGN_BIN,
    Permission.COUNT_BIN,
    Permission.RESOLVE_EXCEPTION,
})
_ADMINISTRATION = frozenset({Permission.MANAGE_MASTER_DATA, Permission.MANAGE_USERS, Permission.PROVISION_DEVICE})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ASSOCIATE: _FLOOR,
    Role.SUPERVISOR: _FLOOR | _SUPERVISION,
    Role.ADMIN: _FLOOR | _SUPERVISION | _ADMINISTRATION,
}


def can(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def require(actor: Actor, permission: Permission) -> None:
    if not can(actor.role, permission):
        raise PermissionDenied(actor.user_id, actor.role.value, permission.value)


# PINs are short, so the hash is deliberately slow; devices verify offline against synced hashes.
_PIN_ITERATIONS = 120_000


def hash_pin(pin: str, salt: bytes) -> str:
    if not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise InvalidInput("a PIN is 4 to 8 digits")
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, _PIN_ITERATIONS)
    return f"pbkdf2_sha256${_PIN_ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, pin_hash: str) -> bool:
    try:
        scheme, iterations, salt_hex, digest_hex = pin_hash.split("$")
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, int(iterations))
    return hmac.compare_digest(digest, expected)
