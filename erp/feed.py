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


def append(conn: Connection, rows: list[dict[str, Any]], site_id: str | None = None) -> None:
    """Add changes; without a device_id a change is for every device (of `site_id`, when given)."""
    if rows:
        conn.execute(insert(t.changes), [{"device_id": None, "site_id": site_id, **row} for row in rows])


def page(conn: Connection, device_id: str, site_id: str, after: int, limit: int) -> list[Any]:
    """The changes after `after` that this device needs: its own, its site's, and everyone's."""
    c = t.changes.c
    return conn.execute(
        select(c.seq, c.kind, c.key, c.body)
        .where(c.seq > after, or_(c.device_id.is_(None), c.device_id == device_id),
               or_(c.site_id.is_(None), c.site_id == site_id))
        .order_by(c.seq).limit(limit)
    ).all()
