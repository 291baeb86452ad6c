"""Push: exactly once, in order, with every conflict rule of DESIGN.md, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select

from domain import BlindReceipt, Disposition, Grade, QuarantineReleased, Role, UnitGraded, UnitState, UnitStored
from domain.labels import lpn
from erp import ingest
from erp import tables as t
from erp.ingest import Device, turns
from erp.ingest.batch import Batch
from erp.storage import make_engine
from sync.protocol import PushResponse
from tests.conftest import ASSOCIATE, SUPERVISOR
from tests.erp.conftest import craft, provision, push
from tests.integration.test_device_store import answers, plain_line, to_state

LPN1 = lpn(1)


def scalar(engine, query):
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def count(engine, table, *where):
    return scalar(engine, select(func.count()).select_from(table).where(*where))


def test_a_device_log_is_applied_once_and_in_order(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.STORED)
    response = push(api, headers, store)
    assert response.status_code == 200, response.text
    body = response.json()
    PushResponse.model_validate(body)  # written without pydantic on the server: still the documented shape
    assert [r["outcome"] for r in body["results"]] == ["applied"] * 5
    assert body["last_seq"] == 5
    with erp_engine.connect() as conn:
        unit = conn.execute(select(t.units).where(t.units.c.lpn == LPN1)).one()
        stock = conn.execute(select(t.stock.c.bin_code, t.stock.c.status, t.stock.c.qty)).all()
    assert (unit.state, unit.grade, unit.disposition, unit.bin_code, unit.version) == (
        "stored", "A", "restock", "BIN-RST-R01", 5)
    assert unit.reclassified_at is not None and unit.stored_at is not None
    assert stock == [("BIN-RST-R01", "stored", 1)]

    again = push(api, headers, store)
    assert [r["outcome"] for r in again.json()["results"]] == ["duplicate"] * 5
    assert count(erp_engine, t.events) == 5
    assert scalar(erp_engine, select(t.stock.c.qty)) == 1


def test_an_overlapping_retry_applies_only_the_new_events(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED)
    first = store.events()
    push(api, headers, store, events=first[:2])
    to_state_events = store.events()
    response = push(api, headers, store, events=to_state_events)
    assert [r["outcome"] for r in response.json()["results"]] == ["duplicate", "duplicate", "applied"]
    assert count(erp_engine, t.events) == 3


def test_a_gap_is_refused_with_the_expected_seq_and_nothing_written(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED)
    response = push(api, headers, store, events=store.events()[1:])
    assert response.status_code == 409
    assert response.json()["error"] == "gap" and response.json()["expected_seq"] == 1
    assert count(erp_engine, t.events) == 0 and count(erp_engine, t.units) == 0


def test_a_batch_that_overtakes_the_one_before_waits_for_it(erp_engine, device_factory, catalogue, monkeypatch):
    """A device keeps two batches on their way: the second may be taken up first, by another thread
    or worker. It waits for the first instead of being refused as a gap."""
    # The wait is bounded (a batch whose predecessor never comes is refused as a gap, above); here
    # the bound is set beyond any time the first batch may take on a busy machine.
    monkeypatch.setattr(turns, "PREDECESSOR_WAIT_S", 60.0)
    store, _ = device_factory("hh-1")
    to_state(store, catalogue, UnitState.STORED)
    events, device, now = store.events(), Device(device_id="hh-1", site_id="DC1"), dt.datetime.now(dt.UTC)
    second: list = []
    overtaking = threading.Thread(target=lambda: second.append(
        ingest.push_batch(erp_engine, device, events[2:], sent_at=now, received_at=now)))
    overtaking.start()
    time.sleep(0.3)  # the second batch is waiting for the ledger to reach seq 2
    assert overtaking.is_alive() and count(erp_engine, t.events) == 0
    first = ingest.push_batch(erp_engine, device, events[:2], sent_at=now, received_at=now)
    overtaking.join(timeout=60)
    assert [r[2] for r in first.results] == ["applied"] * 2
    assert [r[2] for r in second[0].results] == ["applied"] * 3
    assert scalar(erp_engine, select(t.units.c.state)) == "stored"


def test_a_reused_seq_with_another_event_is_refused(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED)
    push(api, headers, store)
    impostor = craft("hh-1", 1, BlindReceipt(lpn=lpn(9), sku=catalogue.items[3].sku, bin_code="BIN-DCK-A01",
                                             reason_code="unknown"))
    response = push(api, headers, store, events=[impostor])
    assert response.status_code == 409 and response.json()["error"] == "seq_reused"


def _graded_on_two_devices(api, erp_engine, device_factory, catalogue, second_grade):
    """hh-1 receives, inspects and grades A; hh-2 (having seen version 2) grades the same unit."""
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED, grade=Grade.A)
    assert push(api, headers, store).status_code == 200
    _, headers2 = device_factory("hh-2")
    rival = craft("hh-2", 1, UnitGraded(lpn=LPN1, grade=second_grade), base_version=2)
    return push(api, headers2, store, events=[rival]).json()["results"][0]


def test_different_decisions_dispute_the_unit_for_a_supervisor(api, erp_engine, device_factory, catalogue):
    result = _graded_on_two_devices(api, erp_engine, device_factory, catalogue, Grade.C)
    assert (result["outcome"], result["rule"]) == ("conflict", "different_decisions_disputed")
    with erp_engine.connect() as conn:
        unit = conn.execute(select(t.units).where(t.units.c.lpn == LPN1)).one()
        exception = conn.execute(select(t.exceptions).where(t.exceptions.c.exception_id == result["exception_id"])).one()
        audit = conn.execute(select(t.audit.c.rule, t.audit.c.device_id)).all()
    assert (unit.state, unit.grade, unit.held_from) == ("disputed", "A", "graded")
    assert (exception.kind, exception.status, exception.lpn) == ("dispute", "open", LPN1)
    assert exception.detail == {"lpn": LPN1, "field": "grade", "standing": "A", "proposed": "C", "proposed_by": "alex",
                                "proposed_device": "hh-2", "proposed_at": exception.detail["proposed_at"]}
    assert ("different_decisions_disputed", "hh-2") in audit


def push_with_another_between_plan_and_write(erp_engine, monkeypatch, device_id, batch, other_device_id, other_batch):
    """Push `batch`; between its plan and its write, push `other_batch` through a second engine on the
    same database, standing for another API process (it has its own turn). Returns the result and
    the plan that was made."""
    now = dt.datetime.now(dt.UTC)
    other_process = make_engine(erp_engine.url.render_as_string(hide_password=False))
    plan = turns._plan
    planned = []

    def plan_then_the_other_push(engine, device, *args):
        if engine is other_process:
            return plan(engine, device, *args)
        planned.append(plan(engine, device, *args))
        ingest.push_batch(other_process, Device(other_device_id, "DC1"), other_batch, sent_at=now, received_at=now)
        return planned[-1]

    monkeypatch.setattr(turns, "_plan", plan_then_the_other_push)
    try:
        result = ingest.push_batch(erp_engine, Device(device_id, "DC1"), batch, sent_at=now, received_at=now)
    finally:
        other_process.dispose()
    return result, planned[0]


def test_a_batch_planned_before_a_rival_push_is_decided_on_what_that_push_committed(
        erp_engine, device_factory, catalogue, monkeypatch):
    """A push is worked out on a snapshot before it waits for the write lock. When another push
    changes what it read in between, it is applied again in its turn: the later grade disputes the
    first one instead of overwriting it."""
    store, _ = device_factory("hh-1")
    to_state(store, catalogue, UnitState.INSPECTED)
    now = dt.datetime.now(dt.UTC)
    ingest.push_batch(erp_engine, Device("hh-1", "DC1"), store.events(), sent_at=now, received_at=now)
    device_factory("hh-2")
    grade_a = craft("hh-1", 3, UnitGraded(lpn=LPN1, grade=Grade.A), base_version=2)
    rival_c = craft("hh-2", 1, UnitGraded(lpn=LPN1, grade=Grade.C), base_version=2)
    result, planned = push_with_another_between_plan_and_write(
        erp_engine, monkeypatch, "hh-1", [grade_a], "hh-2", [rival_c])
    assert planned is not None  # the batch was planned, on the unit as it was before the rival grade
    assert (result.results[0][2], result.results[0][3]) == ("conflict", "different_decisions_disputed")
    with erp_engine.connect() as conn:
        unit = conn.execute(select(t.units).where(t.units.c.lpn == LPN1)).one()
    assert (unit.state, unit.grade, unit.version) == ("disputed", "C", 4)


@pytest.mark.parametrize("shares_a_unit", [False, True], ids=["other-unit", "same-unit"])
def test_a_batch_planned_before_the_one_ahead_of_it_committed_is_applied_on_what_that_one_wrote(
        erp_engine, device_factory, catalogue, monkeypatch, shares_a_unit):
    """A device keeps two batches on their way: the second is worked out on the state before the
    first, while another worker still applies that one. Its plan stands only if the first batch
    changed nothing it read; otherwise it is applied again once the first has committed."""
    store, _ = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED)  # receive, inspect, grade
    log = store.events()
    if shares_a_unit:  # the unit received in the first batch is inspected and graded in the second
        ahead, planned_batch = log[:1], log[1:]
    else:
        ahead = log
        planned_batch = [craft("hh-1", 4, BlindReceipt(lpn=lpn(2), sku=catalogue.items[3].sku,
                                                       bin_code="BIN-DCK-A01", reason_code="size_fit"))]
    still_holds = Batch.still_holds
    held = []

    def recorded_still_holds(batch, conn):
        held.append((batch.device.device_id, batch.event_rows[0][2], still_holds(batch, conn)))
        return held[-1][2]

    monkeypatch.setattr(Batch, "still_holds", recorded_still_holds)
    result, planned = push_with_another_between_plan_and_write(
        erp_engine, monkeypatch, "hh-1", planned_batch, "hh-1", ahead)
    assert planned is not None  # planned although the ledger was behind it on the snapshot
    # The batch ahead was planned in its turn, and its plan held; the later one's held only if the
    # batch ahead wrote nothing it had read.
    assert held == [("hh-1", 1, True), ("hh-1", len(ahead) + 1, not shares_a_unit)]
    assert [r[2] for r in result.results] == ["applied"] * len(planned_batch)
    assert result.last_seq == len(ahead) + len(planned_batch)
    with erp_engine.connect() as conn:
        units = dict(conn.execute(select(t.units.c.lpn, t.units.c.state)).all())
        seqs = conn.execute(select(t.events.c.device_seq).order_by(t.events.c.received_at, t.events.c.device_seq)).scalars().all()
    assert units == ({LPN1: "graded"} if shares_a_unit else {LPN1: "graded", lpn(2): "received"})
    assert seqs == list(range(1, result.last_seq + 1))


def test_supervisor_resolves_a_dispute_and_the_unit_resumes(api, erp_engine, device_factory, catalogue):
    result = _graded_on_two_devices(api, erp_engine, device_factory, catalogue, Grade.C)
    url = f"/api/v1/exceptions/{result['exception_id']}/resolve"
    assert api.post(url, json={"grade": "C", "note": "scratch confirmed"}, auth=("alex", "2468")).status_code == 403
    assert api.post(url, json={"grade": "C", "note": "x"}, auth=("sam", "0000")).status_code == 401
    response = api.post(url, json={"grade": "C", "note": "scratch confirmed"}, auth=("sam", "1357"))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "graded"
    with erp_engine.connect() as conn:
        unit = conn.execute(select(t.units).where(t.units.c.lpn == LPN1)).one()
        resolutions = conn.execute(select(t.changes.c.key).where(t.changes.c.kind == "resolution")).all()
    assert (unit.state, unit.grade) == ("graded", "C")
    assert resolutions == [(result["exception_id"],)]
    again = api.post(url, json={"grade": "C", "note": "twice"}, auth=("sam", "1357"))
    assert again.status_code == 422 and "already resolved" in again.json()["message"]


def test_the_same_decision_from_two_devices_is_merged(api, erp_engine, device_factory, catalogue):
    result = _graded_on_two_devices(api, erp_engine, device_factory, catalogue, Grade.A)
    assert (result["outcome"], result["rule"]) == ("applied", "same_outcome_merged")
    assert count(erp_engine, t.exceptions) == 0
    assert scalar(erp_engine, select(t.units.c.state)) == "graded"
    assert count(erp_engine, t.audit, t.audit.c.rule == "same_outcome_merged") == 1


def test_a_transition_invalid_on_the_server_is_rejected_and_synced_back(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.STORED)
    push(api, headers, store)
    _, headers2 = device_factory("hh-2")
    late = craft("hh-2", 1, UnitStored(lpn=LPN1, bin_code="BIN-SCR-S01"), base_version=5)
    result = push(api, headers2, store, events=[late]).json()["results"][0]
    assert (result["outcome"], result["rule"]) == ("rejected", "invalid_transition")
    assert "is stored: cannot store" in result["reason"]
    page = api.get("/api/v1/sync/pull", params={"after": 0, "limit": 1000}, headers=headers2).json()
    mine = [c for c in page["changes"] if c["kind"] == "result"]
    assert [c["body"]["outcome"] for c in mine] == ["rejected"]
    others = api.get("/api/v1/sync/pull", params={"after": 0, "limit": 1000}, headers=headers).json()
    assert not [c for c in others["changes"] if c["kind"] == "result"]


def test_an_actor_without_the_role_is_rejected_with_a_security_audit(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED)
    release = craft("hh-1", 2, QuarantineReleased(lpn=LPN1, note="let it go"))
    posing = craft("hh-1", 3, UnitGraded(lpn=LPN1, grade=Grade.A), role=Role.SUPERVISOR)
    results = push(api, headers, store, events=[*store.events(), release, posing]).json()["results"]
    assert [(r["outcome"], r["rule"]) for r in results] == [
        ("applied", None), ("rejected", "actor_lacks_role"), ("rejected", "actor_lacks_role")]
    assert count(erp_engine, t.audit, t.audit.c.rule == "actor_lacks_role") == 2


def test_storing_in_a_bin_reassigned_while_offline_is_accepted_with_an_exception(api, erp_engine, device_factory,
                                                                                   catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED)
    store.quarantine(ASSOCIATE, lpn=LPN1, reason="hazmat label")
    store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-QUA-Q01")
    offline_events = store.events()
    supervisor_store, supervisor_headers = device_factory("hh-sup")
    supervisor_store.reassign_bin(SUPERVISOR, bin_code="BIN-QUA-Q01", purpose="vendor claim", zone="Q", owner="sam")
    assert push(api, supervisor_headers, supervisor_store).status_code == 200
    results = push(api, headers, store, events=offline_events).json()["results"]
    assert [r["outcome"] for r in results[:-1]] == ["applied"] * (len(results) - 1)
    assert (results[-1]["outcome"], results[-1]["rule"]) == ("conflict", "bin_reassigned_offline")
    assert scalar(erp_engine, select(t.units.c.bin_code)) == "BIN-QUA-Q01"  # the move is a physical fact
    assert scalar(erp_engine, select(t.exceptions.c.kind)) == "bin_policy_violation"


def test_receipt_against_a_closed_rma_is_kept_with_an_exception(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    rma, line, _ = plain_line(catalogue)
    store.receive(ASSOCIATE, lpn=LPN1, sku=line.sku, bin_code="BIN-DCK-A01", rma_id=rma.rma_id)
    with erp_engine.begin() as conn:
        conn.execute(t.rmas.update().where(t.rmas.c.rma_id == rma.rma_id).values(state="closed"))
    result = push(api, headers, store).json()["results"][0]
    assert (result["outcome"], result["rule"]) == ("conflict", "receipt_on_closed_rma")
    assert count(erp_engine, t.units) == 1
    # The exception names the unit, so a supervisor can find what arrived.
    assert scalar(erp_engine, select(t.exceptions.c.lpn)) == LPN1
    assert scalar(erp_engine, select(t.rma_lines.c.received_qty).where(
        t.rma_lines.c.rma_id == rma.rma_id, t.rma_lines.c.line_no == line.line_no)) == 1


def test_a_receipt_of_another_item_than_the_line_expects_is_kept_but_not_counted(api, erp_engine, device_factory,
                                                                                  catalogue):
    from domain import RmaReceipt

    store, headers = device_factory("hh-1")
    rma, line, _ = plain_line(catalogue)
    other = next(i for i in catalogue.items if i.sku != line.sku and not (i.serial_tracked or i.lot_tracked))
    receipt = craft("hh-1", 1, RmaReceipt(lpn=LPN1, sku=other.sku, bin_code="BIN-DCK-A01", rma_id=rma.rma_id,
                                          line_no=line.line_no))
    [result] = push(api, headers, store, events=[receipt]).json()["results"]
    assert (result["outcome"], result["rule"]) == ("conflict", "receipt_wrong_item")
    assert count(erp_engine, t.units) == 1  # the unit is where it is
    assert scalar(erp_engine, select(t.rma_lines.c.received_qty).where(
        t.rma_lines.c.rma_id == rma.rma_id, t.rma_lines.c.line_no == line.line_no)) == 0
    assert scalar(erp_engine, select(t.exceptions.c.detail)) == {
        "lpn": LPN1, "rma_id": rma.rma_id, "line_no": line.line_no, "expected_sku": line.sku,
        "received_sku": other.sku}


def test_more_units_than_a_line_expects_are_counted_with_an_exception_for_the_extra_one(api, erp_engine,
                                                                                        device_factory, catalogue):
    from domain import RmaReceipt

    store, headers = device_factory("hh-1")
    rma, line, _ = plain_line(catalogue)
    receipts = [craft("hh-1", n, RmaReceipt(lpn=lpn(n), sku=line.sku, bin_code="BIN-DCK-A01", rma_id=rma.rma_id,
                                            line_no=line.line_no)) for n in range(1, line.expected_qty + 2)]
    results = push(api, headers, store, events=receipts).json()["results"]
    assert [(r["outcome"], r["rule"]) for r in results] == [("applied", None)] * line.expected_qty + [
        ("applied", "receipt_over_line")]
    assert scalar(erp_engine, select(t.rma_lines.c.received_qty).where(
        t.rma_lines.c.rma_id == rma.rma_id, t.rma_lines.c.line_no == line.line_no)) == line.expected_qty + 1
    assert scalar(erp_engine, select(t.exceptions.c.detail)) == {
        "lpn": lpn(line.expected_qty + 1), "rma_id": rma.rma_id, "line_no": line.line_no,
        "expected": line.expected_qty, "received": line.expected_qty + 1}


def test_an_item_received_out_of_an_rmas_package_but_on_none_of_its_lines_opens_an_exception(
        api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    rma, line, _ = plain_line(catalogue)
    other = next(i for i in catalogue.items if i.sku not in {x.sku for x in rma.lines}
                 and not (i.serial_tracked or i.lot_tracked))
    in_package = craft("hh-1", 1, BlindReceipt(lpn=LPN1, sku=other.sku, bin_code="BIN-DCK-A01", reason_code="unknown",
                                               package_ref=rma.rma_id))
    no_rma = craft("hh-1", 2, BlindReceipt(lpn=lpn(2), sku=other.sku, bin_code="BIN-DCK-A01", reason_code="unknown",
                                           package_ref="1Z999AA10123456784"))
    results = push(api, headers, store, events=[in_package, no_rma]).json()["results"]
    assert [(r["outcome"], r["rule"]) for r in results] == [("applied", "receipt_not_on_rma"), ("applied", None)]
    assert scalar(erp_engine, select(t.exceptions.c.detail)) == {"lpn": LPN1, "sku": other.sku,
                                                                 "rma_id": rma.rma_id}


def test_a_serial_received_again_on_a_closed_rma_is_named_in_its_exception(api, erp_engine, device_factory,
                                                                            catalogue):
    from domain import RmaReceipt

    store, headers = device_factory("hh-1")
    rma, line, _ = plain_line(catalogue)
    first = craft("hh-1", 1, BlindReceipt(lpn=lpn(1), sku=line.sku, bin_code="BIN-DCK-A01", reason_code="defective",
                                          serial="SN-9"))
    push(api, headers, store, events=[first])
    with erp_engine.begin() as conn:
        conn.execute(t.rmas.update().where(t.rmas.c.rma_id == rma.rma_id).values(state="closed"))
    again = craft("hh-1", 2, RmaReceipt(lpn=lpn(2), sku=line.sku, bin_code="BIN-DCK-A01", rma_id=rma.rma_id,
                                        line_no=line.line_no, serial="SN-9"))
    [result] = push(api, headers, store, events=[again]).json()["results"]
    assert (result["outcome"], result["rule"]) == ("conflict", "receipt_on_closed_rma")
    detail = scalar(erp_engine, select(t.exceptions.c.detail))
    assert (detail["state"], detail["serial"], detail["first_lpn"]) == ("closed", "SN-9", lpn(1))


def test_the_same_serial_twice_is_accepted_with_an_exception(api, erp_engine, device_factory, catalogue):
    phone = next(i for i in catalogue.items if i.serial_tracked)
    first, h1 = device_factory("hh-1")
    second, h2 = device_factory("hh-2")
    first.receive(ASSOCIATE, lpn=lpn(1), sku=phone.sku, bin_code="BIN-DCK-A01", reason_code="defective", serial="SN-7")
    second.receive(ASSOCIATE, lpn=lpn(2), sku=phone.sku, bin_code="BIN-DCK-A02", reason_code="defective", serial="SN-7")
    push(api, h1, first)
    result = push(api, h2, second).json()["results"][0]
    assert (result["outcome"], result["rule"]) == ("conflict", "duplicate_serial")
    assert count(erp_engine, t.units) == 2
    assert scalar(erp_engine, select(t.exceptions.c.detail))["first_lpn"] == lpn(1)
    assert scalar(erp_engine, select(t.exceptions.c.lpn)) == lpn(2)  # the unit a supervisor checks


def test_override_with_supervisor_approval_is_accepted(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED, grade=Grade.D)
    store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE, override_reason="works",
                             approver_id="sam", approver_pin="1357")
    results = push(api, headers, store).json()["results"]
    assert {r["outcome"] for r in results} == {"applied"}
    assert scalar(erp_engine, select(t.units.c.disposition)) == "liquidate"


def test_large_clock_skew_is_flagged(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED)
    body = {"device_id": "hh-1", "sent_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat(),
            "events": [e.model_dump(mode="json") for e in store.events()]}
    assert api.post("/api/v1/sync/push", json=body, headers=headers).status_code == 200
    skew = scalar(erp_engine, select(t.audit.c.skew_ms).where(t.audit.c.rule == "clock_skew"))
    assert skew > 2 * 3600 * 1000 - 60_000


def test_inspection_answers_reach_the_server(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED)
    store.inspect(ASSOCIATE, lpn=LPN1, answers=answers(store, LPN1), condition_codes=["opened"],
                  notes="Kratzer am Gehäuse, Etikett „B“ ✓")
    push(api, headers, store)
    assert scalar(erp_engine, select(t.units.c.condition_codes)) == ["opened"]
    inspection = store.events()[-1]
    stored = scalar(erp_engine, select(t.events.c.payload).where(t.events.c.event_id == str(inspection.event_id)))
    # The event's payload is kept as the API validated it, the notes' text untouched.
    assert stored == inspection.payload.model_dump(mode="json")
    assert stored["inspection"]["notes"] == "Kratzer am Gehäuse, Etikett „B“ ✓"


def test_supervisor_releases_and_reassigns_from_the_office_and_devices_pull_it(api, erp_engine, device_factory,
                                                                                catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED)
    store.quarantine(ASSOCIATE, lpn=LPN1, reason="seal broken")
    store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-QUA-Q01")
    push(api, headers, store)
    moved = api.post("/api/v1/bins/BIN-QUA-Q01/reassign", auth=("sam", "1357"),
                     json={"purpose": "vendor claim", "zone": "Q", "owner": "sam", "move_contents_to": "BIN-QUA-Q02"})
    assert moved.status_code == 204, moved.text
    not_quarantine = api.post("/api/v1/bins/BIN-RST-R01/reassign", auth=("sam", "1357"),
                              json={"purpose": "x", "zone": "R", "owner": "sam"})
    assert not_quarantine.status_code == 422
    assert api.post(f"/api/v1/units/{LPN1}/release", json={"note": "ok"}, auth=("alex", "2468")).status_code == 403
    released = api.post(f"/api/v1/units/{LPN1}/release", json={"note": "vendor confirmed"}, auth=("sam", "1357"))
    assert released.status_code == 200 and released.json()["state"] == "graded"
    assert released.json()["bin_code"] == "BIN-QUA-Q02"
    again = api.post(f"/api/v1/units/{LPN1}/release", json={"note": "twice"}, auth=("sam", "1357"))
    assert again.status_code == 422 and "cannot release" in again.json()["message"]
    page = api.get("/api/v1/sync/pull", params={"after": 0, "limit": 1000}, headers=headers).json()
    unit_changes = [c["body"] for c in page["changes"] if c["kind"] == "unit" and c["key"] == LPN1]
    assert (unit_changes[-1]["state"], unit_changes[-1]["bin_code"]) == ("graded", "BIN-QUA-Q02")
    assert count(erp_engine, t.audit, t.audit.c.rule.in_(["supervisor_release", "supervisor_reassignment"])) == 2
    # The office's changes go to the devices of the unit's and the bin's site, not to every site's.
    with erp_engine.begin() as conn:
        conn.execute(t.sites.insert().values(site_id="DC2", name="Returns centre 2"))
    elsewhere = provision(erp_engine, "hh-dc2", site_id="DC2")
    seen = api.get("/api/v1/sync/pull", params={"after": 0, "limit": 1000}, headers=elsewhere).json()["changes"]
    assert not [c for c in seen if (c["kind"], c["key"]) in (("unit", LPN1), ("bin", "BIN-QUA-Q01"))]


def test_a_rival_decision_on_a_quarantined_unit_opens_an_exception_without_blocking(api, erp_engine, device_factory,
                                                                                      catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED, grade=Grade.X)
    store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.QUARANTINE)
    assert push(api, headers, store).status_code == 200
    _, headers2 = device_factory("hh-2")
    rival = craft("hh-2", 1, UnitGraded(lpn=LPN1, grade=Grade.B), base_version=2)
    response = push(api, headers2, store, events=[rival])
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert (result["outcome"], result["rule"]) == ("conflict", "different_decisions_disputed")
    assert scalar(erp_engine, select(t.units.c.state)) == "quarantined"  # already waiting for a supervisor
    assert scalar(erp_engine, select(t.exceptions.c.kind)) == "dispute"
    # From the office: a grade that cannot be applied to the held unit is refused, never dropped.
    resolve = f"/api/v1/exceptions/{result['exception_id']}/resolve"
    taken = api.post(resolve, json={"grade": "B", "note": "looks fine"}, auth=("sam", "1357"))
    assert taken.status_code == 422 and "not disputed" in taken.json()["message"]
    kept = api.post(resolve, json={"grade": "X", "note": "seal broken: X stands"}, auth=("sam", "1357"))
    assert kept.status_code == 200, kept.text
    assert (scalar(erp_engine, select(t.units.c.grade)), scalar(erp_engine, select(t.exceptions.c.status))) == (
        "X", "resolved")


def test_a_device_resolution_must_name_an_open_dispute_of_that_unit(api, erp_engine, device_factory, catalogue):
    from domain import ExceptionResolved

    result = _graded_on_two_devices(api, erp_engine, device_factory, catalogue, Grade.C)
    supervisor_store, supervisor_headers = device_factory("hh-sup")
    wrong = craft("hh-sup", 1, ExceptionResolved(exception_id="EXC-nonexistent", lpn=LPN1, grade=Grade.C, note="x"),
                  actor="sam", role=Role.SUPERVISOR)
    right = craft("hh-sup", 2, ExceptionResolved(exception_id=result["exception_id"], lpn=LPN1, grade=Grade.C,
                                                 note="scratch confirmed"), actor="sam", role=Role.SUPERVISOR)
    results = push(api, supervisor_headers, supervisor_store, events=[wrong, right]).json()["results"]
    assert [(r["outcome"], r["rule"]) for r in results] == [("rejected", "unknown_reference"), ("applied", None)]
    with erp_engine.connect() as conn:
        unit = conn.execute(select(t.units.c.state, t.units.c.grade)).one()
        status = conn.execute(select(t.exceptions.c.status)).scalar()
    assert (unit.state, unit.grade, status) == ("graded", "C", "resolved")


def test_a_device_closing_a_dispute_without_a_choice_keeps_what_stands_and_names_who(api, erp_engine,
                                                                                     device_factory, catalogue):
    from domain import ExceptionResolved

    exception_id = _graded_on_two_devices(api, erp_engine, device_factory, catalogue, Grade.C)["exception_id"]
    with erp_engine.begin() as conn:  # a supervisor's handheld at another site
        conn.execute(t.sites.insert().values(site_id="DC2", name="Returns centre 2"))
    elsewhere = provision(erp_engine, "hh-dc2", site_id="DC2")
    supervisor_store, supervisor_headers = device_factory("hh-sup")
    close = ExceptionResolved(exception_id=exception_id, note="standing grade is right")
    results = [push(api, headers, supervisor_store, events=[craft(device, 1, close, actor="sam",
                                                                  role=Role.SUPERVISOR)]).json()["results"][0]
               for device, headers in (("hh-dc2", elsewhere), ("hh-sup", supervisor_headers))]
    assert [(r["outcome"], r["rule"]) for r in results] == [("rejected", "wrong_site"), ("applied", None)]
    with erp_engine.connect() as conn:
        unit = conn.execute(select(t.units.c.state, t.units.c.grade)).one()
        exception = conn.execute(select(t.exceptions.c.status, t.exceptions.c.resolved_by)).one()
    assert (unit.state, unit.grade) == ("graded", "A")  # no longer disputed: the first grade stands
    assert tuple(exception) == ("resolved", "sam")


def test_the_same_physical_step_from_two_devices_is_merged_not_refused(api, erp_engine, device_factory, catalogue):
    from domain import UnitQuarantined

    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.STORED)  # put away in BIN-RST-R01
    push(api, headers, store)
    _, headers2 = device_factory("hh-2")
    same_bin = craft("hh-2", 1, UnitStored(lpn=LPN1, bin_code="BIN-RST-R01"), base_version=4)
    other_bin = craft("hh-2", 2, UnitStored(lpn=LPN1, bin_code="BIN-RST-R02"), base_version=4)
    results = push(api, headers2, store, events=[same_bin, other_bin]).json()["results"]
    assert [(r["outcome"], r["rule"]) for r in results] == [
        ("applied", "same_outcome_merged"), ("rejected", "invalid_transition")]

    held, headers3 = device_factory("hh-3")
    to_state(held, catalogue, UnitState.GRADED, code=lpn(2))
    held.quarantine(ASSOCIATE, lpn=lpn(2), reason="seal broken")
    push(api, headers3, held)
    again = craft("hh-2", 3, UnitQuarantined(lpn=lpn(2), reason="seal broken"), base_version=3)
    [result] = push(api, headers2, held, events=[again]).json()["results"]
    assert (result["outcome"], result["rule"]) == ("applied", "same_outcome_merged")
    assert count(erp_engine, t.audit, t.audit.c.rule == "same_outcome_merged") == 2
    assert count(erp_engine, t.units, t.units.c.state == "quarantined") == 1


def test_two_events_with_one_id_in_a_batch_are_refused(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.INSPECTED)
    first, second = store.events()
    twin = second.model_copy(update={"event_id": first.event_id})
    response = push(api, headers, store, events=[first, twin])
    assert response.status_code == 409 and response.json()["error"] == "event_id_taken"
    assert count(erp_engine, t.events) == 0


def test_an_event_id_another_device_sent_is_refused_and_nothing_is_written(api, erp_engine, device_factory,
                                                                            catalogue):
    first, h1 = device_factory("hh-1")
    to_state(first, catalogue, UnitState.RECEIVED)
    push(api, h1, first)
    second, h2 = device_factory("hh-2")
    receipt = BlindReceipt(lpn=lpn(2), sku=catalogue.items[3].sku, bin_code="BIN-DCK-A01", reason_code="size_fit")
    own = craft("hh-2", 1, receipt)
    copied = craft("hh-2", 2, UnitGraded(lpn=lpn(2), grade=Grade.A)).model_copy(
        update={"event_id": first.events()[0].event_id})
    response = push(api, h2, second, events=[own, copied])
    assert response.status_code == 409 and response.json()["error"] == "event_id_taken"
    assert "already sent by device hh-1" in response.json()["message"]
    assert count(erp_engine, t.events) == 1 and count(erp_engine, t.units) == 1
    assert scalar(erp_engine, select(t.ledger.c.last_seq).where(t.ledger.c.device_id == "hh-2")) == 0


def test_one_license_plate_on_two_different_receipts_is_an_exception(api, erp_engine, device_factory, catalogue):
    item = next(i for i in catalogue.items if not (i.serial_tracked or i.lot_tracked))
    first, h1 = device_factory("hh-1")
    second, h2 = device_factory("hh-2")
    first.receive(ASSOCIATE, lpn=LPN1, sku=item.sku, bin_code="BIN-DCK-A01", reason_code="size_fit")
    second.receive(ASSOCIATE, lpn=LPN1, sku=item.sku, bin_code="BIN-DCK-A02", reason_code="defective")
    push(api, h1, first)
    result = push(api, h2, second).json()["results"][0]
    assert (result["outcome"], result["rule"]) == ("conflict", "lpn_reused")
    assert scalar(erp_engine, select(t.exceptions.c.kind)) == "duplicate_lpn"


def test_a_device_at_another_site_cannot_touch_this_sites_units(api, erp_engine, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.INSPECTED)
    push(api, headers, store)
    with erp_engine.begin() as conn:
        conn.execute(t.sites.insert().values(site_id="DC2", name="Returns centre 2"))
    from tests.erp.conftest import provision

    headers_dc2 = provision(erp_engine, "hh-dc2", site_id="DC2")
    grade = craft("hh-dc2", 1, UnitGraded(lpn=LPN1, grade=Grade.A), base_version=2)
    result = push(api, headers_dc2, store, events=[grade]).json()["results"][0]
    assert (result["outcome"], result["rule"]) == ("rejected", "wrong_site")
    page = api.get("/api/v1/sync/pull", params={"after": 0, "limit": 1000}, headers=headers_dc2).json()
    assert not [c for c in page["changes"] if c["kind"] == "unit"]


def test_an_override_without_the_approval_the_server_rules_ask_for_is_held_for_a_supervisor(
        api, erp_engine, device_factory, catalogue):
    from domain import DispositionDecided, DispositionDecision

    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.GRADED, grade=Grade.D)  # grade D: scrap, overrides need approval
    push(api, headers, store)
    claim = DispositionDecision(disposition=Disposition.RESTOCK, suggested=Disposition.RESTOCK, rule_id="grade_a_restock")
    event = craft("hh-1", 4, DispositionDecided(lpn=LPN1, decision=claim), base_version=3)
    result = push(api, headers, store, events=[event]).json()["results"][0]
    assert (result["outcome"], result["rule"]) == ("conflict", "override_needs_approval")
    with erp_engine.connect() as conn:
        unit = conn.execute(select(t.units.c.state, t.units.c.disposition)).one()
        kind = conn.execute(select(t.exceptions.c.kind)).scalar()
    assert (unit.state, unit.disposition, kind) == ("disputed", "restock", "override_approval")
