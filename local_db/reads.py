"""The device database as a store opens it: the SQLite file and its pragmas, the one write
transaction every change runs in, the master-data caches, and the reads by key (a unit, an item, a
bin, an RMA, a user, the rules, the event log).

DeviceStore (local_db.store) adds the commands and SyncSide (local_db.sync_side) what the sync
engine asks; both stand on this class.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import sqlite_utils

from domain import Bin, BinType, DispositionRule, Event, Item, ReturnUnit, Rma, UnknownEntity, User
from domain.gs1 import normalize_gtin
from domain.pins import PIN_LOCKOUT

from .errors import SchemaTooNew, StoreError
from .projection import load_unit
from .schema import LATEST_VERSION, migrate, schema_version


def _system_wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Environment:
    """The device's side effects, passed in so that tests can drive time and ids."""

    wall_ms: Callable[[], int] = _system_wall_ms
    random_bytes: Callable[[int], bytes] = os.urandom
    # How long a person stays locked out after too many wrong PINs (domain.pins.MAX_WRONG_PINS).
    pin_lockout: dt.timedelta = PIN_LOCKOUT



@dataclass(frozen=True)
class StoreSummary:
    device_id: str | None
    schema_version: int
    counts: Mapping[str, int] = field(default_factory=dict)
    outbox: Mapping[str, int] = field(default_factory=dict)


def _refuse_newer_schema(path: Path) -> None:
    # Read-only and before any pragma: a file from a newer release must stay byte-for-byte as it was.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a returnflow device database ({exc})") from None
    finally:
        conn.close()
    if found > LATEST_VERSION:
        raise SchemaTooNew(str(path), found, LATEST_VERSION)


