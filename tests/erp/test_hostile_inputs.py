"""What an attacker sends to a real `returnflow erp serve` on 127.0.0.1, on SQLite and on PostgreSQL:
extreme numbers and times, sloppy types and megabyte values get a 4xx that names the field and
quotes little of the input, never a 5xx, and nothing of the request is written."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from domain import Role, UnitState, User, hash_pin
from domain.demo import demo_catalogue
from erp import tables as t
from erp.masterdata import load_catalogue, put_users
from erp.storage import make_engine, open_database
from tests.conftest import NOW, open_device
from tests.integration.test_device_store import to_state
from tests.processes import fresh_pg_database, free_port, start_api, stop

ADMIN = ("ada", "9753")
MEGABYTE_ISH = 900_000  # under the 1 MiB a record's PUT may carry, so the value itself is judged


@dataclass(frozen=True)
class Served:
    url: str  # the database's
    api: str

    def count(self, table, *where) -> int:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()
        finally:
            engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory, catalogue) -> Iterator[Served]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'erp.db'}"
        else:
            url = stack.enter_context(fresh_pg_database(request.getfixturevalue("pg_admin_url")))
        engine = open_database(url)
        with engine.begin() as conn:
            load_catalogue(conn, catalogue)
            put_users(conn, [User(user_id="ada", name="Ada Admin", role=Role.ADMIN, pin_hash=hash_pin("9753", b"a" * 16))])
        engine.dispose()
        process = start_api(url, port := free_port())
        stack.callback(stop, process)
        yield Served(url, f"http://127.0.0.1:{port}/api/v1")


_devices = itertools.count(1)


@pytest.fixture
def device(served, tmp_path, catalogue):
    """A device provisioned through the admin API, and the push of its first three events (a
    receipt, an inspection, a grade) as its sync engine sends them."""
    device_id = f"hh-hostile-{next(_devices)}"
    secret = httpx.post(f"{served.api}/admin/devices", json={"device_id": device_id, "site_id": "DC1"},
                        auth=ADMIN).json()["secret"]
    store = open_device(tmp_path / f"{device_id}.db", catalogue, device_id)
    to_state(store, catalogue, UnitState.GRADED)
    body = {"device_id": device_id, "sent_at": dt.datetime.now(dt.UTC).isoformat(),
            "events": [e.model_dump(mode="json") for e in store.events()]}
    store.close()
    return {"X-Returnflow-Device": device_id, "Authorization": f"Bearer {secret}"}, body


def push(served, headers, body):
    return httpx.post(f"{served.api}/sync/push", json=body, headers=headers, timeout=30)


def changed(body, path, value):
    """A copy of `body` with the value at `path` (keys and list positions) replaced."""
    body = copy.deepcopy(body)
    *parents, last = path
    target = body
    for key in parents:
        target = target[key]
    target[last] = value
    return body


def refused_naming(response, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text[:500]
    assert field in response.json()["message"], response.text[:500]


EXTREME_EVENTS = [
    (("events", 0, "base_version"), 2**63, "base_version"),
    (("events", 1, "base_version"), 2**64 + 5, "base_version"),
    (("events", 0, "occurred_at"), "9999-12-31T23:59:59-05:00", "occurred_at"),
    (("events", 0, "occurred_at"), "0001-01-01T00:00:00+05:00", "occurred_at"),
    (("events", 2, "occurred_at"), "2150-06-01T00:00:00Z", "occurred_at"),
    (("sent_at",), "9999-12-31T23:59:59-05:00", "sent_at"),
    (("sent_at",), "0001-01-01T00:00:00+05:00", "sent_at"),
    (("events", 0, "payload", "line_no"), 2**63, "line_no"),
    (("events", 0, "payload", "line_no"), 2**31, "line_no"),
    (("events", 0, "payload", "expiry"), "9999-12-31", "expiry"),
]


@pytest.mark.parametrize("path, value, field", EXTREME_EVENTS, ids=[f"{p[-1]}={v}" for p, v, _ in EXTREME_EVENTS])
def test_an_extreme_number_or_time_in_a_push_is_refused_naming_it_and_nothing_is_written(
        served, device, path, value, field):
    headers, body = device
    refused_naming(push(served, headers, changed(body, path, value)), field)
    assert served.count(t.events, t.events.c.device_id == body["device_id"]) == 0
    # Nothing half-written stands in the way of the same batch with sane values.
    assert push(served, headers, body).status_code == 200
    assert served.count(t.events, t.events.c.device_id == body["device_id"]) == 3


SLOPPY_EVENTS = [
    (("events", 0, "device_seq"), "1", "device_seq"),
    (("events", 0, "schema_version"), True, "schema_version"),
    (("events", 0, "base_version"), "0", "base_version"),
    (("events", 0, "base_version"), 0.0, "base_version"),
    (("events", 0, "occurred_at"), 1_764_147_600, "occurred_at"),
    (("events", 0, "event_id"), "{0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b}", "event_id"),
    (("events", 0, "payload", "line_no"), "1", "line_no"),
    (("events", 0, "payload", "expiry"), 0, "expiry"),
]


@pytest.mark.parametrize("path, value, field", SLOPPY_EVENTS, ids=[f"{p[-1]}={v!r}" for p, v, _ in SLOPPY_EVENTS])
def test_a_value_of_the_wrong_type_in_a_push_is_refused_naming_it(served, device, path, value, field):
    headers, body = device
    refused_naming(push(served, headers, changed(body, path, value)), field)
    assert served.count(t.events, t.events.c.device_id == body["device_id"]) == 0


def test_an_inspection_answer_must_be_true_or_false(served, device):
    headers, body = device
    question = next(iter(body["events"][1]["payload"]["inspection"]["answers"]))
    sloppy = changed(body, ("events", 1, "payload", "inspection", "answers", question), "yes")
    refused_naming(push(served, headers, sloppy), question)
    assert served.count(t.events, t.events.c.device_id == body["device_id"]) == 0


def test_a_query_parameter_an_endpoint_does_not_take_is_refused(served, device):
    headers, _ = device
    refused_naming(httpx.get(f"{served.api}/sync/pull", params={"after": 0, "limt": 5}, headers=headers), "limt")


CATALOGUE = demo_catalogue(now=NOW)  # the one every served database is loaded with
ITEM, RMA = CATALOGUE.items[0].model_dump(mode="json"), CATALOGUE.rmas[0].model_dump(mode="json")
RECORD_CHANGES = [  # (path, a valid record, where an extreme or sloppy value goes, the value, the field named)
    (f"items/{ITEM['sku']}", ITEM, ("unit_value_cents",), 2**63, "unit_value_cents"),
    (f"items/{ITEM['sku']}", ITEM, ("unit_value_cents",), "2599", "unit_value_cents"),
    (f"items/{ITEM['sku']}", ITEM, ("serial_tracked",), "yes", "serial_tracked"),
    (f"rmas/{RMA['rma_id']}", RMA, ("created_at",), "9999-12-31T23:59:59-05:00", "created_at"),
    (f"rmas/{RMA['rma_id']}", RMA, ("created_at",), "0001-01-01T00:00:00+05:00", "created_at"),
    (f"rmas/{RMA['rma_id']}", RMA, ("created_at",), "2026-11-20T10:00:00", "created_at"),  # no offset: whose clock?
    (f"rmas/{RMA['rma_id']}", RMA, ("lines", 0, "line_no"), 2**31, "line_no"),
    (f"rmas/{RMA['rma_id']}", RMA, ("lines", 0, "expected_qty"), 2**40, "expected_qty"),
]


@pytest.mark.parametrize("path, record, where, value, field", RECORD_CHANGES,
                         ids=[f"{w[-1]}={v!r}" for _, _, w, v, _ in RECORD_CHANGES])
def test_an_extreme_or_sloppy_value_in_a_record_is_refused_naming_it_and_the_record_stays(
        served, path, record, where, value, field):
    before = httpx.get(f"{served.api}/{path}", auth=ADMIN).json()
    refused_naming(httpx.put(f"{served.api}/{path}", json=changed(record, where, value), auth=ADMIN), field)
    assert httpx.get(f"{served.api}/{path}", auth=ADMIN).json() == before


def test_an_import_reports_an_extreme_value_by_row_and_writes_the_valid_rows(served, catalogue):
    good, bad = (catalogue.items[1].model_dump(mode="json") | {"name": "Imported twice"},
                 catalogue.items[2].model_dump(mode="json") | {"unit_value_cents": 2**63})
    response = httpx.post(f"{served.api}/items/import", json=[good, bad], auth=ADMIN)
    assert response.status_code == 200, response.text[:500]
    report = response.json()
    assert report["written"] == 1 and [e["row"] for e in report["errors"]] == [2]
    assert "unit_value_cents" in report["errors"][0]["message"]
    assert httpx.get(f"{served.api}/items/{bad['sku']}", auth=ADMIN).json()["unit_value_cents"] != 2**63


@pytest.mark.parametrize("change, field", [
    ({"decided_at": "9999-12-31T23:59:59-05:00"}, "decided_at"),
    ({"decided_at": "0001-01-01T00:00:00+05:00"}, "decided_at"),
    ({"amount_cents": "1999"}, "amount_cents"),
    ({"amount_cents": True}, "amount_cents"),
])
def test_an_extreme_or_sloppy_refund_decision_is_refused_naming_it(served, catalogue, change, field):
    rma_id = catalogue.rmas[-1].rma_id
    decision = {"rma_id": rma_id, "decision": "refund", "amount_cents": 1999, "decided_at": "2026-11-27T10:00:00Z"}
    refused_naming(httpx.post(f"{served.api}/refunds", json=decision | change, auth=ADMIN), field)
    assert served.count(t.refunds, t.refunds.c.rma_id == rma_id) == 0


def quoted_run(response) -> int:
    """The longest run of the attacker's Q characters anywhere in the answer."""
    return max((len(run) for run in re.findall("Q+", response.text)), default=0)


