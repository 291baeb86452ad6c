"""Every (role, permission) pair, and the offline PIN check."""

from __future__ import annotations

import itertools

import pytest

from domain import EVENT_PERMISSION, Actor, EventType, InvalidInput, Permission, PermissionDenied, Role, can, hash_pin, require, verify_pin

P = Permission
FLOOR = {P.RECEIVE, P.INSPECT, P.GRADE, P.DECIDE_DISPOSITION, P.STORE, P.QUARANTINE}
SUPERVISION = {P.RELEASE_QUARANTINE, P.APPROVE_OVERRIDE, P.REASSIGN_BIN, P.COUNT_BIN, P.RESOLVE_EXCEPTION}
ADMINISTRATION = {P.MANAGE_MASTER_DATA, P.MANAGE_USERS, P.PROVISION_DEVICE}
EXPECTED = {
    Role.ASSOCIATE: FLOOR,
    Role.SUPERVISOR: FLOOR | SUPERVISION,
    Role.ADMIN: FLOOR | SUPERVISION | ADMINISTRATION,
}


@pytest.mark.parametrize(("role", "permission"), list(itertools.product(Role, Permission)), ids=str)
def test_permission_matrix(role, permission):
    allowed = permission in EXPECTED[role]
    assert can(role, permission) is allowed
    actor = Actor(user_id="u1", role=role)
    if allowed:
        require(actor, permission)
    else:
        with pytest.raises(PermissionDenied, match=f"u1 \\({role.value}\\) is not allowed to"):
            require(actor, permission)


def test_every_event_type_needs_a_permission():
    assert set(EVENT_PERMISSION) == set(EventType)


def test_associate_may_not_release_quarantine_or_resolve_exceptions():
    associate = Role.ASSOCIATE
    assert not can(associate, EVENT_PERMISSION[EventType.QUARANTINE_RELEASE])
    assert not can(associate, EVENT_PERMISSION[EventType.EXCEPTION_RESOLUTION])


def test_pin_hash_verifies_the_right_pin_only():
    stored = hash_pin("2468", b"0123456789abcdef")
    assert verify_pin("2468", stored)
    assert not verify_pin("2469", stored)
    assert "2468" not in stored


def test_same_pin_with_another_salt_hashes_differently():
    assert hash_pin("2468", b"a" * 16) != hash_pin("2468", b"b" * 16)


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", ""])
def test_pin_must_be_four_to_eight_digits(pin):
    with pytest.raises(InvalidInput, match="4 to 8 digits"):
        hash_pin(pin, b"salt")


@pytest.mark.parametrize("stored", ["", "plain", "md5$1$00$00", "pbkdf2_sha256$x$zz$00"])
def test_malformed_stored_hash_never_verifies(stored):
    assert not verify_pin("2468", stored)


def test_a_correction_needs_the_permission_of_the_step_it_corrects():
    corrected = {EventType.RECEIPT_VOID: EventType.RMA_RECEIPT, EventType.REGRADE: EventType.GRADING,
                 EventType.DISPOSITION_REOPENING: EventType.DISPOSITION, EventType.MOVE: EventType.STORE}
    for correction, step in corrected.items():
        assert EVENT_PERMISSION[correction] is EVENT_PERMISSION[step]
