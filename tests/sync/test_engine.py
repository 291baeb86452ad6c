"""The sync engine against the real central API over loopback HTTP: push, pull, answers, refusals."""

from __future__ import annotations

import json
import os
import stat

import pytest
from sqlalchemy import select

from domain import Grade, InvalidInput, ReasonCode, UnitState
from erp import tables as t
from erp.masterdata import put_reason_codes
from local_db import DeviceStore
from sync.credential import CredentialError, DeviceCredential, credential_path, load_credential, save_credential
from sync.engine import DeviceRefused, ServerTooOld, SyncFailed, SyncState, unit_boundary
from tests.conftest import ASSOCIATE, SUPERVISOR, open_device, snapshot
from tests.faults import Fault, FaultProxy
from tests.integration.test_device_store import answers
from tests.sync.conftest import server_units
from tests.sync.workflow import inspect, receive, to_stored

MASTER_TABLES = ("categories", "reason_codes", "condition_codes", "disposition_rules", "items", "item_gtins", "bins",
                 "users", "rmas", "rma_lines")
UNIT_FIELDS = ("state", "bin_code", "grade", "disposition", "sku", "rma_id", "line_no", "serial", "lot",
               "reason_code", "held_from")


def device_view(store: DeviceStore, lpn: str) -> dict:
    return {f: v for f, v in store.unit(lpn).model_dump(mode="json").items() if f in UNIT_FIELDS}


def server_view(engine, lpn: str) -> dict:
    row = server_units(engine)[lpn]
    return {f: row[f] for f in UNIT_FIELDS}


def server_events(engine, device_id: str) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(t.events.c.device_seq, t.events.c.outcome)
                                              .where(t.events.c.device_id == device_id).order_by(t.events.c.device_seq))]


def test_a_new_device_pulls_the_whole_catalogue(handhelds, catalogue, tmp_path):
    device = handhelds("dev-a")
    report = device.sync()
    assert report.pulled > 0 and report.pushed == 0
    with open_device(tmp_path / "reference.db", catalogue, "dev-ref") as reference:
        assert snapshot(device.store, MASTER_TABLES) == snapshot(reference, MASTER_TABLES)
    assert device.engine.status.state is SyncState.ONLINE
    assert device.engine.status.last_success_at is not None


def test_work_syncs_up_and_reaches_another_device(handhelds, erp_db):
    a, b = handhelds("dev-a"), handhelds("dev-b")
    a.sync(), b.sync()
    lpn = receive(a.store, 17)
    to_stored(a.store, lpn)
    assert a.store.sync_counts()["pending"] == 5
    assert a.sync().pushed == 5
    assert a.store.sync_counts() == {"pending": 0, "conflict": 0, "rejected": 0}
    assert server_events(erp_db, "dev-a") == [(seq, "applied") for seq in range(1, 6)]
    b.sync()
    assert device_view(b.store, lpn) == device_view(a.store, lpn) == server_view(erp_db, lpn)
    assert b.store.unit(lpn).server_version == a.store.unit(lpn).server_version == server_units(erp_db)[lpn]["version"]


def test_a_step_the_server_state_no_longer_allows_is_rejected_and_leaves_the_view(handhelds, erp_db):
    a, b = handhelds("dev-a"), handhelds("dev-b")
    a.sync(), b.sync()
    lpn = receive(a.store, 21)
    a.sync(), b.sync()
    to_stored(a.store, lpn)
    a.sync()
    inspect(b.store, lpn)  # b has not pulled: locally the unit still waits for inspection
    b.sync()
    counts = b.store.sync_counts()
    assert counts["rejected"] == 1 and counts["pending"] == 0
    [refused] = b.store.refused_events()
    assert (refused.type, refused.lpn, refused.status, refused.rule) == (
        "inspection_recorded", lpn, "rejected", "invalid_transition")
    assert "stored" in refused.reason
    assert device_view(b.store, lpn) == server_view(erp_db, lpn) == device_view(a.store, lpn)


def disputed(handhelds, number: int, first: Grade, second: Grade):
    """Two synced devices grade one inspected unit differently from the same base, then sync."""
    a, b = handhelds("dev-a"), handhelds("dev-b")
    a.sync(), b.sync()
    lpn = receive(a.store, number)
    inspect(a.store, lpn)
    a.sync(), b.sync()
    a.store.grade(ASSOCIATE, lpn=lpn, grade=first)
    b.store.grade(ASSOCIATE, lpn=lpn, grade=second)
    a.sync(), b.sync(), a.sync()
    return a, b, lpn


