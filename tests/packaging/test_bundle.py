"""The device bundle: `pyinstaller build.spec` really builds it, and the built program works offline.

One real build per run (about 1.5 min, about 320 MB), shared by the tests of this module. Every process
started here is stopped by its PID.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from domain.demo import demo_catalogue
from local_db import DeviceStore
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
NAME = "returnflow-device"
BUILD_TIMEOUT = 900  # s
SMOKE_TIMEOUT = 300  # s
# What the device never runs; none of it may end up in the bundle.
NOT_ON_DEVICE = ("erp", "cli", "sqlalchemy", "alembic", "psycopg", "hypothesis", "pytest", "_pytest",
                 "schemathesis", "playwright", "flet.testing")
NOT_ON_DISK = {"sqlalchemy", "alembic", "psycopg", "psycopg_binary", "greenlet", "hypothesis", "pytest",
               "schemathesis", "playwright", "uvloop"}
SIZE_BUDGET_MB = 400  # about 320 today: OpenCV and its codecs 150, the Flet web client 50, NumPy 45

pytestmark = pytest.mark.slow


def offline_env() -> dict[str, str]:
    """This environment without proxies: the bundle must need no network beyond 127.0.0.1."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


@dataclass(frozen=True)
class Bundle:
    folder: Path
    executable: Path
    build_seconds: float
    size_mb: float


def folder_size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundle]:
    out = tmp_path_factory.mktemp("bundle")
    dist, work, log = out / "dist", out / "build", out / "pyinstaller.log"
    started = time.monotonic()
    with log.open("wb") as sink:
        built = subprocess.run(
            [sys.executable, "-m", "PyInstaller", str(ROOT / "build.spec"), "--noconfirm",
             "--distpath", str(dist), "--workpath", str(work)],
            cwd=ROOT, env=offline_env(), stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT)
    seconds = time.monotonic() - started
    assert built.returncode == 0, f"pyinstaller build.spec failed:\n{log.read_text(errors='replace')[-4000:]}"
    folder = dist / NAME
    executable = folder / NAME
    assert executable.is_file() and os.access(executable, os.X_OK), f"no executable at {executable}"
    size_mb = folder_size(folder) / 1e6
    print(f"\nbuilt {folder} in {seconds:.0f} s: {size_mb:.0f} MB")
    shutil.rmtree(work, ignore_errors=True)  # only the bundle is needed from here on
    yield Bundle(folder, executable, seconds, size_mb)
    shutil.rmtree(dist, ignore_errors=True)  # a third of a GB per run otherwise stays in pytest's temp


def run_smoke_check(command: list[str], cwd: Path) -> dict:
    done = subprocess.run(command, cwd=cwd, env=offline_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=SMOKE_TIMEOUT)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, f"smoke check failed ({done.returncode}): {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert len(lines) == 1, f"the smoke check must print exactly one line, got: {done.stdout!r}"
    result = json.loads(lines[0])
    print(f"\n{lines[0]}")
    return result


def test_the_bundle_passes_its_own_smoke_check(bundle: Bundle, tmp_path: Path, record_property):
    record_property("build_seconds", round(bundle.build_seconds, 1))
    record_property("bundle_mb", round(bundle.size_mb, 1))
    result = run_smoke_check([str(bundle.executable), "--smoke-check"], cwd=tmp_path)

    assert result["ok"] is True and result["frozen"] is True
    internal = bundle.folder / "_internal"
    # zbar comes from the bundle, not from the machine
    assert result["scanner"]["zbar"] == result["zbar_bundled"]
    assert Path(result["zbar_bundled"]).parent == internal
    assert result["db"]["items"] > 0 and result["db"]["rmas"] > 0
    assert result["camera"]["scanned"]  # OpenCV's video I/O (the camera's stand-in) works frozen
    fetched = result["web"]["fetched"]
    assert {"/", "/flutter_bootstrap.js", "/main.dart.js", "/canvaskit/canvaskit.wasm"} <= set(fetched)
    assert result["web"]["assets_served"] == sum(1 for p in (ROOT / "assets").rglob("*") if p.is_file())
    assert result["session"]["title"] == "returnflow"


