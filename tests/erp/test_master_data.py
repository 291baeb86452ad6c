"""Master data and RMAs over the API: get, put, and bulk import from JSON or CSV with row-level errors."""

from __future__ import annotations

import pytest

from domain import Role, User, hash_pin
from erp.masterdata import put_users
from tests.erp.conftest import pull_all

ADA = ("ada", "9753")


@pytest.fixture
def admin(erp_engine):
    with erp_engine.begin() as conn:
        put_users(conn, [User(user_id="ada", name="Ada Admin", role=Role.ADMIN, pin_hash=hash_pin("9753", b"a" * 16))])
    return ADA


def test_json_import_writes_valid_rows_and_reports_each_invalid_one(api, admin):
    records = [
        {"sku": "NEW-00001", "name": "Trail Lamp", "category": "home", "gtins": ["4006381333931"],
         "unit_value_cents": 2599},
        {"sku": "NEW-00002", "name": "Bad Check", "category": "home", "gtins": ["4006381333932"],
         "unit_value_cents": 100},
        {"sku": "NEW-00003", "name": "No Such Category", "category": "garden", "gtins": ["96385074"],
         "unit_value_cents": 100},
        "not a record",
    ]
    report = api.post("/api/v1/items/import", json=records, auth=admin).json()
    assert report["written"] == 1
    assert [(e["row"], e["key"]) for e in report["errors"]] == [(2, "NEW-00002"), (3, "NEW-00003"), (4, None)]
    assert "check digit wrong" in report["errors"][0]["message"]
    assert "unknown category garden" in report["errors"][1]["message"]
    item = api.get("/api/v1/items/NEW-00001", auth=("sam", "1357")).json()
    assert (item["name"], item["unit_value_cents"]) == ("Trail Lamp", 2599)
    assert api.get("/api/v1/items/NEW-00002", auth=("sam", "1357")).status_code == 404


def test_csv_import_of_rmas_groups_lines_by_rma(api, admin, catalogue):
    sku_a, sku_b = catalogue.items[0].sku, catalogue.items[1].sku
    text = ("rma_id,state,channel,order_ref,created_at,line_no,sku,expected_qty,reason_code\n"
            f"RMA-30000018,approved,web,ORD-1,2026-11-20T10:00:00Z,1,{sku_a},1,defective\n"
            f"RMA-30000018,approved,web,ORD-1,2026-11-20T10:00:00Z,2,{sku_b},2,size_fit\n"
            f"RMA-30000025,approved,web,ORD-2,2026-11-20T10:00:00Z,1,NOPE-1,1,size_fit\n")
    response = api.post("/api/v1/rmas/import", content=text.encode(), auth=admin,
                        headers={"Content-Type": "text/csv"})
    report = response.json()
    assert report["written"] == 1
    assert report["errors"] == [{"row": 2, "key": "RMA-30000025", "message": "line 1: unknown item NOPE-1"}]
    rma = api.get("/api/v1/rmas/RMA-30000018", auth=("sam", "1357")).json()
    assert rma["state"] == "approved"


def test_put_creates_then_updates_one_record_and_the_feed_carries_it(api, admin, device_factory):
    body = {"code": "BIN-QUA-Q09", "type": "quarantine", "zone": "Q", "purpose": "recalls", "owner": "sam"}
    assert api.put("/api/v1/bins/BIN-QUA-Q09", json=body, auth=admin).status_code == 200
    updated = api.put("/api/v1/bins/BIN-QUA-Q09", json=body | {"purpose": "recall 2026-11"}, auth=admin).json()
    assert updated["purpose"] == "recall 2026-11"
    mismatch = api.put("/api/v1/bins/BIN-QUA-Q08", json=body, auth=admin)
    assert mismatch.status_code == 422 and mismatch.json()["error"] == "key_mismatch"
    assert api.put("/api/v1/bins/BIN-QUA-Q09", json=body, auth=("sam", "1357")).status_code == 403
    _, headers = device_factory("hh-1")
    changes = pull_all(api, headers)
    bins = [c["body"] for c in changes if c["kind"] == "bin" and c["key"] == "BIN-QUA-Q09"]
    assert [b["purpose"] for b in bins] == ["recalls", "recall 2026-11"]


def test_imported_users_sign_in_with_their_pin_which_is_never_shown(api, admin):
    report = api.post("/api/v1/users/import", auth=admin, json=[
        {"user_id": "kim", "name": "Kim Supervisor", "role": "supervisor", "pin": "4321"},
        {"user_id": "lee", "name": "Lee", "role": "associate", "pin": "12"},
    ]).json()
    assert report["written"] == 1 and report["errors"][0]["key"] == "lee"
    user = api.get("/api/v1/users/kim", auth=("kim", "4321")).json()
    assert user["role"] == "supervisor" and "pin_hash" not in user and "pin" not in user


def test_malformed_imports_are_clear_4xx(api, admin):
    assert api.post("/api/v1/items/import", content=b"{", auth=admin).json()["error"] == "malformed_json"
    not_a_list = api.post("/api/v1/items/import", json={"sku": "X"}, auth=admin)
    assert not_a_list.status_code == 422
    bad_csv = api.post("/api/v1/items/import", content=b"\xff\xfe\x00", auth=admin,
                       headers={"Content-Type": "text/csv"})
    assert bad_csv.status_code == 422 and bad_csv.json()["error"] == "malformed_csv"


