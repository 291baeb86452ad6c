"""`returnflow device connect` and `returnflow sync`: the device's link to the central API."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

_db_option = click.option(
    "--db", "db_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="device database file"
)


@click.command("connect")
@_db_option
@click.option("--secret-stdin", is_flag=True,
              help="read the secret from standard input (a script's pipe) instead of a hidden prompt")
def connect(db_path: Path, secret_stdin: bool) -> None:
    """Store the secret the central API gave this device, readable by its owner only (0600).
    The secret is never taken as an argument: arguments show in the process list."""
    from local_db import DeviceStore, NotInitialized
    from sync.credential import DeviceCredential, credential_path, save_credential

    with DeviceStore.open(db_path) as store:
        device_id = store.device_id
    if device_id is None:
        raise NotInitialized(str(db_path))
    secret = sys.stdin.readline().strip() if secret_stdin else click.prompt("device secret", hide_input=True)
    if not secret:
        raise click.ClickException("no secret given: paste the one `returnflow erp provision-device` printed")
    path = credential_path(db_path)
    save_credential(path, DeviceCredential(device_id, secret))
    click.echo(f"device {device_id}: credential saved to {path} (mode 0600)")


@click.command("sync")
@_db_option
@click.option("--erp", "erp_url", required=True, help="the central API, e.g. http://127.0.0.1:8700")
@click.option("--once", is_flag=True, help="sync once and exit (status 1 if it failed)")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(0.1), help="seconds between syncs")
def sync(db_path: Path, erp_url: str, once: bool, interval: float) -> None:
    """Push this device's events and pull what it needs; without --once, keep syncing until stopped."""
    from local_db import DeviceStore
    from sync.credential import credential_path, load_credential
    from sync.engine import SyncEngine, SyncFailed, SyncState, SyncStatus

    credential = load_credential(credential_path(db_path))
    with DeviceStore.open(db_path) as store:
        if store.device_id != credential.device_id:
            raise click.ClickException(f"{db_path} belongs to device {store.device_id}, the credential to "
                                       f"{credential.device_id}: connect the device again")
    engine = SyncEngine(db_path, erp_url, credential, interval_s=interval)
    if once:
        try:
            with DeviceStore.open(db_path) as store:
                report = engine.sync_once(store)
        except SyncFailed as failed:
            raise click.ClickException(str(failed)) from None
        finally:
            engine.stop()
        status = engine.status
        click.echo(f"pushed {report.pushed}, pulled {report.pulled} in {report.seconds:.2f} s; "
                   f"pending {status.pending}, conflicts {status.conflicts}, rejected {status.rejected}")
        return

    shown: list[str] = []

    def show(status: SyncStatus) -> None:
        if status.state is SyncState.SYNCING:
            return
        line = (f"{status.state.value}: pending {status.pending}, conflicts {status.conflicts}, "
                f"rejected {status.rejected}" + (f" ({status.message})" if status.message else ""))
        if shown[-1:] != [line]:  # a line when something changed, not one per sync
            shown.append(line)
            click.echo(line)

    engine.subscribe(show)
    signal.signal(signal.SIGTERM, lambda *_: engine.request_stop())
    engine.start()
    try:
        while engine.running:
            engine.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()
