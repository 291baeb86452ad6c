"""Lookups on the central API, on SQLite and PostgreSQL: a unit's history and its photos, for
supervisors and admins, and for devices of the unit's own site only."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from domain import Grade, Role, UnitGraded, UnitState, UnitStored, User, hash_pin
from domain.labels import lpn
from erp.masterdata import put_sites, put_users
from tests.conftest import NOW
from tests.erp.conftest import craft, provision, push
from tests.integration.test_device_store import to_state

LPN1 = lpn(1)
SUPERVISOR = ("sam", "1357")  # HTTP Basic: user id and PIN
ASSOCIATE = ("alex", "2468")
JPEG = b"\xff\xd8\xff\xe0" + b"returnflow test photo" * 10
PNG = b"\x89PNG\r\n\x1a\n" + b"returnflow test photo" * 10


@pytest.fixture
def other_site_device(erp_engine):
    with erp_engine.begin() as conn:
        put_sites(conn, [("DC2", "Returns centre DC2")])
    return provision(erp_engine, "hh-dc2", site_id="DC2")


def history(api, code, **auth):
    return api.get(f"/api/v1/units/{code}/history", **auth)


def graded_and_pushed(api, device_factory, catalogue, photos=()):
    """hh-1 receives, inspects and grades LPN1, uploads `photos` and pushes; returns its store,
    credentials and the photos' hashes."""
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED)
    hashes = [store.add_photo(p) for p in photos]
    for sha256, content in zip(hashes, photos):
        assert api.put(f"/api/v1/photos/{sha256}", content=content, headers=headers).status_code == 201
    assert push(api, headers, store).status_code == 200
    return store, headers, hashes


def test_a_supervisor_reads_every_event_about_a_unit_in_order_with_its_outcome(api, device_factory, catalogue):
    graded_and_pushed(api, device_factory, catalogue)
    _, headers2 = device_factory("hh-2")
    later = NOW + dt.timedelta(hours=1)
    rivals = [craft("hh-2", 1, UnitGraded(lpn=LPN1, grade=Grade.C), base_version=2, occurred_at=later),
              craft("hh-2", 2, UnitStored(lpn=LPN1, bin_code="BIN-SCR-S01"), base_version=3,
                    occurred_at=later + dt.timedelta(minutes=1))]
    assert push(api, headers2, None, events=rivals).status_code == 200
    response = history(api, LPN1, auth=SUPERVISOR)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["site_id"], body["unit"]["lpn"], body["unit"]["state"], body["unit"]["grade"]) == (
        "DC1", LPN1, "disputed", "A")
    steps = [(s["type"], s["device_id"], s["device_seq"], s["actor"], s["role"], s["outcome"], s["rule"])
             for s in body["steps"]]
    assert steps == [
        ("rma_receipt", "hh-1", 1, "alex", "associate", "applied", None),
        ("inspection_recorded", "hh-1", 2, "alex", "associate", "applied", None),
        ("unit_graded", "hh-1", 3, "alex", "associate", "applied", None),
        ("unit_graded", "hh-2", 1, "alex", "associate", "conflict", "different_decisions_disputed"),
        ("unit_stored", "hh-2", 2, "alex", "associate", "rejected", "invalid_transition"),
    ]
    disputed, refused = body["steps"][3], body["steps"][4]
    assert disputed["exception_id"] and "cannot store" in refused["reason"]
    assert dt.datetime.fromisoformat(disputed["occurred_at"]) == later
    assert all(dt.datetime.fromisoformat(s["received_at"]).tzinfo for s in body["steps"])


def test_another_units_events_are_not_in_its_history(api, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED)
    to_state(store, catalogue, UnitState.INSPECTED, code=lpn(2))
    push(api, headers, store)
    assert [s["type"] for s in history(api, LPN1, auth=SUPERVISOR).json()["steps"]] == ["rma_receipt"]