def test_an_error_quotes_at_most_a_short_prefix_of_a_megabyte_value(served, device, catalogue):
    headers, body = device
    huge = "Q" * MEGABYTE_ISH
    item = catalogue.items[0].model_dump(mode="json")
    answers = [
        push(served, headers, changed(body, ("events", 0, "payload", "bin_code"), huge)),
        push(served, headers, changed(body, ("events", 0, "hlc"), huge)),
        httpx.post(f"{served.api}/admin/devices", json={"device_id": huge, "site_id": "DC1"}, auth=ADMIN),
        httpx.put(f"{served.api}/items/{item['sku']}", json=item | {"gtins": [huge]}, auth=ADMIN),
        httpx.post(f"{served.api}/items/import", json=[item | {"gtins": [huge]}, {"sku": huge}], auth=ADMIN),
        httpx.post(f"{served.api}/rmas/import", content=f"rma_id,created_at\n{huge[:100_000]},x\n".encode(),
                   headers={"Content-Type": "text/csv"}, auth=ADMIN),  # Python's csv reads cells of 128 KiB
    ]
    for answer in answers:
        assert answer.status_code in (200, 422), answer.text[:500]
        assert 0 < quoted_run(answer) <= 80 and len(answer.content) < 4000, (answer.status_code, answer.text[:300])
    assert served.count(t.events, t.events.c.device_id == body["device_id"]) == 0


