"""schemathesis, run as an attacker would run it, against a real `returnflow erp serve` on 127.0.0.1,
with every check it has: no 5xx; every status, content type and header as /openapi.json declares
them; every answer conforming to its schema; schema-valid requests accepted and schema-invalid ones
refused; credentials enforced; methods and Allow as documented; resources gone once deleted."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from domain import Role, User, hash_pin
from erp.masterdata import load_catalogue, put_users
from erp.resources import RESOURCES
from erp.storage import open_database
from tests.erp.conftest import provision
from tests.processes import free_port, start_api, stop

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Examples per operation in the fuzzing phase; with the coverage and stateful phases the whole run
# takes about two minutes on two cores. The seed is fixed so that a failure reproduces.
MAX_EXAMPLES, SEED = 10, 20261207

DEVICE_OPERATIONS = ("GET /api/v1/sync/pull", "POST /api/v1/sync/push", "PUT /api/v1/photos/{sha256}")
# Operations that refuse some schema-valid requests with a 422, by a rule a JSON Schema cannot state;
# their other answers are held to every check like the rest.
RULES_BEYOND_THE_SCHEMA = {
    "POST /api/v1/sync/push": "event ids are UUIDv7, device_seq goes on from the ledger, an event's type is its payload's",
    "PUT /api/v1/photos/{sha256}": "a photo's address is its SHA-256",
    "POST /api/v1/refunds": "an RMA id's check digit",
    "POST /api/v1/units/{lpn}/release": "an LPN's check digit; only a quarantined unit is released",
    "POST /api/v1/bins/{code}/reassign": "a quarantine bin only, its contents moved within its site",
    **{f"PUT /api/v1/{name}/{{key}}": "the key in the path is the body's" for name in RESOURCES},
}


def config(device_headers: dict[str, str], basic: str) -> str:
    """schemathesis.toml: each operation's credentials, and where a 422 answers valid data."""
    accepted = 'checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]'
    entries = []
    for name in DEVICE_OPERATIONS:
        entries.append([f"include-name = {json.dumps(name)}", f"headers = {_inline(device_headers)}",
                        *([accepted] if name in RULES_BEYOND_THE_SCHEMA else [])])
    people = [name for name in RULES_BEYOND_THE_SCHEMA if name not in DEVICE_OPERATIONS]
    entries.append([f"include-name = {json.dumps(people)}", f"headers = {_inline({'Authorization': basic})}", accepted])
    entries.append([f"exclude-name = {json.dumps([*DEVICE_OPERATIONS, *people])}",
                    f"headers = {_inline({'Authorization': basic})}"])
    return "\n".join("[[operations]]\n" + "\n".join(entry) + "\n" for entry in entries)


def _inline(table: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in table.items()) + " }"


def test_schemathesis_with_every_check_finds_nothing(tmp_path, catalogue):
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    engine = open_database(url)
    with engine.begin() as conn:
        load_catalogue(conn, catalogue)
        put_users(conn, [User(user_id="ada", name="Ada Admin", role=Role.ADMIN, pin_hash=hash_pin("9753", b"s" * 16))])
    device_headers = provision(engine, "hh-fuzz")
    engine.dispose()
    (tmp_path / "schemathesis.toml").write_text(config(device_headers, "Basic " + base64.b64encode(b"ada:9753").decode()))
    api = start_api(url, port := free_port())
    try:
        run = subprocess.run(
            [str(SCHEMATHESIS), "--no-color", "--config-file", str(tmp_path / "schemathesis.toml"), "run",
             f"http://127.0.0.1:{port}/openapi.json", "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
             "--seed", str(SEED), "--workers", "1"],
            capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    finally:
        stop(api)
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or " passed" in run.stdout, run.stdout[-3000:]
