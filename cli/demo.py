"""`returnflow demo`: the whole system on this machine, as `make run` starts it.

The central API on a SQLite file with the demo catalogue, one provisioned handheld synced to it,
the handheld app in the browser, and sample barcode images to try the photo path. Ctrl-C stops
both processes. The demo keeps its state under var/demo between runs; delete it to start afresh.
"""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

DEVICE_ID = "demo-handheld-01"


@click.command("demo")
@click.option("--var", "var_dir", default=Path("var/demo"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="where the demo keeps its files")
@click.option("--erp-port", default=8700, show_default=True, type=int)
@click.option("--app-port", default=8550, show_default=True, type=int)
def demo(var_dir: Path, erp_port: int, app_port: int) -> None:
    """Run the central API and the handheld app with demo data until Ctrl-C."""
    from domain.demo import DEMO_PINS

    erp_url, device_db = prepare(var_dir)
    samples = _write_samples(var_dir / "samples")
    api_url = f"http://127.0.0.1:{erp_port}"
    returnflow = str(Path(sys.executable).with_name("returnflow"))
    children: list[subprocess.Popen] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        children.append(subprocess.Popen([returnflow, "erp", "serve", "--db", erp_url, "--port", str(erp_port)],
                                         stdout=subprocess.DEVNULL))
        _wait_for(f"{api_url}/api/v1/health", children[-1], "central API")
        first_sync(device_db, api_url)
        children.append(subprocess.Popen([returnflow, "app", "--db", str(device_db), "--erp", api_url,
                                          "--port", str(app_port)], stdout=subprocess.DEVNULL))
        _wait_for(f"http://127.0.0.1:{app_port}/", children[-1], "handheld app")
        click.echo(f"\nhandheld app      http://127.0.0.1:{app_port}   (open it at phone size)")
        click.echo(f"central API       {api_url}/docs")
        click.echo(f"dashboard         {api_url}/dashboard   (sign in as sam / {DEMO_PINS['sam']})")
        click.echo(f"sign in           alex (associate) PIN {DEMO_PINS['alex']}, "
                   f"sam (supervisor) PIN {DEMO_PINS['sam']}")
        click.echo(f"sample barcodes   {samples}  (the photo path on the receive screen)")
        click.echo("Ctrl-C stops the demo.")
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        for child in children:
            if child.poll() is not None and not stopping:
                raise click.ClickException(f"{child.args[1]} {child.args[2]} stopped unexpectedly "
                                           f"(exit status {child.returncode})")
    finally:
        for child in reversed(children):
            stop_process(child)
    click.echo("demo stopped")


def prepare(var_dir: Path) -> tuple[str, Path]:
    """The central database and the device database, made together (a pair), or reused as they are."""
    from domain.demo import demo_catalogue
    from erp.identity import provision_device
    from erp.masterdata import load_catalogue
    from erp.storage import open_database
    from local_db import DeviceStore
    from sync.credential import DeviceCredential, credential_path, save_credential

    erp_db, device_db = var_dir / "erp.db", var_dir / "device.db"
    erp_url = f"sqlite:///{erp_db}"
    if erp_db.exists() and device_db.exists() and credential_path(device_db).exists():
        return erp_url, device_db
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)
    engine = open_database(erp_url)
    with engine.begin() as conn:
        load_catalogue(conn, demo_catalogue(now=now))
        secret = provision_device(conn, DEVICE_ID, "DC1", now)
    engine.dispose()
    with DeviceStore.open(device_db) as store:
        store.initialize(DEVICE_ID)
    save_credential(credential_path(device_db), DeviceCredential(DEVICE_ID, secret))
    click.echo(f"new demo in {var_dir}: central API database, device {DEVICE_ID} provisioned")
    return erp_url, device_db


def first_sync(device_db: Path, api_url: str) -> None:
    """Pull the catalogue and users before the app starts, so the first sign-in works."""
    from local_db import DeviceStore
    from sync.credential import credential_path, load_credential
    from sync.engine import SyncEngine

    engine = SyncEngine(device_db, api_url, load_credential(credential_path(device_db)))
    try:
        with DeviceStore.open(device_db) as store:
            report = engine.sync_once(store)
    finally:
        engine.stop()
    click.echo(f"device synced: pushed {report.pushed}, pulled {report.pulled} changes")


def _write_samples(folder: Path) -> Path:
    """Barcode images for the demo's first receivable RMA: its label, its first item, LPN and bin labels."""
    import zxingcpp

    from domain import labels
    from domain.demo import demo_catalogue
    from scanner import barcode_image, png_bytes

    folder.mkdir(parents=True, exist_ok=True)
    catalogue = demo_catalogue(now=dt.datetime.now(dt.UTC))
    rma = next(r for r in catalogue.rmas if r.state.value == "approved")
    item = next(i for i in catalogue.items if i.sku == rma.lines[0].sku)
    f = zxingcpp.BarcodeFormat
    codes = {"1-rma": (rma.rma_id, f.Code128), "2-item": (item.gtins[0][-13:], f.EAN13),
             "3-lpn": (labels.lpn(900_001), f.Code128), "4-dock-bin": ("BIN-DCK-A01", f.Code128),
             "5-restock-bin": ("BIN-RST-R01", f.Code128), "6-quarantine-bin": ("BIN-QUA-Q01", f.Code128)}
    for name, (content, fmt) in codes.items():
        (folder / f"{name}.png").write_bytes(png_bytes(barcode_image(content, fmt)))
    return folder


def _wait_for(url: str, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"the {what} did not start (exit status {process.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise click.ClickException(f"the {what} did not answer at {url} within {timeout:.0f} s")


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a child by its PID, and kill it if it has not gone within 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