def test_a_method_a_path_does_not_take_is_refused_with_every_method_it_does(served, catalogue):
    sku = catalogue.items[0].sku
    refused = httpx.request("PATCH", f"{served.api}/items/{sku}", auth=ADMIN)
    assert refused.status_code == 405 and refused.headers["Allow"] == "DELETE, GET, PUT"
    # "import" names the bulk import beside the records, never a record.
    refused = httpx.get(f"{served.api}/items/import", auth=ADMIN)
    assert refused.status_code == 405 and refused.headers["Allow"] == "POST"


def test_the_openapi_document_holds_every_schema_it_refers_to_and_every_refusal(served):
    document = httpx.get(served.api.removesuffix("/api/v1") + "/openapi.json").json()
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs and refs <= set(document["components"]["schemas"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            refusals = {s: a for s, a in operation["responses"].items() if s.startswith("4")}
            assert all(answer["content"] == problem for answer in refusals.values()), (method, path)
            if path != "/api/v1/health":  # the only one that asks for no credentials
                assert "401" in refusals, (method, path)
    push_answers = document["paths"]["/api/v1/sync/push"]["post"]["responses"]
    assert {"400", "401", "403", "409", "413", "422"} <= set(push_answers)
    assert "413" in document["paths"]["/api/v1/items/import"]["post"]["responses"]
    assert "409" in document["paths"]["/api/v1/items/{key}"]["delete"]["responses"]