def test_different_grades_from_the_same_base_dispute_the_unit_on_every_device(handhelds, erp_db):
    a, b, lpn = disputed(handhelds, 22, Grade.A, Grade.D)
    assert [r.rule for r in b.store.refused_events()] == ["different_decisions_disputed"]
    for device in (a, b):
        assert device.store.unit(lpn).state.value == "disputed"
        assert device_view(device.store, lpn) == server_view(erp_db, lpn)
        [(kind, status)] = device.store.db.execute("SELECT kind, status FROM exceptions WHERE lpn = ?", (lpn,))
        assert (kind, status) == ("dispute", "open")


def test_answers_lost_on_the_way_back_are_duplicates_and_nothing_is_applied_twice(central, handhelds, erp_db):
    with FaultProxy(central.port, seed=3) as proxy:
        # One batch on its way at a time, so the forced faults below all hit the same batch.
        device = handhelds("dev-a", url=proxy.url, batch_size=2, in_flight=1)
        device.sync()
        for n in range(6):
            receive(device.store, 100 + n)
        # Three answers lost in a row: the push's own retries run out, the next sync resends.
        proxy.next_faults([Fault.DROP_RESPONSE, Fault.CUT_RESPONSE, Fault.ERROR_5XX_AFTER, Fault.DROP_RESPONSE])
        with pytest.raises(SyncFailed):
            device.sync()
        device.sync()
        assert {f: proxy.counts[f] for f in (Fault.DROP_RESPONSE, Fault.CUT_RESPONSE, Fault.ERROR_5XX_AFTER)} == {
            Fault.DROP_RESPONSE: 2, Fault.CUT_RESPONSE: 1, Fault.ERROR_5XX_AFTER: 1}
    assert server_events(erp_db, "dev-a") == [(seq, "applied") for seq in range(1, 7)]
    assert device.store.sync_counts() == {"pending": 0, "conflict": 0, "rejected": 0}


def test_a_batch_answered_before_the_next_one_fails_is_recorded_as_acknowledged(central, handhelds, erp_db):
    with FaultProxy(central.port, seed=5) as proxy:
        device = handhelds("dev-a", url=proxy.url, batch_size=2, in_flight=1)  # the faults hit the second batch
        device.sync()
        for n in range(5):
            receive(device.store, 150 + n)
        # The first batch goes through; every try of the second one is lost before the API sees it.
        proxy.next_faults([None, Fault.DROP_REQUEST, Fault.DROP_REQUEST, Fault.DROP_REQUEST])
        with pytest.raises(SyncFailed):
            device.sync()
        assert server_events(erp_db, "dev-a") == [(1, "applied"), (2, "applied")]
        assert device.store.sync_counts()["pending"] == 3  # the first batch's answers were kept
        device.sync()
    assert server_events(erp_db, "dev-a") == [(seq, "applied") for seq in range(1, 6)]
    assert device.store.sync_counts() == {"pending": 0, "conflict": 0, "rejected": 0}


def test_a_batchs_answers_are_kept_when_sending_the_next_batch_fails(central, handhelds, erp_db):
    """The next batch leaves before this one's answers are written; if it cannot leave (here its
    photo cannot be uploaded), the answers are written all the same."""
    with FaultProxy(central.port, seed=7) as proxy:
        device = handhelds("dev-a", url=proxy.url, batch_size=2, in_flight=1)
        device.sync()
        receive(device.store, 700)
        lpn = receive(device.store, 701)
        sha = device.store.add_photo(os.urandom(3000))
        device.store.inspect(ASSOCIATE, lpn=lpn, answers=answers(device.store, lpn),
                             photo_hashes=[sha])
        # The first batch goes through; every try of the next batch's photo upload fails.
        proxy.next_faults([None, Fault.ERROR_5XX, Fault.ERROR_5XX, Fault.ERROR_5XX])
        with pytest.raises(SyncFailed):
            device.sync()
        applied = server_events(erp_db, "dev-a")
        assert applied and all(outcome == "applied" for _, outcome in applied)
        assert device.store.sync_counts()["pending"] == 3 - len(applied)  # the first batch's answers were kept
        device.sync()
    assert server_events(erp_db, "dev-a") == [(seq, "applied") for seq in range(1, 4)]
    assert device.store.sync_counts() == {"pending": 0, "conflict": 0, "rejected": 0}


@pytest.mark.parametrize("fault", [Fault.DROP_RESPONSE, Fault.CUT_RESPONSE, Fault.ERROR_5XX_AFTER])
def test_two_batches_on_their_way_lose_answers_and_each_event_still_applies_once_in_order(
        central, handhelds, erp_db, fault):
    with FaultProxy(central.port, seed=6) as proxy:
        device = handhelds("dev-a", url=proxy.url, batch_size=2, in_flight=2)
        device.sync()
        for n in range(7):
            receive(device.store, 160 + n)
        # Both batches on their way reach the API, and both answers are lost: whichever of the two
        # the API took first, the device learns of neither and sends both again.
        proxy.next_faults([fault, fault])
        device.sync()
        assert proxy.counts[fault] == 2
    assert server_events(erp_db, "dev-a") == [(seq, "applied") for seq in range(1, 8)]
    assert device.store.sync_counts() == {"pending": 0, "conflict": 0, "rejected": 0}


