"""Engines for the central API: one SQLite file by default, PostgreSQL for production.

Both go through SQLAlchemy Core. On SQLite a writing transaction is BEGIN IMMEDIATE (one writer at
a time, no lost upgrade from read to write) and a read through `reader()` is a plain BEGIN. On
PostgreSQL the pull feed's advisory lock orders writers (see erp/feed.py).
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
        def _begin(conn) -> None:
            # Writers take the write lock up front (no lost upgrade from read to write); readers
            # neither wait for writers nor hold them up, as WAL allows.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=8, max_overflow=4, pool_pre_ping=True)


def reader(engine: Engine) -> Engine:
    """The same engine and pool for read-only work: on SQLite its transactions take no write lock."""
    return engine.execution_options(read_only=True)


def open_database(url: str) -> Engine:
    """An engine on a database migrated to the newest schema."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    return engine
