"""The supervisor opens the dashboard of a real `returnflow erp serve` in chromium and sees where returns wait."""

from __future__ import annotations

import datetime as dt

import httpx
from playwright.sync_api import expect

from domain import UnitState
from domain.labels import lpn
from erp.masterdata import load_catalogue
from erp.storage import open_database
from tests.browser.conftest import OUTPUT, loopback_only
from tests.conftest import ASSOCIATE, open_device
from tests.erp.conftest import provision
from tests.integration.test_device_store import to_state
from tests.processes import free_port, start_api, stop


def test_supervisor_sees_waiting_units_and_exceptions_at_phone_and_desk_size(browser, tmp_path, catalogue):
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    engine = open_database(url)
    with engine.begin() as conn:
        load_catalogue(conn, catalogue)
    headers = provision(engine, "hh-1")
    engine.dispose()
    store = open_device(tmp_path / "hh-1.db", catalogue, "hh-1")
    to_state(store, catalogue, UnitState.STORED, lpn(1))
    to_state(store, catalogue, UnitState.GRADED, lpn(2))
    store.quarantine(ASSOCIATE, lpn=lpn(2), reason="seal broken")
    store.receive(ASSOCIATE, lpn=lpn(3), sku=next(i.sku for i in catalogue.items if i.serial_tracked),
                  bin_code="BIN-DCK-A02", reason_code="defective", serial="SN-1")
    store.receive(ASSOCIATE, lpn=lpn(4), sku=next(i.sku for i in catalogue.items if i.serial_tracked),
                  bin_code="BIN-DCK-A02", reason_code="defective", serial="SN-1")  # a duplicate serial: exception

    port = free_port()
    server = start_api(url, port)
    try:
        base = f"http://127.0.0.1:{port}"
        body = {"device_id": "hh-1", "sent_at": dt.datetime.now(dt.UTC).isoformat(),
                "events": [e.model_dump(mode="json") for e in store.events()]}
        assert httpx.post(f"{base}/api/v1/sync/push", json=body, headers=headers).status_code == 200

        OUTPUT.mkdir(exist_ok=True)
        for name, viewport in (("phone", {"width": 412, "height": 800}), ("desk", {"width": 1280, "height": 900})):
            context = browser.new_context(viewport=viewport, http_credentials={"username": "sam", "password": "1357"})
            page = context.new_page()
            loopback_only(page)
            response = page.goto(f"{base}/dashboard")
            assert response.status == 200
            expect(page.get_by_role("heading", name="Where returns wait")).to_be_visible()
            expect(page.locator("#waiting .big")).to_have_text("3")
            # Two units on a line that expects one (lpn 1 and 2): the second is an over-receipt.
            expect(page.get_by_role("heading", name="Open exceptions: 2")).to_be_visible()
            expect(page.locator("#exceptions")).to_contain_text("duplicate_serial")
            expect(page.locator("#exceptions")).to_contain_text("over_receipt")
            expect(page.locator("#waiting svg").first).to_be_visible()
            page.screenshot(path=str(OUTPUT / f"dashboard-{name}.png"), full_page=True)
            context.close()

        wrong_pin = browser.new_context(http_credentials={"username": "sam", "password": "0000"})
        page = wrong_pin.new_page()
        assert page.goto(f"{base}/dashboard").status == 401
        expect(page.locator("body")).to_contain_text("wrong PIN")
        wrong_pin.close()
    finally:
        stop(server)
        store.close()
