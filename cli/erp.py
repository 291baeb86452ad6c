"""`returnflow erp ...`: run and administer the central returns API."""

from __future__ import annotations

import datetime as dt
import os
import sys

import click

_db_option = click.option("--db", "db_url", default=None,
                          help="database URL: sqlite:///path or postgresql://... (default: sqlite under ./var/)")


def _url(db_url: str | None) -> str:
    from erp.storage import default_sqlite_url

    return db_url or default_sqlite_url()


@click.group()
def erp() -> None:
    """The central returns API (system of record)."""


@erp.command()
@_db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(db_url: str | None, host: str, port: int, workers: int) -> None:
    """Serve the API. Workers share the database; on SQLite they take turns to write (one writer at a
    time, handed over through a lock file beside the database), on PostgreSQL they write side by side."""
    import uvicorn

    from erp.server import DB_URL_ENV
    from erp.storage import open_database

    url = _url(db_url)
    open_database(url).dispose()  # migrate once, before any worker starts
    os.environ[DB_URL_ENV] = url
    click.echo(f"returnflow central API on http://{host}:{port} ({url.split('://')[0]}, {workers} worker(s))")
    uvicorn.run("erp.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")


@erp.command("demo-data")
@_db_option
def demo_data(db_url: str | None) -> None:
    """Load the demo catalogue (the same one devices get)."""
    from domain.demo import DEMO_PINS, demo_catalogue
    from erp.masterdata import load_catalogue
    from erp.storage import open_database

    catalogue = demo_catalogue(now=dt.datetime.now(dt.UTC))
    engine = open_database(_url(db_url))
    with engine.begin() as conn:
        load_catalogue(conn, catalogue)
    engine.dispose()
    click.echo(f"loaded {len(catalogue.items)} items, {len(catalogue.bins)} bins, {len(catalogue.rmas)} RMAs")
    for user in catalogue.users:
        click.echo(f"user {user.user_id} ({user.role.value}), PIN {DEMO_PINS[user.user_id]}")


@erp.command("provision-device")
@_db_option
@click.option("--device-id", required=True)
@click.option("--site", "site_id", default="DC1", show_default=True)
def provision_device(db_url: str | None, device_id: str, site_id: str) -> None:
    """Register a handheld and print its secret (shown this once, stored hashed)."""
    from erp.identity import provision_device as provision
    from erp.storage import open_database

    engine = open_database(_url(db_url))
    with engine.begin() as conn:
        secret = provision(conn, device_id, site_id, dt.datetime.now(dt.UTC))
    engine.dispose()
    click.echo(f"device {device_id} at site {site_id}; secret (store it now, it is not shown again):")
    click.echo(secret)


@erp.command("add-user")
@_db_option
@click.option("--user-id", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["associate", "supervisor", "admin"]))
def add_user(db_url: str | None, user_id: str, name: str, role: str) -> None:
    """Create or update a user, e.g. the first admin, who then manages the rest over the API.

    The PIN (4 to 8 digits) is asked for on a terminal, or read as one line from standard input
    (a file, a secret manager's pipe): never from the command line, which other users of the
    machine can list and shells keep in their history."""
    from domain import Role, User, build, hash_pin

    if sys.stdin.isatty():
        pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True)
    else:
        pin = sys.stdin.readline().strip()
    from erp.masterdata import put_users
    from erp.storage import open_database

    user = build(User, user_id=user_id, name=name, role=Role(role), pin_hash=hash_pin(pin, os.urandom(16)))
    engine = open_database(_url(db_url))
    with engine.begin() as conn:
        put_users(conn, [user])
    engine.dispose()
    click.echo(f"user {user_id} ({role}) saved")