def test_a_server_that_lost_acknowledged_events_gets_them_again(handhelds, erp_db):
    device = handhelds("dev-a")
    device.sync()
    for n in range(3):
        receive(device.store, 200 + n)
    # As if the device had been answered for all three by a server since restored from an older backup.
    with device.store.db.conn:
        device.store.db.execute("INSERT INTO sync_results (device_seq, status, updated_at) "
                                "VALUES (1, 'acknowledged', 't'), (2, 'acknowledged', 't')")
    device.sync()
    assert server_events(erp_db, "dev-a") == [(1, "applied"), (2, "applied"), (3, "applied")]


def test_events_of_a_schema_the_server_does_not_know_wait_and_pull_goes_on(handhelds, erp_db):
    device = handhelds("dev-a")
    device.sync()
    receive(device.store, 300)
    with device.store.db.conn:
        device.store.db.execute("UPDATE events SET schema_version = 99 WHERE device_seq = 1")
    with erp_db.begin() as conn:
        put_reason_codes(conn, [ReasonCode(code="late", label="Arrived after the return window")])
    with pytest.raises(ServerTooOld, match="kept until it is upgraded"):
        device.sync()
    assert device.store.db.execute("SELECT label FROM reason_codes WHERE code = 'late'").fetchone() is not None
    assert device.store.sync_counts()["pending"] == 1
    assert device.engine.status.state is SyncState.ERROR and "upgraded" in device.engine.status.message
    assert server_events(erp_db, "dev-a") == []


def test_a_revoked_device_keeps_its_events(handhelds, central, erp_db):
    import datetime as dt

    from erp.identity import revoke_device

    device = handhelds("dev-a")
    device.sync()
    receive(device.store, 400)
    with erp_db.begin() as conn:
        revoke_device(conn, "dev-a", dt.datetime.now(dt.UTC))
    with pytest.raises(DeviceRefused, match="refused this device"):
        device.sync()
    assert device.store.sync_counts()["pending"] == 1
    assert device.engine.status.state is SyncState.ERROR


def test_the_api_down_means_offline_and_nothing_is_lost(handhelds, central):
    device = handhelds("dev-a")
    device.sync()
    receive(device.store, 500)
    central.stop()
    with pytest.raises(SyncFailed):
        device.sync()
    assert device.engine.status.state is SyncState.OFFLINE
    assert device.engine.status.pending == 1
    central.start()
    device.sync()
    assert device.engine.status.state is SyncState.ONLINE and device.engine.status.pending == 0


def test_photos_reach_the_server_before_the_inspection_naming_them(handhelds, erp_db):
    device = handhelds("dev-a")
    device.sync()
    lpn = receive(device.store, 600)
    photo = os.urandom(3000)
    sha = device.store.add_photo(photo)
    device.store.inspect(ASSOCIATE, lpn=lpn, answers=answers(device.store, lpn),
                         photo_hashes=[sha])
    device.sync()
    with erp_db.connect() as conn:
        assert conn.execute(select(t.photos.c.content).where(t.photos.c.sha256 == sha)).scalar_one() == photo
    assert device.store.db.execute("SELECT uploaded_at IS NOT NULL FROM photos").fetchone() == (1,)


def test_the_background_worker_syncs_on_demand_and_after_an_outage(handhelds, central):
    device = handhelds("dev-a", interval_s=3600)
    seen = []  # each status, with how the sync before it ended
    device.engine.subscribe(lambda status: seen.append((status.state, device.engine.last_outcome)))
    device.engine.start()
    from tests.sync.conftest import wait_for

    wait_for(lambda: device.engine.status.state is SyncState.ONLINE)
    central.stop()
    receive(device.store, 700)
    device.engine.request_sync()
    wait_for(lambda: device.engine.status.state is SyncState.OFFLINE)
    central.start()  # the worker retries with backoff: it comes back by itself
    wait_for(lambda: device.engine.status.state is SyncState.ONLINE and device.engine.status.pending == 0)
    # The attempt that found the API back began while the last sync had ended offline.
    assert (SyncState.SYNCING, SyncState.OFFLINE) in seen
    assert device.engine.last_outcome is SyncState.ONLINE


def test_the_credential_file_is_private_and_the_secret_never_shows(tmp_path):
    path = credential_path(tmp_path / "device.db")
    credential = DeviceCredential("dev-a", "s3cret-value")
    save_credential(path, credential)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credential(path) == credential
    assert "s3cret" not in repr(credential)
    assert json.loads(path.read_text())["secret"] == "s3cret-value"
    path.chmod(0o644)
    with pytest.raises(CredentialError, match="chmod 600"):
        load_credential(path)