def test_records_come_back_whole_and_are_deleted_only_when_unused(api, admin, catalogue, device_factory):
    from domain import UnitState
    from tests.erp.conftest import push
    from tests.integration.test_device_store import to_state

    item = api.get(f"/api/v1/items/{catalogue.items[0].sku}", auth=admin).json()
    assert item["gtins"] == [{"gtin": catalogue.items[0].gtins[0]}]
    rma = api.get(f"/api/v1/rmas/{catalogue.rmas[0].rma_id}", auth=admin).json()
    assert [line["line_no"] for line in rma["lines"]] == [line.line_no for line in catalogue.rmas[0].lines]

    store, headers = device_factory("hh-1")
    unit = to_state(store, catalogue, UnitState.RECEIVED)
    push(api, headers, store)
    in_use = api.delete(f"/api/v1/items/{unit.sku}", auth=admin)
    assert in_use.status_code == 409 and "still used by units" in in_use.json()["message"]
    category_in_use = api.delete("/api/v1/categories/home", auth=admin)
    assert category_in_use.status_code == 409

    unused = next(i.sku for i in catalogue.items if i.sku != unit.sku and all(
        line.sku != i.sku for r in catalogue.rmas for line in r.lines))
    assert api.delete(f"/api/v1/items/{unused}", auth=("sam", "1357")).status_code == 403
    assert api.delete(f"/api/v1/items/{unused}", auth=admin).status_code == 204
    assert api.get(f"/api/v1/items/{unused}", auth=admin).status_code == 404
    assert api.delete(f"/api/v1/items/{unused}", auth=admin).status_code == 404
    last = pull_all(api, headers)[-1]
    assert (last["kind"], last["key"], last["body"]) == ("item", unused, {"deleted": True})


def test_a_rule_put_keeps_its_place_and_a_new_rule_goes_last(api, admin, catalogue):
    rule = {"rule_id": "grade_b_restock", "grade": "B", "disposition": "refurbish", "override_needs_approval": False}
    assert api.put("/api/v1/disposition-rules/grade_b_restock", json=rule, auth=admin).status_code == 200
    new = {"rule_id": "toys_c_scrap", "category": "toys", "grade": "C", "disposition": "scrap"}
    assert api.put("/api/v1/disposition-rules/toys_c_scrap", json=new, auth=admin).status_code == 200
    rules = api.get("/api/v1/disposition-rules", params={"limit": 100}, auth=admin).json()
    by_id = {r["rule_id"]: r["position"] for r in rules}
    assert by_id["grade_b_restock"] == 1 and by_id["toys_c_scrap"] == len(catalogue.rules)


def test_putting_a_record_again_replaces_its_parts_and_bumps_its_version(api, admin, erp_engine, catalogue):
    from sqlalchemy import select

    from erp import tables as t

    item = catalogue.items[5]
    record = item.model_dump(mode="json") | {"gtins": ["96385074"]}
    assert api.put(f"/api/v1/items/{item.sku}", json=record, auth=admin).status_code == 200
    stored = api.get(f"/api/v1/items/{item.sku}", auth=admin).json()
    assert stored["gtins"] == [{"gtin": "00000096385074"}] and stored["version"] == 2
    rma = next(r for r in catalogue.rmas if len(r.lines) > 1)
    shorter = rma.model_dump(mode="json") | {"lines": [rma.lines[0].model_dump(mode="json")]}
    assert api.put(f"/api/v1/rmas/{rma.rma_id}", json=shorter, auth=admin).status_code == 200
    with erp_engine.connect() as conn:
        lines = conn.execute(select(t.rma_lines.c.line_no).where(t.rma_lines.c.rma_id == rma.rma_id)).all()
    assert lines == [(rma.lines[0].line_no,)]


def test_a_bin_must_match_its_label_and_belong_to_a_known_site(api, admin):
    wrong_type = {"code": "BIN-QUA-Q09", "type": "restock", "zone": "Q"}
    response = api.put("/api/v1/bins/BIN-QUA-Q09", json=wrong_type, auth=admin)
    assert response.status_code == 422 and "labelled quarantine" in response.json()["message"]
    elsewhere = {"code": "BIN-QUA-Q09", "type": "quarantine", "zone": "Q", "site_id": "DC2"}
    assert api.put("/api/v1/bins/BIN-QUA-Q09", json=elsewhere, auth=admin).status_code == 422
    assert api.put("/api/v1/sites/DC2", json={"site_id": "DC2", "name": "Returns centre 2"}, auth=admin).status_code == 200
    assert api.put("/api/v1/bins/BIN-QUA-Q09", json=elsewhere, auth=admin).json()["site_id"] == "DC2"


def test_admins_pin_hashes_never_reach_devices(api, admin, device_factory):
    _, headers = device_factory("hh-1")
    changes = pull_all(api, headers)
    users = {c["key"] for c in changes if c["kind"] == "user"}
    assert users == {"alex", "sam"}


def test_a_device_pulls_its_own_sites_bins_only(api, admin, erp_engine):
    from tests.erp.conftest import provision

    assert api.put("/api/v1/sites/DC2", json={"site_id": "DC2", "name": "Returns centre 2"}, auth=admin).status_code == 200
    bin_dc2 = {"code": "BIN-QUA-Z01", "type": "quarantine", "zone": "Z", "site_id": "DC2"}
    assert api.put("/api/v1/bins/BIN-QUA-Z01", json=bin_dc2, auth=admin).status_code == 200
    headers = provision(erp_engine, "hh-dc2", site_id="DC2")
    changes = pull_all(api, headers)
    assert [c["key"] for c in changes if c["kind"] == "bin"] == ["BIN-QUA-Z01"]
    assert len([c for c in changes if c["kind"] == "item"]) == 520  # items are the same everywhere
