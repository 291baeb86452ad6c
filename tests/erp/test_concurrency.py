"""Two real API processes on one database (PostgreSQL, or one SQLite file as `erp serve --workers 2`
shares it): the same device's batches reach both at the same time, and every event is still
applied exactly once and in device_seq order."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from domain import Grade, UnitState
from domain.labels import lpn
from erp import tables as t
from erp.masterdata import load_catalogue
from erp.storage import open_database
from tests.conftest import open_device
from tests.erp.conftest import provision
from tests.processes import free_port, fresh_pg_database, start_api, stop
from tests.integration.test_device_store import to_state

@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'erp.db'}"
        return
    with fresh_pg_database(request.getfixturevalue("pg_admin_url")) as url:
        yield url


def test_two_processes_apply_one_devices_batches_exactly_once_in_order(shared_database, tmp_path, catalogue):
    engine = open_database(shared_database)
    with engine.begin() as conn:
        load_catalogue(conn, catalogue)
    headers = provision(engine, "hh-1")
    store = open_device(tmp_path / "hh-1.db", catalogue, "hh-1")
    for n in range(1, 61):  # 60 units through five steps each: 300 events
        to_state(store, catalogue, UnitState.STORED, lpn(n), grade=Grade.A)
    events = [e.model_dump(mode="json") for e in store.events()]
    batches = [events[i:i + 20] for i in range(0, len(events), 20)]

    ports = [free_port(), free_port()]
    servers = [start_api(shared_database, port) for port in ports]
    try:
        outcomes: list[tuple[int, str]] = []
        lock = threading.Lock()

        def sender(worker: int) -> None:
            rng = random.Random(worker)
            with httpx.Client(timeout=30) as client:
                for batch in batches:  # every worker sends every batch: each is raced by four senders
                    while True:
                        port = rng.choice(ports)
                        body = {"device_id": "hh-1", "sent_at": dt.datetime.now(dt.UTC).isoformat(), "events": batch}
                        response = client.post(f"http://127.0.0.1:{port}/api/v1/sync/push", json=body, headers=headers)
                        if response.status_code == 409:  # a gap: an earlier batch did not land in time
                            time.sleep(rng.uniform(0.001, 0.01))
                            continue
                        assert response.status_code == 200, response.text
                        with lock:
                            outcomes.extend((r["device_seq"], r["outcome"]) for r in response.json()["results"])
                        break

        threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        for server in servers:
            stop(server)

    applied = sorted(seq for seq, outcome in outcomes if outcome == "applied")
    assert applied == list(range(1, len(events) + 1)), "each event applied exactly once"
    assert {outcome for _, outcome in outcomes} <= {"applied", "duplicate"}
    with engine.connect() as conn:
        seqs = conn.execute(select(t.events.c.device_seq).order_by(t.events.c.device_seq)).scalars().all()
        last = conn.execute(select(t.ledger.c.last_seq)).scalar()
        states = conn.execute(select(t.units.c.state).distinct()).all()
        qty = conn.execute(select(t.stock.c.qty)).all()
    assert seqs == list(range(1, len(events) + 1)) and last == len(events)
    # In order: each unit's five steps only apply one after the other (the state machine refuses a
    # grade before an inspection), so 300 "applied" and 60 stored units mean no step overtook another.
    assert states == [("stored",)] and sum(q for (q,) in qty) == 60
    store.close()
    engine.dispose()
