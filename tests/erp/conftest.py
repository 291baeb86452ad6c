"""Central API fixtures: every test runs on a real SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from domain.demo import DemoCatalogue
from erp.api import Settings, create_app
from erp.identity import provision_device
from erp.masterdata import load_catalogue
from erp.storage import open_database
from local_db import DeviceStore
from sync.protocol import DEVICE_HEADER
from tests.conftest import open_device
from tests.pgserver import postgres_server
from tests.processes import fresh_pg_database

# The PostgreSQL server the tests create their databases on; without one a throwaway server is
# started. PostgreSQL tests are never skipped: it is the production path.
PG_ADMIN_URL = os.environ.get("RETURNFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    with postgres_server(PG_ADMIN_URL) as url:
        yield url


@pytest.fixture
def database_url(request, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'erp.db'}"
        return
    with fresh_pg_database(request.getfixturevalue("pg_admin_url")) as url:
        yield url


def pytest_generate_tests(metafunc) -> None:
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def erp_engine(database_url: str, catalogue: DemoCatalogue) -> Iterator[Engine]:
    engine = open_database(database_url)
    with engine.begin() as conn:
        load_catalogue(conn, catalogue)
    yield engine
    engine.dispose()


@pytest.fixture
def api(erp_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(erp_engine, Settings(max_batch=100, max_photo_bytes=64 * 1024))) as client:
        yield client


def provision(engine: Engine, device_id: str, site_id: str = "DC1") -> dict[str, str]:
    with engine.begin() as conn:
        secret = provision_device(conn, device_id, site_id, dt.datetime.now(dt.UTC))
    return {DEVICE_HEADER: device_id, "Authorization": f"Bearer {secret}"}


@pytest.fixture
def device_factory(tmp_path: Path, catalogue: DemoCatalogue, erp_engine: Engine):
    """Real device stores on files, each provisioned on the central API; returns (store, headers)."""
    opened: list[DeviceStore] = []

    def make(device_id: str) -> tuple[DeviceStore, dict[str, str]]:
        store = open_device(tmp_path / f"{device_id}.db", catalogue, device_id)
        opened.append(store)
        return store, provision(erp_engine, device_id)

    yield make
    for store in opened:
        store.close()


def push(api: TestClient, headers: dict[str, str], store: DeviceStore, after_seq: int = 0, events=None):
    events = store.events(after_seq) if events is None else events
    body = {"device_id": events[0].device_id if events else store.device_id, "sent_at": dt.datetime.now(dt.UTC).isoformat(),
            "events": [e.model_dump(mode="json") for e in events]}
    return api.post("/api/v1/sync/push", json=body, headers=headers)


def craft(device_id: str, seq: int, payload, *, actor: str = "alex", role=None, base_version: int = 0,
          occurred_at: dt.datetime | None = None):
    """An event as a device would send it, for cases a well-behaved device store cannot produce."""
    from domain import Event, Role, uuid7

    occurred_at = occurred_at or dt.datetime.now(dt.UTC)
    millis = int(occurred_at.timestamp() * 1000)
    return Event(event_id=uuid7(millis, os.urandom(10)), device_id=device_id, device_seq=seq,
                 hlc=f"{millis:015d}.{seq:06d}", actor=actor, role=role or Role.ASSOCIATE, occurred_at=occurred_at,
                 type=payload.type, base_version=base_version, payload=payload)


def pull_all(api: TestClient, headers: dict[str, str], page_size: int = 1000) -> list[dict]:
    """Every change the device may pull, page by page from cursor 0."""
    changes, cursor = [], 0
    while True:
        page = api.get("/api/v1/sync/pull", params={"after": cursor, "limit": page_size}, headers=headers).json()
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            return changes
