"""What the sync engine (sync.engine) asks of the device store: the events to push and the
server's answers to them, pulled pages and their cursor, the photos waiting to be uploaded ahead of
the events naming them, the outbox's counts for the screens, and the engine's own notes in meta.

Each write is one transaction around a function of local_db.replica, which does the work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import replica
from .reads import StoreReads


@dataclass(frozen=True)
class RefusedEvent:
    """One of this device's events the server rejected, or accepted with a conflict for a supervisor."""

    device_seq: int
    type: str
    occurred_at: str
    lpn: str | None
    status: str  # "rejected" or "conflict"
    rule: str | None
    exception_id: str | None
    reason: str | None


class SyncSide(StoreReads):
    def next_push_seq(self) -> int:
        return replica.next_push_seq(self._conn)

    def pending_rows(self, from_seq: int, limit: int) -> list[replica.PushRow]:
        """Up to `limit` events from `from_seq` on, as stored, for a push."""
        return replica.pending_rows(self._conn, from_seq, limit)

    def record_answers(self, answers: Sequence[replica.Answer]) -> None:
        with self._write() as conn:
            replica.record_answers(conn, answers, self._now())

    def pull_cursor(self) -> int:
        return replica.pull_cursor(self._conn)

    def apply_pulled(self, changes: Sequence[Mapping[str, object]], cursor: int) -> None:
        """Apply one pulled page and its cursor in one transaction."""
        with self._write():
            if replica.apply_page(self._db, changes, cursor, self._now()):
                self._forget_master_data()

    def sync_counts(self) -> dict[str, int]:
        """pending (not yet answered), conflict and rejected events."""
        counts = dict(self._conn.execute(
            "SELECT status, COUNT(*) FROM sync_results WHERE status <> 'acknowledged' GROUP BY status").fetchall())
        pending = self._conn.execute("SELECT COUNT(*) FROM events WHERE device_seq >= ?",
                                     (self.next_push_seq(),)).fetchone()[0]
        return {"pending": pending, "conflict": counts.get("conflict", 0), "rejected": counts.get("rejected", 0)}

    def refused_events(self, limit: int = 100) -> list[RefusedEvent]:
        """Events the server rejected or sent to a supervisor, newest first, with its reason."""
        return [RefusedEvent(*r) for r in self._conn.execute(
            """SELECT e.device_seq, e.type, e.occurred_at, json_extract(e.payload, '$.lpn'), r.status, r.rule,
                      r.exception_id, r.reason
               FROM sync_results r JOIN events e ON e.device_seq = r.device_seq
               WHERE r.status <> 'acknowledged' ORDER BY r.device_seq DESC LIMIT ?""", (limit,))]

    def add_photo(self, content: bytes) -> str:
        """Keep a photo until it is uploaded; returns its content hash for an inspection."""
        sha256 = hashlib.sha256(content).hexdigest()
        with self._write() as conn:
            conn.execute("INSERT INTO photos (sha256, content, taken_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                         (sha256, content, self._now()))
        return sha256

    def photos_to_upload(self, rows: Sequence[replica.PushRow]) -> list[tuple[str, bytes]]:
        """The not yet uploaded photos the inspections among `rows` name."""
        hashes = {h for r in rows if r.type == "inspection_recorded" and '"photo_hashes":[]' not in r.payload
                  for h in json.loads(r.payload)["inspection"]["photo_hashes"]}
        if not hashes:
            return []
        return self._conn.execute(
            """SELECT sha256, content FROM photos WHERE uploaded_at IS NULL
               AND sha256 IN (SELECT value FROM json_each(?)) ORDER BY sha256""",
            (json.dumps(sorted(hashes)),)).fetchall()

    def photo_uploaded(self, sha256: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE photos SET uploaded_at = ? WHERE sha256 = ?", (self._now(), sha256))

    def meta(self, key: str) -> str | None:
        return replica.read_meta(self._conn, key)

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            replica.write_meta(conn, key, value)
