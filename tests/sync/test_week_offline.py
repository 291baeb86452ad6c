"""A week offline: a device with a large backlog syncs cleanly after the server changed meanwhile."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import func, select

from domain import RmaState
from erp import tables as t
from erp.masterdata import put_items, put_rmas
from tests.conftest import ASSOCIATE
from tests.sync.workflow import inspect, receivable_lines, receive, to_stored

UNITS = 800  # 5 events each (4 for the held ones): about 4,000 events in the backlog


def test_a_week_of_backlog_syncs_cleanly_over_master_data_changes(handhelds, central, erp_db, catalogue):
    device = handhelds("dev-week")
    device.sync()
    lines = receivable_lines(device.store)
    cancelled_rma = lines[-1][0]
    for n in range(UNITS):
        lpn = receive(device.store, 10_000 + n, line=n % (len(lines) - 1))
        if n % 100:
            to_stored(device.store, lpn)
        else:  # a few held for a supervisor, in the quarantine bin that is about to be re-purposed
            inspect(device.store, lpn)
            device.store.quarantine(ASSOCIATE, lpn=lpn, reason="seal broken")
            device.store.store(ASSOCIATE, lpn=lpn, bin_code="BIN-QUA-Q01")
    receive(device.store, 20_000, line=len(lines) - 1)  # received against the RMA the ERP is cancelling

    # Meanwhile on the server: an item renamed, an RMA cancelled, a supervisor re-purposes a bin the
    # device has been putting units into.
    sku = lines[0][2]
    renamed = next(i for i in catalogue.items if i.sku == sku).model_copy(update={"name": "Renamed while offline"})
    cancelled = next(r for r in catalogue.rmas if r.rma_id == cancelled_rma).model_copy(update={"state": RmaState.CLOSED})
    with erp_db.begin() as conn:
        put_items(conn, [renamed])
        put_rmas(conn, [cancelled])
    reassigned = httpx.post(f"{central.url}/api/v1/bins/BIN-QUA-Q01/reassign", auth=("sam", "1357"),
                            json={"purpose": "recall hold", "zone": "Q", "owner": "sam"})
    assert reassigned.status_code == 204, reassigned.text

    started = time.monotonic()
    report = device.sync()
    print(f"{report.pushed} events pushed, {report.pulled} changes pulled in {time.monotonic() - started:.2f} s")
    events = UNITS * 5 - UNITS // 100 + 1
    assert report.pushed == events
    counts = device.store.sync_counts()
    assert counts["pending"] == 0 and counts["rejected"] == 0  # physical facts are never rejected
    assert device.store.item(sku).name == "Renamed while offline"
    assert device.store.rma(cancelled_rma).state is RmaState.CLOSED
    with erp_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.events)).scalar_one() == events
        outcomes = dict(conn.execute(select(t.events.c.rule, func.count()).where(t.events.c.outcome == "conflict")
                                     .group_by(t.events.c.rule)).all())
        server = {r.lpn: (r.state, r.bin_code, r.grade, r.disposition) for r in conn.execute(select(t.units))}
    held = UNITS // 100
    assert outcomes == {"receipt_on_closed_rma": 1, "bin_reassigned_offline": held}
    assert sorted(e.rule for e in device.store.refused_events()) == ["bin_reassigned_offline"] * held + [
        "receipt_on_closed_rma"]
    assert device.store.bin("BIN-QUA-Q01").purpose == "recall hold"
    mine = {lpn: (u.state.value, u.bin_code, u.grade and u.grade.value, u.disposition and u.disposition.value)
            for lpn in server for u in [device.store.unit(lpn)]}
    assert mine == server
