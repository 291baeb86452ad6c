"""`returnflow demo`: the whole system on this machine, as `make run` starts it.

The central API on a SQLite file with the demo catalogue, one provisioned handheld synced to it,
the handheld app in the browser, and sample labels to scan. Enter stops the central API and Enter
again starts it, so the handheld can be seen working offline and catching up; the app runs on
whatever the API does. Ctrl-C stops both. The demo keeps its state under var/demo between runs;
delete it to start afresh.
"""

from __future__ import annotations

import datetime as dt
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
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
    """Run the central API and the handheld app with demo data until Ctrl-C; Enter stops or starts the API."""
    from cli.demo_samples import write_samples
    from domain.demo import DEMO_PINS

    api_url, app_url = f"http://127.0.0.1:{erp_port}", f"http://127.0.0.1:{app_port}"
    returnflow = str(Path(sys.executable).with_name("returnflow"))
    for port, option in ((erp_port, "--erp-port"), (app_port, "--app-port")):  # both, before anything starts
        check_port(port, option)
    erp_url, device_db = prepare(var_dir)
    sheet = write_samples(var_dir / "samples")
    api = Child("central API", [returnflow, "erp", "serve", "--db", erp_url, "--port", str(erp_port)],
                erp_port, "--erp-port", f"{api_url}/api/v1/health")
    app = Child("handheld app", [returnflow, "app", "--db", str(device_db), "--erp", api_url, "--port", str(app_port)],
                app_port, "--app-port", f"{app_url}/")
    # Ctrl-C stops the demo also where it started with SIGINT ignored (a shell's background job
    # inherits that); SIGTERM stops it the same way.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        api.start()
        first_sync(device_db, api_url)
        app.start()
        click.echo(f"\nhandheld app      {app_url}   (open it at phone size)")
        click.echo(f"central API       {api_url}/docs   (pid {api.pid})")
        click.echo(f"dashboard         {api_url}/dashboard   (sign in as sam / {DEMO_PINS['sam']})")
        click.echo(f"sign in           alex (associate) PIN {DEMO_PINS['alex']}, "
                   f"sam (supervisor) PIN {DEMO_PINS['sam']}")
        click.echo(f"sample labels     {sheet.resolve()}  (show it on a second screen or print it, and scan)")
        click.echo("Enter stops the central API, to see the handheld keep working offline; Enter again starts it.")
        click.echo("Ctrl-C stops the demo.")
        _supervise(api, app)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stopping short
        app.stop()
        api.stop()
    click.echo("demo stopped")


class Child:
    """A process the demo starts, watches and stops by its PID: the central API or the handheld app."""

    def __init__(self, name: str, argv: list[str], port: int, port_option: str, ready_url: str) -> None:
        self.name, self.argv, self.port, self.port_option, self.ready_url = name, argv, port, port_option, ready_url
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        check_port(self.port, self.port_option)
        # A session of its own: Ctrl-C at the terminal reaches the demo alone, which stops each child by
        # PID, and the app never goes down with the API.
        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_for(self.ready_url, self.process, self.name)
        except click.ClickException:
            self.stop()
            raise

    def exit_status(self) -> int | None:
        """None while it runs (or before it started)."""
        return self.process.poll() if self.process else None

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)


def _supervise(api: Child, app: Child) -> None:
    """Until Ctrl-C: each Enter stops or starts the central API; the app is expected to run throughout."""
    typed = _lines_typed()
    api_up = True
    while True:
        if (status := app.exit_status()) is not None:
            raise click.ClickException(f"the handheld app stopped unexpectedly{_how_it_ended(status)}; "
                                       "its messages are above")
        if api_up and (status := api.exit_status()) is not None:
            api_up = False
            click.echo(f"central API stopped{_how_it_ended(status)}: the handheld keeps working offline and "
                       "keeps its work to sync. Press Enter to start the API again.")
        try:
            typed.get(timeout=0.2)
        except queue.Empty:
            continue
        if api_up:
            api.stop()  # the next turn of the loop says so
            continue
        try:
            api.start()
        except click.ClickException as failed:
            click.echo(f"{failed.message}. Press Enter to try again.")
            continue
        api_up = True
        click.echo(f"central API started again (pid {api.pid}): the handheld syncs what it kept within "
                   "30 s, or at once with 'Sync now'. Press Enter to stop it.")


def _how_it_ended(status: int) -> str:
    """Nothing for a clean stop, else the exit status or the signal that ended a child."""
    if status in (0, -signal.SIGTERM):
        return ""
    return f" (killed by {signal.Signals(-status).name})" if status < 0 else f" (exit status {status})"


def _lines_typed() -> queue.SimpleQueue[str]:
    """Each line typed at the terminal, read on a thread of its own so that the demo keeps watching."""
    typed: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read() -> None:
        for line in sys.stdin:  # ends at end of input: with no terminal, the API just stays up
            typed.put(line)

    if sys.stdin is not None:
        threading.Thread(target=read, name="keyboard", daemon=True).start()
    return typed


def check_port(port: int, option: str) -> None:
    """Refuse, in words, a port another program listens on: it would answer the readiness check."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is free
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise click.ClickException(f"port {port} is in use by another program: stop it or pass {option}") from None


def _interrupt(*_: object) -> None:
    """Ctrl-C or SIGTERM: the demo stops its children and goes."""
    raise KeyboardInterrupt


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


def _wait_for(url: str, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    """Poll `url` until it answers 200; a process that ends first is reported in words."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"the {what} stopped before it was ready (exit status {process.returncode}); "
                                       "its messages are above")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
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