def _keep_private(path: Path) -> None:
    """The device database holds the sign-in verifiers of its site's people and their work: only
    the device's own user may read it. SQLite gives the WAL and shared-memory files it creates
    beside it the database's mode; a file from an earlier version is made private too."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if each.exists():
            each.chmod(0o600)


class StoreReads:
    def __init__(self, db: sqlite_utils.Database, path: str, env: Environment) -> None:
        self._db = db
        self._conn = db.conn
        self._path = path
        self._env = env
        # Master data read on every command, parsed once; loading master data clears them.
        self._rules: list[DispositionRule] | None = None
        self._device_id: str | None = None
        self._users: dict[str, User] = {}
        # PRAGMA data_version moves when another connection (the sync worker's) commits: master
        # data may have changed under the caches.
        self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]

    @classmethod
    def open(cls, path: str | Path, *, env: Environment | None = None) -> Self:
        """Open (creating or upgrading) a device database; a newer schema is refused untouched."""
        path = Path(path)
        if path.exists():
            _refuse_newer_schema(path)
        _keep_private(path)
        db = sqlite_utils.Database(path)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 5000")
        # A command writes ~8 WAL pages; checkpointing every 1,000 pages (the default) would stall
        # about one command in 125, right at p99. Every 4,000 pages moves that past p99.8.
        db.execute("PRAGMA wal_autocheckpoint = 4000")
        migrate(db)
        return cls(db, str(path), env or Environment())

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite_utils.Database:
        return self._db

    @property
    def device_id(self) -> str | None:
        if self._device_id is None:  # set once by initialize() and never changed
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'device_id'").fetchone()
            self._device_id = row[0] if row else None
        return self._device_id

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock before the command reads what it validates against, so no
        # other writer (the sync worker) can change that state between the check and the write.
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"the device database is busy, try again ({exc})") from None
        try:
            self._drop_stale_caches()
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"the device database refused the write ({exc}); nothing was saved") from exc
            raise

    # --- reads ------------------------------------------------------------------------------

    def unit(self, lpn: str) -> ReturnUnit:
        unit = load_unit(self._conn, lpn)
        if unit is None:
            raise UnknownEntity("unit", lpn)
        return unit

    def item(self, sku: str) -> Item:
        row = self._conn.execute(
            "SELECT sku, name, category, serial_tracked, lot_tracked, unit_value_cents FROM items WHERE sku = ?", (sku,)
        ).fetchone()
        if row is None:
            raise UnknownEntity("item", sku)
        gtins = tuple(r[0] for r in self._conn.execute("SELECT gtin FROM item_gtins WHERE sku = ? ORDER BY gtin", (sku,)))
        return Item(sku=row[0], name=row[1], category=row[2], gtins=gtins, serial_tracked=bool(row[3]),
                    lot_tracked=bool(row[4]), unit_value_cents=row[5])

    def _item_facts(self, sku: str) -> tuple[str, str, bool, bool]:
        """(name, category, serial_tracked, lot_tracked): what commands need, without GTIN validation."""
        row = self._conn.execute(
            "SELECT name, category, serial_tracked, lot_tracked FROM items WHERE sku = ?", (sku,)).fetchone()
        if row is None:
            raise UnknownEntity("item", sku)
        return row[0], row[1], bool(row[2]), bool(row[3])

    def item_by_gtin(self, gtin: str) -> Item:
        row = self._conn.execute("SELECT sku FROM item_gtins WHERE gtin = ?", (normalize_gtin(gtin),)).fetchone()
        if row is None:
            raise UnknownEntity("item with GTIN", gtin)
        return self.item(row[0])

    def bin(self, code: str) -> Bin:
        row = self._conn.execute(
            """SELECT b.code, b.type, COALESCE(a.zone, b.zone), COALESCE(a.purpose, b.purpose), COALESCE(a.owner, b.owner)
               FROM bins b LEFT JOIN bin_assignments a ON a.bin_code = b.code WHERE b.code = ?""",
            (code,),
        ).fetchone()
        if row is None:
            raise UnknownEntity("bin", code)
        # Written from validated master data and events: not validated again on every scan.
        return Bin.model_construct(code=row[0], type=BinType(row[1]), zone=row[2], purpose=row[3], owner=row[4])

    def rma(self, rma_id: str) -> Rma:
        row = self._conn.execute(
            "SELECT rma_id, state, channel, order_ref, created_at FROM rmas WHERE rma_id = ?", (rma_id,)
        ).fetchone()
        if row is None:
            raise UnknownEntity("RMA", rma_id)
        lines = [
            dict(zip(("line_no", "sku", "expected_qty", "reason_code"), r))
            for r in self._conn.execute(
                "SELECT line_no, sku, expected_qty, reason_code FROM rma_lines WHERE rma_id = ? ORDER BY line_no",
                (rma_id,),
            )
        ]
        return Rma.model_validate(dict(zip(("rma_id", "state", "channel", "order_ref", "created_at"), row)) | {"lines": lines})

    def user(self, user_id: str) -> User:
        self._drop_stale_caches()
        return self._cached_user(user_id)

    def _cached_user(self, user_id: str) -> User:
        """The user from the cache, which a write transaction has already checked is current."""
        if user_id in self._users:
            return self._users[user_id]
        row = self._conn.execute(
            "SELECT user_id, name, role, pin_hash, active FROM users WHERE user_id = ?", (user_id,)
        ).fetchone()
        if row is None:
            raise UnknownEntity("user", user_id)
        user = User.model_validate(dict(zip(("user_id", "name", "role", "pin_hash", "active"), row)))
        self._users[user_id] = user
        return user

    def rules(self) -> list[DispositionRule]:
        if self._rules is None:
            self._rules = [DispositionRule.model_validate_json(r[0])
                           for r in self._conn.execute("SELECT body FROM disposition_rules ORDER BY position")]
        return self._rules

    def events(self, after_seq: int = 0) -> list[Event]:
        rows = self._conn.execute(
            """SELECT event_id, device_seq, hlc, actor, role, occurred_at, type, schema_version, base_version, payload
               FROM events WHERE device_seq > ? ORDER BY device_seq""",
            (after_seq,),
        )
        device_id = self.device_id
        return [
            Event.model_validate({
                "event_id": r[0], "device_id": device_id, "device_seq": r[1], "hlc": r[2], "actor": r[3],
                "role": r[4], "occurred_at": r[5], "type": r[6], "schema_version": r[7], "base_version": r[8],
                "payload": json.loads(r[9]),
            })
            for r in rows
        ]

    def summary(self) -> StoreSummary:
        tables = ("items", "bins", "rmas", "rma_lines", "users", "disposition_rules", "events", "units", "stock")
        counts = {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
        outbox = dict(self._conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
        return StoreSummary(self.device_id, schema_version(self._db), counts, outbox)

    def _known_code(self, table: str, code: str) -> None:
        if self._conn.execute(f"SELECT 1 FROM {table} WHERE code = ?", (code,)).fetchone() is None:
            raise UnknownEntity(table.removesuffix("s").replace("_", " "), code)

    def _checklist(self, category: str) -> set[str]:
        row = self._conn.execute("SELECT checklist FROM categories WHERE code = ?", (category,)).fetchone()
        if row is None:
            raise UnknownEntity("category", category)
        return {q["question_id"] for q in json.loads(row[0])}

    # --- internals --------------------------------------------------------------------------

    def _now(self) -> str:
        return dt.datetime.fromtimestamp(self._env.wall_ms() / 1000, dt.UTC).isoformat()

    def _drop_stale_caches(self) -> None:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self._forget_master_data()

    def _forget_master_data(self) -> None:
        """Drop the parsed rules and users: master data was just written, or may have been."""
        self._rules, self._users = None, {}
