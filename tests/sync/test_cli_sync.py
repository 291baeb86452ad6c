"""`returnflow device connect` and `returnflow sync` as real processes against a real `erp serve`."""

from __future__ import annotations

import stat
import subprocess
import time

import pytest

from tests.processes import RETURNFLOW, free_port, start_api, stop


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RETURNFLOW), *args], input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def api_url(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'erp.db'}"
    assert run("erp", "demo-data", "--db", db_url).returncode == 0
    port = free_port()
    process = start_api(db_url, port)
    yield db_url, f"http://127.0.0.1:{port}"
    stop(process)


def test_a_provisioned_device_connects_and_syncs(api_url, tmp_path):
    db_url, url = api_url
    provisioned = run("erp", "provision-device", "--db", db_url, "--device-id", "dev-cli")
    secret = provisioned.stdout.strip().splitlines()[-1]
    device_db = tmp_path / "device.db"
    assert run("device", "init", "--db", str(device_db), "--device-id", "dev-cli").returncode == 0
    connected = run("device", "connect", "--db", str(device_db), "--secret-stdin", stdin=secret + "\n")
    assert connected.returncode == 0, connected.stderr
    assert secret not in connected.stdout + connected.stderr
    credential = tmp_path / "device.db.credential"
    assert stat.S_IMODE(credential.stat().st_mode) == 0o600

    synced = run("sync", "--db", str(device_db), "--erp", url, "--once")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.startswith("pushed 0, pulled ") and "pending 0" in synced.stdout
    assert secret not in synced.stdout + synced.stderr


def test_sync_without_the_api_says_so_in_one_line(tmp_path):
    device_db = tmp_path / "device.db"
    run("device", "init", "--db", str(device_db), "--device-id", "dev-cli")
    run("device", "connect", "--db", str(device_db), "--secret-stdin", stdin="not-checked-offline\n")
    synced = run("sync", "--db", str(device_db), "--erp", f"http://127.0.0.1:{free_port()}", "--once")
    assert synced.returncode == 1
    assert "cannot reach the central API" in synced.stderr and "Traceback" not in synced.stderr


def test_sync_before_connect_names_the_missing_step(tmp_path):
    device_db = tmp_path / "device.db"
    run("device", "init", "--db", str(device_db), "--device-id", "dev-cli")
    synced = run("sync", "--db", str(device_db), "--erp", "http://127.0.0.1:9", "--once")
    assert synced.returncode == 1
    assert "returnflow device connect" in synced.stderr and "Traceback" not in synced.stderr


def test_sync_keeps_running_until_terminated(api_url, tmp_path):
    db_url, url = api_url
    secret = run("erp", "provision-device", "--db", db_url, "--device-id", "dev-loop").stdout.strip().splitlines()[-1]
    device_db = tmp_path / "device.db"
    run("device", "init", "--db", str(device_db), "--device-id", "dev-loop")
    run("device", "connect", "--db", str(device_db), "--secret-stdin", stdin=secret + "\n")
    process = subprocess.Popen([str(RETURNFLOW), "sync", "--db", str(device_db), "--erp", url, "--interval", "0.2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("online: pending 0")
        time.sleep(1)  # several syncs, each unchanged: no new line
        process.terminate()
        assert process.wait(timeout=30) == 0
        assert process.stdout.read() == "" and "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