def test_a_supervisor_settles_a_dispute_on_a_device_and_every_device_follows(handhelds, erp_db):
    from app.models.common import Session
    from app.models.supervisor import SupervisorModel

    a, b, lpn = disputed(handhelds, 23, Grade.A, Grade.C)
    supervisor = SupervisorModel(Session(a.store, SUPERVISOR))
    [dispute] = supervisor.exceptions()
    assert (dispute.field, dispute.standing, dispute.proposed) == ("grade", "A", "C")
    assert supervisor.resolve(dispute, "C", "photos show a scratch").ok
    assert a.store.unit(lpn).grade is Grade.C and a.store.unit(lpn).state.value == "graded"
    a.sync(), b.sync()
    for device in (a, b):
        assert device_view(device.store, lpn) == server_view(erp_db, lpn)
        assert device.store.unit(lpn).grade is Grade.C
        assert device.store.db.execute("SELECT status FROM exceptions").fetchall() == [("resolved",)]


def test_closing_another_exception_of_a_disputed_unit_leaves_its_dispute_to_the_supervisors_choice(handhelds):
    from app.models.common import Session
    from app.models.supervisor import SupervisorModel

    a, _, lpn = disputed(handhelds, 24, Grade.A, Grade.C)
    # A second exception about the same unit, as the server publishes one.
    a.store.apply_pulled([{"seq": 10**9, "kind": "exception", "key": "EXC-POLICY", "body": {
        "exception_id": "EXC-POLICY", "kind": "bin_policy_violation", "status": "open", "lpn": lpn,
        "bin_code": "BIN-RST-R01", "detail": {"lpn": lpn, "bin_code": "BIN-RST-R01", "required": "quarantine"}}}],
        a.store.pull_cursor())
    supervisor = SupervisorModel(Session(a.store, SUPERVISOR))
    policy = next(d for d in supervisor.exceptions() if d.exception.exception_id == "EXC-POLICY")
    with pytest.raises(InvalidInput, match="closed with a note"):
        a.store.resolve_exception(SUPERVISOR, exception_id="EXC-POLICY", note="moved", grade=Grade.C)
    assert supervisor.resolve(policy, None, "moved it to quarantine").ok
    assert a.store.unit(lpn).state is UnitState.DISPUTED  # the grade is still the supervisor's to choose
    [dispute] = supervisor.exceptions()
    assert supervisor.resolve(dispute, "C", "photos show a scratch").ok
    assert (a.store.unit(lpn).state, a.store.unit(lpn).grade) == (UnitState.GRADED, Grade.C)


def test_a_failing_status_listener_never_stops_the_worker(handhelds):
    from tests.sync.conftest import wait_for

    device = handhelds("dev-a", interval_s=0.05)

    def broken(_status) -> None:
        raise RuntimeError("the screen that listened has gone")

    device.engine.subscribe(broken)
    device.engine.start()
    wait_for(lambda: device.engine.status.state is SyncState.ONLINE)
    receive(device.store, 800)
    device.engine.request_sync()
    wait_for(lambda: device.store.sync_counts()["pending"] == 0)
    assert device.engine.running


def test_a_push_cut_off_mid_upload_is_no_server_error(central, erp_db, caplog):
    import logging
    import socket
    import time

    credential = central.provision("dev-cut")
    head = (f"POST /api/v1/sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: 100000\r\n" + "".join(f"{k}: {v}\r\n" for k, v in credential.headers().items()) + "\r\n")
    with caplog.at_level(logging.ERROR):
        with socket.create_connection(("127.0.0.1", central.port)) as sock:
            sock.sendall(head.encode() + b'{"device_id": "dev-cut", "events": [')
            time.sleep(0.3)
        time.sleep(0.5)  # the server notices the closed connection
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]
    assert server_events(erp_db, "dev-cut") == []


@pytest.mark.parametrize(("lpns", "size", "cut"), [
    (["a", "a", "b"], 5, 3),  # the whole rest of the outbox fits
    (["a"] * 3 + ["b"] * 3 + ["c"] * 3, 6, 6),  # units end where the batch does
    (["a", "a", "b", "b", "c", "c", "c", "d"], 6, 4),  # c goes on into the next batch: it waits for it
    (["a", "b", "a", "b", "a", "b", "a", "b"], 4, 4),  # no unit ever ends: full batches
    (["a", None, "a", None, "b", "b", "b"], 4, 4),  # bin events belong to no unit
    (["a", "b", "c", "a", "b", "c", "d", "d"], 6, 6),  # a, b and c end within the batch
    (["a", "a", "b", "b", "b", "b", "b", "b"], 6, 6),  # ending after a would send less than half: full
])
def test_a_batch_ends_where_no_unit_goes_on_into_the_next(lpns, size, cut):
    assert unit_boundary(lpns, size) == cut