def test_an_admin_reads_a_history_and_an_associate_may_not(api, erp_engine, device_factory, catalogue):
    graded_and_pushed(api, device_factory, catalogue)
    with erp_engine.begin() as conn:
        put_users(conn, [User(user_id="ada", name="Ada Admin", role=Role.ADMIN, pin_hash=hash_pin("9753", b"s" * 16))])
    assert history(api, LPN1, auth=("ada", "9753")).status_code == 200
    refused = history(api, LPN1, auth=ASSOCIATE)
    assert refused.status_code == 403 and refused.json()["error"] == "PermissionDenied"


def test_a_device_reads_its_own_sites_units_and_not_another_sites(api, device_factory, catalogue, other_site_device):
    _, headers, _ = graded_and_pushed(api, device_factory, catalogue)
    _, same_site = device_factory("hh-3")
    assert history(api, LPN1, headers=same_site).json()["unit"]["lpn"] == LPN1
    assert history(api, LPN1, headers=headers).status_code == 200
    elsewhere = history(api, LPN1, headers=other_site_device)
    unknown = history(api, lpn(99), headers=same_site)
    assert elsewhere.status_code == unknown.status_code == 404
    assert elsewhere.json() == {"error": "UnknownEntity", "message": f"unknown unit: {LPN1}"}


@pytest.mark.parametrize("credentials", [
    {},
    {"auth": ("sam", "0000")},
    {"headers": {"X-Returnflow-Device": "hh-1", "Authorization": "Bearer not-the-secret"}},
    {"headers": {"X-Returnflow-Device": "hh-1"}},
    {"headers": {"Authorization": "Basic !!!"}},
])
def test_a_lookup_without_valid_credentials_is_401(api, device_factory, catalogue, credentials):
    graded_and_pushed(api, device_factory, catalogue)
    assert history(api, LPN1, **credentials).status_code == 401
    assert api.get(f"/api/v1/photos/{'0' * 64}", **credentials).status_code == 401


def test_an_unknown_unit_is_404(api):
    response = history(api, lpn(42), auth=SUPERVISOR)
    assert response.status_code == 404 and response.json()["message"] == f"unknown unit: {lpn(42)}"


def test_a_photo_comes_back_as_uploaded_with_its_image_type(api, device_factory, catalogue, other_site_device):
    _, headers, (jpeg, png) = graded_and_pushed(api, device_factory, catalogue, photos=(JPEG, PNG))
    for sha256, content, kind in ((jpeg, JPEG, "image/jpeg"), (png, PNG, "image/png")):
        response = api.get(f"/api/v1/photos/{sha256}", auth=SUPERVISOR)
        assert (response.status_code, response.content, response.headers["content-type"]) == (200, content, kind)
        assert hashlib.sha256(response.content).hexdigest() == sha256
    _, same_site = device_factory("hh-3")
    assert api.get(f"/api/v1/photos/{jpeg}", headers=same_site).content == JPEG
    assert api.get(f"/api/v1/photos/{jpeg}", headers=other_site_device).status_code == 404
    assert api.get(f"/api/v1/photos/{jpeg}", auth=ASSOCIATE).status_code == 403


def test_bytes_that_are_no_known_image_come_back_as_octet_stream(api, device_factory):
    _, headers = device_factory("hh-1")
    content = b"not an image at all"
    sha256 = hashlib.sha256(content).hexdigest()
    api.put(f"/api/v1/photos/{sha256}", content=content, headers=headers)
    response = api.get(f"/api/v1/photos/{sha256}", headers=headers)
    assert (response.content, response.headers["content-type"]) == (content, "application/octet-stream")


@pytest.mark.parametrize("address,status", [
    (hashlib.sha256(b"never uploaded").hexdigest(), 404),
    ("ABC", 422),
    (hashlib.sha256(b"x").hexdigest().upper(), 422),
    ("0" * 65, 422),
])
def test_an_unknown_or_malformed_photo_address_is_a_client_error(api, address, status):
    response = api.get(f"/api/v1/photos/{address}", auth=SUPERVISOR)
    assert response.status_code == status and response.json()["error"]


def test_the_lookups_are_documented_with_their_refusals(api):
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/units/{lpn}/history", "/api/v1/photos/{sha256}"):
        assert {"200", "401", "403", "404"} <= set(paths[path]["get"]["responses"])
    assert "image/jpeg" in paths["/api/v1/photos/{sha256}"]["get"]["responses"]["200"]["content"]
