"""Fixtures shared across test layers: the demo catalogue and device stores on real SQLite files."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from pathlib import Path

import pytest

from domain import Actor, Role
from domain.demo import DemoCatalogue, demo_catalogue
from local_db import DeviceStore, Environment

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
ASSOCIATE = Actor(user_id="alex", role=Role.ASSOCIATE)
SUPERVISOR = Actor(user_id="sam", role=Role.SUPERVISOR)


@pytest.fixture(scope="session")
def catalogue() -> DemoCatalogue:
    return demo_catalogue(now=NOW)


def stepping_environment(start: dt.datetime = NOW, salt: str = "") -> Environment:
    """A device clock that ticks 1 s per reading, and deterministic random bytes (distinct per salt)."""
    ticks = itertools.count(int(start.timestamp() * 1000), 1000)
    counter = itertools.count()

    def random_bytes(n: int) -> bytes:
        return hashlib.sha256(f"{salt}:{next(counter)}".encode()).digest()[:n]

    return Environment(wall_ms=lambda: next(ticks), random_bytes=random_bytes)


def open_device(path: Path, catalogue: DemoCatalogue, device_id: str = "dev-test-1") -> DeviceStore:
    store = DeviceStore.open(path, env=stepping_environment(salt=device_id))
    store.initialize(device_id)
    store.load_catalogue(catalogue)
    return store


@pytest.fixture
def store(tmp_path: Path, catalogue: DemoCatalogue):
    with open_device(tmp_path / "device.db", catalogue) as store:
        yield store


def snapshot(store: DeviceStore, tables: tuple[str, ...] | None = None) -> dict[str, list[tuple]]:
    """Every row of `tables` (default: all tables), sorted, to compare a database before and after."""
    conn = store.db.conn
    if tables is None:
        tables = tuple(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"))
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
