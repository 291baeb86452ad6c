"""`returnflow` commands. Each one parses arguments, calls one package and prints; errors that
returnflow raises on purpose become a one-line message and exit status 1, never a traceback."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import click

from cli.app import app
from cli.demo import demo
from cli.erp import erp
from cli.scan import scan
from cli.sync import connect, sync


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # Imported here: the domain's models take a third of a second to load, which `--help`
            # and the commands that do not use them need not wait for.
            from domain import ReturnflowError

            if isinstance(exc, ReturnflowError):
                raise click.ClickException(str(exc)) from None
            raise


@click.group(cls=_Group)
def cli() -> None:
    """returnflow: offline-first returns processing for warehouse handhelds."""


@cli.group(cls=_Group)
def device() -> None:
    """Manage a handheld's local database."""


_db_option = click.option(
    "--db", "db_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="device database file"
)


@device.command("init")
@_db_option
@click.option("--device-id", required=True, help="the id the central API provisioned for this device")
def device_init(db_path: Path, device_id: str) -> None:
    """Create (or upgrade) a device database bound to DEVICE_ID. Safe to repeat."""
    from local_db import DeviceStore

    db_path.parent.mkdir(parents=True, exist_ok=True)
    with DeviceStore.open(db_path) as store:
        store.initialize(device_id)
        click.echo(f"{db_path}: device {store.device_id}, schema version {store.summary().schema_version}")


@cli.command("demo-data")
@_db_option
def demo_data(db_path: Path) -> None:
    """Load the demo catalogue into a device database and print what it holds."""
    from domain.demo import DEMO_PINS, demo_catalogue
    from local_db import DeviceStore

    catalogue = demo_catalogue(now=dt.datetime.now(dt.UTC))
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with DeviceStore.open(db_path) as store:
        store.load_catalogue(catalogue)
        summary = store.summary()
    click.echo(f"{db_path} (device {summary.device_id or 'not initialised'}, schema v{summary.schema_version})")
    for table, count in summary.counts.items():
        click.echo(f"  {table:<18} {count:>6}")
    click.echo("  outbox             " + (", ".join(f"{k} {v}" for k, v in summary.outbox.items()) or "empty"))
    bins = Counter(b.type.value for b in catalogue.bins)
    click.echo("bins by type: " + ", ".join(f"{t} {n}" for t, n in bins.items()))
    receivable = [r for r in catalogue.rmas if r.state.value in ("approved", "in_transit")]
    click.echo("RMAs to receive, e.g.: " + ", ".join(r.rma_id for r in receivable[:5]))
    for user in catalogue.users:
        click.echo(f"user {user.user_id} ({user.role.value}), PIN {DEMO_PINS[user.user_id]}")


# Each command module imports only click at the top: heavy libraries load when a command runs.
cli.add_command(scan)
cli.add_command(erp)
cli.add_command(sync)
cli.add_command(app)
cli.add_command(demo)
device.add_command(connect)
