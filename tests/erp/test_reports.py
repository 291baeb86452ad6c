"""Reconciliation, metrics, refunds and the dashboard, from units processed by real device stores."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import select

from domain import Role, UnitState, User, hash_pin
from domain.labels import lpn
from erp import tables as t
from erp.masterdata import put_users
from tests.conftest import ASSOCIATE, SUPERVISOR
from tests.erp.conftest import push
from tests.integration.test_device_store import to_state

SAM = ("sam", "1357")


@pytest.fixture
def processed(api, erp_engine, device_factory, catalogue):
    """One unit restocked, one quarantined and waiting, and a bin count that finds one unit too many."""
    store, headers = device_factory("hh-1")
    stored = to_state(store, catalogue, UnitState.STORED, lpn(1))
    to_state(store, catalogue, UnitState.GRADED, lpn(2))
    store.quarantine(ASSOCIATE, lpn=lpn(2), reason="seal broken")
    store.count_bin(SUPERVISOR, bin_code="BIN-RST-R01", counts={stored.sku: 2})
    assert push(api, headers, store).status_code == 200
    return stored


def test_stock_report_in_json_and_csv(api, processed):
    rows = api.get("/api/v1/reconciliation/stock", auth=SAM).json()
    assert {"sku": processed.sku, "bin_code": "BIN-RST-R01", "status": "stored", "qty": 1} in rows
    assert sum(r["qty"] for r in rows) == 2
    text = api.get("/api/v1/reconciliation/stock", params={"format": "csv"}, auth=SAM).text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [(r["bin_code"], r["status"], r["qty"]) for r in parsed] == [
        (r["bin_code"], r["status"], str(r["qty"])) for r in rows]


def test_rma_report_shows_expected_against_received(api, processed):
    rows = api.get("/api/v1/reconciliation/rmas", auth=SAM).json()
    line = next(r for r in rows if r["received_qty"])
    assert line["received_qty"] == 2 and line["variance"] == 2 - line["expected_qty"]


def test_inventory_variance_from_a_bin_count(api, processed):
    rows = api.get("/api/v1/reconciliation/variance", auth=SAM).json()
    assert [(r["bin_code"], r["sku"], r["counted"], r["expected"], r["variance"]) for r in rows] == [
        ("BIN-RST-R01", processed.sku, 2, 1, 1)]


def test_metrics_measure_the_physical_flow(api, erp_engine, processed, catalogue):
    with erp_engine.connect() as conn:
        first_receipt = conn.execute(select(t.rmas.c.first_received_at).where(
            t.rmas.c.first_received_at.is_not(None))).scalar()
        rma_id = conn.execute(select(t.rmas.c.rma_id).where(t.rmas.c.first_received_at.is_not(None))).scalar()
    with erp_engine.begin() as conn:
        put_users(conn, [User(user_id="fin", name="Finance", role=Role.ADMIN, pin_hash=hash_pin("8642", b"f" * 16))])
    # Sent with another offset: stored in UTC on both engines, so latency is still 48 h.
    decided = (first_receipt + dt.timedelta(hours=48)).astimezone(dt.timezone(dt.timedelta(hours=2)))
    refund = {"rma_id": rma_id, "decision": "refund", "amount_cents": 1999, "decided_at": decided.isoformat()}
    assert api.post("/api/v1/refunds", json=refund, auth=SAM).status_code == 403
    assert api.post("/api/v1/refunds", json=refund, auth=("fin", "8642")).status_code == 201
    unknown = api.post("/api/v1/refunds", json=refund | {"rma_id": "RMA-99999995"}, auth=("fin", "8642"))
    assert unknown.status_code == 404

    m = api.get("/api/v1/metrics", auth=SAM).json()
    assert m["units"] == 2
    # Device events are 2 s apart on the test clock: receipt to put-away spans four steps.
    assert m["cycle_time"]["count"] == 1
    assert m["cycle_time"]["p50_hours"] == pytest.approx(8 / 3600, abs=0.001)
    assert m["time_to_reclassification"]["p50_hours"] == pytest.approx(6 / 3600, abs=0.001)
    assert m["refund_latency"]["p50_hours"] == pytest.approx(48, abs=0.01)
    restock = m["recovery_by_disposition"]["by_disposition"]["restock"]
    assert restock == {"units": 1, "value_cents": processed_value(catalogue, processed), "recovery_factor": 1.0,
                       "recovered_cents": processed_value(catalogue, processed), "share_of_value": 1.0}
    assert m["reason_concentration"]["by_reason"] == [{"reason_code": processed.reason_code, "units": 2, "share": 1.0}]
    assert m["reason_concentration"]["hhi"] == 1.0
    assert m["waiting"]["total"] == 1 and m["waiting"]["by_state"]["quarantined"] == 1
    assert m["inventory_variance"] == {"lines_counted": 1, "units_expected": 1, "absolute_variance": 1,
                                       "net_variance": 1}


def test_metrics_leave_a_voided_receipt_out(api, device_factory, catalogue):
    store, headers = device_factory("hh-1")
    to_state(store, catalogue, UnitState.RECEIVED, lpn(1))
    to_state(store, catalogue, UnitState.RECEIVED, lpn(2))
    store.void_receipt(ASSOCIATE, lpn=lpn(2), reason="double scan")
    assert push(api, headers, store).status_code == 200
    m = api.get("/api/v1/metrics", auth=SAM).json()
    assert m["units"] == 1
    assert [r["units"] for r in m["reason_concentration"]["by_reason"]] == [1]
    assert m["waiting"]["total"] == 1


def processed_value(catalogue, unit):
    return next(i.unit_value_cents for i in catalogue.items if i.sku == unit.sku)


def test_dashboard_page_asks_for_sign_in_then_shows_where_returns_wait(api, processed):
    anonymous = api.get("/dashboard")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
    page = api.get("/dashboard", auth=SAM)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Where returns wait" in html and "<svg" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing from elsewhere
    assert ">1</span> units not yet put away" in html
