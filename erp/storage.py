"""Engines for the central API: one SQLite file by default, PostgreSQL for production.

Both go through SQLAlchemy Core. On SQLite every transaction is BEGIN IMMEDIATE (one writer at a
time, no lost upgrade from read to write); on PostgreSQL row locks order each device's pushes.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from . import migrate


def default_sqlite_url(var_dir: Path = Path("var")) -> str:
    var_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{var_dir / 'erp.db'}"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _configure(dbapi_conn, _record) -> None:
            # Let SQLAlchemy's begin() decide when a transaction starts, not the sqlite3 module.
            dbapi_conn.isolation_level = None
            for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "busy_timeout = 30000"):
                dbapi_conn.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=8, max_overflow=4, pool_pre_ping=True)


def open_database(url: str) -> Engine:
    """An engine on a database migrated to the newest schema."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    return engine
