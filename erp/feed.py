"""The pull feed: changes appended in commit order, read by devices after their cursor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, or_, select, text
from sqlalchemy.engine import Connection

from . import tables as t

# Every writer of the feed takes this lock on PostgreSQL, so a change with a higher seq never
# commits before one with a lower seq and a reader's cursor can never skip a late commit.
_FEED_LOCK = 7_301_964


def lock_feed(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FEED_LOCK})


def append(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(t.changes), rows)


def page(conn: Connection, device_id: str, after: int, limit: int) -> list[Any]:
    return conn.execute(
        select(t.changes.c.seq, t.changes.c.kind, t.changes.c.key, t.changes.c.body)
        .where(t.changes.c.seq > after, or_(t.changes.c.device_id.is_(None), t.changes.c.device_id == device_id))
        .order_by(t.changes.c.seq).limit(limit)
    ).all()