def test_the_smoke_check_needs_no_network_at_all(bundle: Bundle, tmp_path: Path):
    """The same check in a network namespace of its own: a loopback interface and nothing else."""
    isolate = ["unshare", "--net", "--map-root-user"]
    if shutil.which("unshare") is None or subprocess.run([*isolate, "true"], capture_output=True).returncode:
        pytest.skip("this machine does not let an unprivileged user create a network namespace (unshare -rn)")
    script = 'ip link set lo up 2>/dev/null || true; exec "$0" --smoke-check'
    result = run_smoke_check([*isolate, "sh", "-c", script, str(bundle.executable)], cwd=tmp_path)
    assert result["ok"] is True


def test_the_bundle_serves_a_device_database_and_stops_on_sigterm(bundle: Bundle, tmp_path: Path):
    db_path = tmp_path / "device.db"
    with DeviceStore.open(db_path) as store:
        store.initialize("dev-bundle-1")
        store.load_catalogue(demo_catalogue(now=dt.datetime.now(dt.UTC)))
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen([str(bundle.executable), "--db", str(db_path), "--port", str(port)], cwd=tmp_path,
                                  env=offline_env(), stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        page = None
        with httpx.Client(trust_env=False) as client:
            deadline = time.monotonic() + 90
            while page is None and time.monotonic() < deadline and server.poll() is None:
                try:
                    page = client.get(f"http://127.0.0.1:{port}/", timeout=2)
                except httpx.TransportError:
                    time.sleep(0.2)
        assert page is not None, f"nothing served on port {port}: {log.read_text(errors='replace')[-3000:]}"
        assert page.status_code == 200
        assert "flutter_bootstrap.js" in page.text and "flet.noCdn=true" in page.text
        assert f"handheld app on http://127.0.0.1:{port}, offline" in log.read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            status = None
    assert status == 0, f"SIGTERM should stop the app cleanly, got {status}: {log.read_text(errors='replace')[-3000:]}"


def test_a_database_that_was_never_initialised_is_refused_in_words(bundle: Bundle, tmp_path: Path):
    done = subprocess.run([str(bundle.executable), "--db", str(tmp_path / "blank.db"), "--port", str(free_port())],
                          cwd=tmp_path, env=offline_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith(f"{NAME}: ") and "Traceback" not in done.stderr, done.stderr


def test_the_bundle_holds_the_device_app_and_nothing_of_the_central_api(bundle: Bundle):
    from PyInstaller.archive.readers import CArchiveReader

    modules = set(CArchiveReader(str(bundle.executable)).open_embedded_archive("PYZ.pyz").toc)
    for package in ("app.main", "app.screens", "domain", "local_db", "sync.engine", "scanner", "flet", "flet_web",
                    "flet_audio", "uvicorn", "fastapi", "pyzbar", "zxingcpp"):
        assert package in modules or any(m.startswith(package + ".") for m in modules), f"{package} is missing"
    unwanted = sorted(m for m in modules if any(m == x or m.startswith(x + ".") for x in NOT_ON_DEVICE))
    assert not unwanted, f"not for the device: {unwanted[:20]}"
    internal = bundle.folder / "_internal"
    for path in ("assets", "cv2", "libzbar.so.0", "flet_web/web/index.html", "flet_web/web/main.dart.js"):
        assert (internal / path).exists(), f"{path} is missing from the bundle"
    on_disk = sorted(p.name for p in internal.iterdir() if re.split(r"[-.]", p.name)[0] in NOT_ON_DISK)
    assert not on_disk, f"not for the device: {on_disk}"
    assert bundle.size_mb < SIZE_BUDGET_MB, f"the bundle grew to {bundle.size_mb:.0f} MB"
