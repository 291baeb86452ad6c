"""Bad input gets a 4xx with a clear message and writes nothing; identity is checked on every call."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import func, select

from domain import UnitState
from erp import tables as t
from tests.erp.conftest import provision, push
from tests.integration.test_device_store import to_state


def events_written(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.events)).scalar()


@pytest.fixture
def device(device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED)
    return store, headers


def body_of(store, **changes):
    body = {"device_id": store.device_id, "sent_at": dt.datetime.now(dt.UTC).isoformat(),
            "events": [e.model_dump(mode="json") for e in store.events()]}
    return body | changes


def test_malformed_json_is_a_clear_422(api, erp_engine, device):
    _, headers = device
    response = api.post("/api/v1/sync/push", content=b'{"events": [', headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "malformed_json"
    assert events_written(erp_engine) == 0


@pytest.mark.parametrize("mutate, error, words", [
    (lambda e: e.update(type="teleported"), "invalid_request", "type"),
    (lambda e: e["payload"].update(type="teleported"), "invalid_request", "payload"),
    (lambda e: e.update(schema_version=99), "unsupported_schema", "schema_version 99"),
    (lambda e: e.update(schema_version=2.0), "unsupported_schema", "schema_version 2.0"),
    (lambda e: e.update(actor="a" * 40), "invalid_request", "actor"),
    (lambda e: e["payload"].update(sku="HOM\x0010231"), "invalid_request", "sku"),
    (lambda e: e.update(device_seq="first"), "invalid_request", "device_seq"),
    (lambda e: e["payload"].update(lpn="LPN-0000000018"), "invalid_request", "check digit wrong"),
])
def test_a_bad_event_refuses_the_batch_and_writes_nothing(api, erp_engine, device, mutate, error, words):
    store, headers = device
    body = body_of(store)
    mutate(body["events"][-1])
    response = api.post("/api/v1/sync/push", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == error and words in response.json()["message"]
    assert events_written(erp_engine) == 0


def test_an_oversize_batch_is_413(api, erp_engine, device):
    store, headers = device
    body = body_of(store)
    body["events"] = body["events"] * 40  # over the test server's 100-event limit
    response = api.post("/api/v1/sync/push", json=body, headers=headers)
    assert response.status_code == 413 and response.json()["error"] in ("batch_too_large", "too_large")
    assert events_written(erp_engine) == 0


def test_events_out_of_order_are_refused(api, erp_engine, device):
    store, headers = device
    body = body_of(store)
    body["events"].reverse()
    response = api.post("/api/v1/sync/push", json=body, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "batch_out_of_order"


@pytest.mark.parametrize("headers", [
    {},
    {"X-Returnflow-Device": "hh-1"},
    {"X-Returnflow-Device": "hh-1", "Authorization": "Bearer wrong"},
    {"X-Returnflow-Device": "hh-1", "Authorization": "Basic abc"},
    {"X-Returnflow-Device": "nobody", "Authorization": "Bearer wrong"},
])
def test_bad_device_credentials_are_refused(api, erp_engine, device, headers):
    store, _ = device
    response = api.post("/api/v1/sync/push", json=body_of(store), headers=headers)
    assert response.status_code == 401
    assert response.json()["message"]
    assert events_written(erp_engine) == 0


def test_a_revoked_device_is_refused(api, erp_engine, device):
    store, headers = device
    assert api.post("/api/v1/admin/devices/hh-1/revoke", auth=("sam", "1357")).status_code == 403
    with erp_engine.begin() as conn:
        conn.execute(t.devices.update().where(t.devices.c.device_id == "hh-1").values(active=False))
    response = push(api, headers, store)
    assert response.status_code == 401 and "revoked" in response.json()["message"]
    assert api.get("/api/v1/sync/pull", headers=headers).status_code == 401


def test_a_batch_naming_another_device_is_forbidden(api, erp_engine, device):
    store, headers = device
    provision(erp_engine, "hh-2")
    response = api.post("/api/v1/sync/push", json=body_of(store, device_id="hh-2"), headers=headers)
    assert response.status_code == 403


def test_photos_are_content_addressed_and_size_limited(api, erp_engine, device):
    _, headers = device
    photo = b"\xff\xd8\xff" + bytes(range(256)) * 10
    digest = hashlib.sha256(photo).hexdigest()
    created = api.put(f"/api/v1/photos/{digest}", content=photo, headers=headers)
    assert created.status_code == 201 and created.json() == {"sha256": digest, "size": len(photo)}
    assert api.put(f"/api/v1/photos/{digest}", content=photo, headers=headers).status_code == 201
    mismatch = api.put(f"/api/v1/photos/{'0' * 64}", content=photo, headers=headers)
    assert mismatch.status_code == 422 and mismatch.json()["error"] == "hash_mismatch"
    big = b"x" * (64 * 1024 + 1)
    too_big = api.put(f"/api/v1/photos/{hashlib.sha256(big).hexdigest()}", content=big, headers=headers)
    assert too_big.status_code == 413
    with erp_engine.connect() as conn:
        assert conn.execute(select(t.photos.c.sha256, t.photos.c.size)).all() == [(digest, len(photo))]


def test_pull_pages_through_the_feed_with_a_cursor(api, erp_engine, device):
    _, headers = device
    seen, cursor, pages = [], 0, 0
    while True:
        page = api.get("/api/v1/sync/pull", params={"after": cursor, "limit": 200}, headers=headers).json()
        seen += page["changes"]
        cursor, pages = page["cursor"], pages + 1
        if not page["more"]:
            break
    kinds = {c["kind"] for c in seen}
    assert {"item", "bin", "user", "rma", "rules", "category"} <= kinds
    assert len([c for c in seen if c["kind"] == "item"]) == 520
    assert [c["seq"] for c in seen] == sorted({c["seq"] for c in seen})
    assert pages > 1
    assert api.get("/api/v1/sync/pull", params={"after": cursor}, headers=headers).json()["changes"] == []


def test_admin_provisions_a_device_whose_secret_works_once_shown(api, erp_engine, catalogue):
    from domain import Role, User, hash_pin
    from erp.masterdata import put_users

    with erp_engine.begin() as conn:
        put_users(conn, [User(user_id="ada", name="Ada Admin", role=Role.ADMIN, pin_hash=hash_pin("9753", b"s" * 16))])
    response = api.post("/api/v1/admin/devices", json={"device_id": "hh-9", "site_id": "DC1"}, auth=("ada", "9753"))
    assert response.status_code == 201
    secret = response.json()["secret"]
    headers = {"X-Returnflow-Device": "hh-9", "Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/sync/pull", params={"limit": 1}, headers=headers).status_code == 200
    with erp_engine.connect() as conn:
        stored = conn.execute(select(t.devices.c.secret_hash)).scalar()
    assert secret not in stored
    again = api.post("/api/v1/admin/devices", json={"device_id": "hh-9", "site_id": "DC1"}, auth=("ada", "9753"))
    assert again.status_code == 409 and "already provisioned" in again.json()["message"]
    unknown_site = api.post("/api/v1/admin/devices", json={"device_id": "hh-10", "site_id": "XX"}, auth=("ada", "9753"))
    assert unknown_site.status_code == 404


def test_a_clock_without_a_timezone_is_refused(api, erp_engine, device):
    store, headers = device
    response = api.post("/api/v1/sync/push", json=body_of(store, sent_at="2026-11-26T10:00:00"), headers=headers)
    assert response.status_code == 422 and "sent_at" in response.json()["message"]


def test_repeated_wrong_pins_lock_the_user_out(api, erp_engine):
    for _ in range(5):
        assert api.get("/api/v1/metrics", auth=("sam", "0000")).status_code == 401
    locked = api.get("/api/v1/metrics", auth=("sam", "1357"))
    assert locked.status_code == 401 and "too many wrong PINs" in locked.json()["message"]
    assert api.get("/api/v1/metrics", auth=("sam\x00", "1357")).status_code == 401


def test_sign_in_throttle_forgets_after_the_lockout():
    from erp.identity import AuthenticationFailed, SignInThrottle

    now = [0.0]
    throttle = SignInThrottle(attempts=3, window_s=60, lockout_s=120, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("sam")
    with pytest.raises(AuthenticationFailed):
        throttle.check("sam")
    now[0] = 121
    throttle.check("sam")
    throttle.failed("sam")
    throttle.succeeded("sam")
    throttle.failed("sam")
    throttle.failed("sam")
    throttle.check("sam")  # the success reset the count: two failures are not three


def test_a_pull_does_not_wait_for_a_writer(api, erp_engine, device):
    import time

    from sqlalchemy import update

    _, headers = device
    with erp_engine.begin() as conn:  # a writer holds the database's write lock meanwhile
        conn.execute(update(t.sites).values(name="busy"))
        started = time.monotonic()
        response = api.get("/api/v1/sync/pull", params={"limit": 10}, headers=headers)
        waited = time.monotonic() - started
    assert response.status_code == 200 and len(response.json()["changes"]) == 10
    assert waited < 5, f"the pull waited {waited:.1f} s for the writer (busy timeout is 30 s)"
