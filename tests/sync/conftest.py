"""Sync fixtures: the central API served over real HTTP on 127.0.0.1, and devices syncing to it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from domain.demo import DemoCatalogue
from erp.api import Settings, create_app
from erp.identity import provision_device
from erp.masterdata import load_catalogue
from erp.storage import open_database
from local_db import DeviceStore
from sync.credential import DeviceCredential
from sync.engine import SyncEngine
from tests.conftest import stepping_environment
from tests.processes import free_port


class ApiServer:
    """The central API in a uvicorn server on a thread: real sockets, stoppable and restartable."""

    def __init__(self, engine: Engine, port: int | None = None, settings: Settings = Settings()) -> None:
        self.engine = engine
        self.port = port or free_port()
        self.settings = settings
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        config = uvicorn.Config(create_app(self.engine, self.settings), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(f"the API did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(20)
            self._server = None

    def provision(self, device_id: str, site_id: str = "DC1") -> DeviceCredential:
        with self.engine.begin() as conn:
            secret = provision_device(conn, device_id, site_id, dt.datetime.now(dt.UTC))
        return DeviceCredential(device_id, secret)


@pytest.fixture
def erp_db(tmp_path: Path, catalogue: DemoCatalogue) -> Iterator[Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'erp.db'}")
    with engine.begin() as conn:
        load_catalogue(conn, catalogue)
    yield engine
    engine.dispose()


@pytest.fixture
def central(erp_db: Engine) -> Iterator[ApiServer]:
    server = ApiServer(erp_db).start()
    yield server
    server.stop()


class Handheld:
    """A device as the app runs it: a store for commands and a sync engine with its own connection."""

    def __init__(self, path: Path, device_id: str, url: str, credential: DeviceCredential, **engine_options) -> None:
        self.path = path
        self.store = DeviceStore.open(path, env=stepping_environment(salt=device_id))
        self.store.initialize(device_id)
        self.engine = SyncEngine(path, url, credential, backoff_s=0.01, max_backoff_s=0.2, **engine_options)

    def sync(self):
        with DeviceStore.open(self.path) as store:
            return self.engine.sync_once(store)

    def close(self) -> None:
        self.engine.stop()
        self.store.close()


@pytest.fixture
def handhelds(tmp_path: Path, central: ApiServer) -> Iterator:
    made: list[Handheld] = []

    def make(device_id: str, url: str | None = None, **engine_options) -> Handheld:
        handheld = Handheld(tmp_path / f"{device_id}.db", device_id, url or central.url, central.provision(device_id),
                            **engine_options)
        made.append(handheld)
        return handheld

    yield make
    for handheld in made:
        handheld.close()


def server_units(engine: Engine) -> dict[str, dict]:
    from erp import tables as t

    with engine.connect() as conn:
        return {r.lpn: dict(r._mapping) for r in conn.execute(t.units.select())}


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


