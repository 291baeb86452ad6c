"""The `returnflow` command as a newcomer runs it: a real process, real files, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from local_db import LATEST_VERSION

RETURNFLOW = Path(sys.executable).with_name("returnflow")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RETURNFLOW), *args], capture_output=True, text=True, timeout=120, input=stdin)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    assert "device" in result.stdout and "demo-data" in result.stdout


def test_init_then_demo_data_prints_what_the_device_holds(tmp_path):
    db = tmp_path / "var" / "device.db"
    init = run("device", "init", "--db", str(db), "--device-id", "handheld-07")
    assert init.returncode == 0, init.stderr
    assert f"device handheld-07, schema version {LATEST_VERSION}" in init.stdout
    assert run("device", "init", "--db", str(db), "--device-id", "handheld-07").returncode == 0
    loaded = run("demo-data", "--db", str(db))
    assert loaded.returncode == 0, loaded.stderr
    assert "items                 520" in loaded.stdout
    assert "user alex (associate), PIN 2468" in loaded.stdout
    assert "user sam (supervisor), PIN 1357" in loaded.stdout


def test_errors_are_one_line_without_traceback(tmp_path):
    db = tmp_path / "device.db"
    run("device", "init", "--db", str(db), "--device-id", "handheld-07")
    taken = run("device", "init", "--db", str(db), "--device-id", "handheld-08")
    assert taken.returncode == 1
    assert taken.stderr.strip() == f"Error: {db} already belongs to device handheld-07"
    bad_id = run("device", "init", "--db", str(tmp_path / "x.db"), "--device-id", "no spaces please")
    assert bad_id.returncode == 1 and "not a device id" in bad_id.stderr and "Traceback" not in bad_id.stderr
    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello" * 200)
    result = run("demo-data", "--db", str(not_db))
    assert result.returncode == 1 and "not a returnflow device database" in result.stderr
    assert "Traceback" not in result.stderr


def test_erp_commands_set_up_a_central_api(tmp_path):
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    assert "loaded 520 items" in run("erp", "demo-data", "--db", url).stdout
    add_ada = ("erp", "add-user", "--db", url, "--user-id", "ada", "--name", "Ada Admin", "--role", "admin")
    added = run(*add_ada, stdin="9753\n")
    assert added.returncode == 0 and "user ada (admin) saved" in added.stdout
    short_pin = run("erp", "add-user", "--db", url, "--user-id", "bo", "--name", "Bo", "--role", "admin", stdin="12\n")
    assert short_pin.returncode == 1 and "4 to 8 digits" in short_pin.stderr
    on_argv = run(*add_ada, "--pin", "9753", stdin="")  # a PIN on the command line is seen by every user
    assert on_argv.returncode == 2 and "No such option '--pin'" in on_argv.stderr
    provisioned = run("erp", "provision-device", "--db", url, "--device-id", "hh-7")
    assert provisioned.returncode == 0 and len(provisioned.stdout.splitlines()[-1]) >= 40
    again = run("erp", "provision-device", "--db", url, "--device-id", "hh-7")
    assert again.returncode == 1 and "already provisioned" in again.stderr
