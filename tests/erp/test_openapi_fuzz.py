"""schemathesis generates requests from /openapi.json: whatever it sends, the API never answers 5xx."""

from __future__ import annotations

import base64

import schemathesis
from hypothesis import HealthCheck, given, settings

from domain import Role, User, hash_pin

from domain.demo import demo_catalogue
from erp.api import Settings, create_app
from erp.masterdata import load_catalogue, put_users
from erp.storage import open_database
from tests.conftest import NOW
from tests.erp.conftest import provision

EXAMPLES_PER_OPERATION = 25


def test_no_generated_request_gets_a_server_error(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'erp.db'}")
    with engine.begin() as conn:
        load_catalogue(conn, demo_catalogue(now=NOW))
        put_users(conn, [User(user_id="ada", name="Ada Admin", role=Role.ADMIN, pin_hash=hash_pin("9753", b"s" * 16))])
    device_headers = provision(engine, "hh-fuzz")
    basic = {"Authorization": "Basic " + base64.b64encode(b"ada:9753").decode()}
    app = create_app(engine, Settings(max_batch=50, max_photo_bytes=4096))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
    def no_server_error(case) -> None:
        # Real credentials on every case: the generated paths, queries and bodies must reach the
        # handlers (refused credentials have tests of their own).
        credentials = device_headers if case.path.startswith(("/api/v1/sync", "/api/v1/photos")) else basic
        case.headers = {**(case.headers or {}), **credentials}
        response = case.call()
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")

    for operation in operations:
        given(case=operation.as_strategy())(no_server_error)()
    engine.dispose()
