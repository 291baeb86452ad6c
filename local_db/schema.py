"""The device database schema as ordered, recorded migrations (PRAGMA user_version holds the version)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_V1 = (
    """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT""",
    # Master data, owned by the ERP and replaced by sync; a device never edits it except as a
    # projection of its own events (bin reassignment).
    """CREATE TABLE categories (code TEXT PRIMARY KEY, name TEXT NOT NULL, checklist TEXT NOT NULL) STRICT""",
    """CREATE TABLE reason_codes (code TEXT PRIMARY KEY, label TEXT NOT NULL) STRICT""",
    """CREATE TABLE condition_codes (code TEXT PRIMARY KEY, label TEXT NOT NULL) STRICT""",
    """CREATE TABLE disposition_rules (
        rule_id TEXT PRIMARY KEY, position INTEGER NOT NULL, body TEXT NOT NULL) STRICT""",
    """CREATE TABLE items (
        sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL REFERENCES categories(code),
        serial_tracked INTEGER NOT NULL, lot_tracked INTEGER NOT NULL, unit_value_cents INTEGER NOT NULL) STRICT""",
    """CREATE TABLE item_gtins (gtin TEXT PRIMARY KEY, sku TEXT NOT NULL REFERENCES items(sku)) STRICT""",
    """CREATE INDEX item_gtins_sku ON item_gtins(sku)""",
    """CREATE TABLE bins (
        code TEXT PRIMARY KEY, type TEXT NOT NULL, zone TEXT NOT NULL, purpose TEXT, owner TEXT) STRICT""",
    """CREATE TABLE users (
        user_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, pin_hash TEXT NOT NULL,
        active INTEGER NOT NULL) STRICT""",
    """CREATE TABLE rmas (
        rma_id TEXT PRIMARY KEY, state TEXT NOT NULL, channel TEXT NOT NULL, order_ref TEXT NOT NULL,
        created_at TEXT NOT NULL) STRICT""",
    """CREATE TABLE rma_lines (
        rma_id TEXT NOT NULL REFERENCES rmas(rma_id), line_no INTEGER NOT NULL, sku TEXT NOT NULL,
        expected_qty INTEGER NOT NULL, reason_code TEXT NOT NULL, PRIMARY KEY (rma_id, line_no)) STRICT""",
    # The append-only event log: device_seq is gap-free and assigned in the writing transaction.
    # event_id is not indexed: the device makes each one (UUIDv7, 74 random bits) and the server
    # enforces uniqueness; an index would cost a page per durable command.
    """CREATE TABLE events (
        device_seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, type TEXT NOT NULL,
        hlc TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL, occurred_at TEXT NOT NULL,
        schema_version INTEGER NOT NULL, base_version INTEGER NOT NULL, payload TEXT NOT NULL) STRICT""",
    # What the server answered for each event, written when the answer arrives. An event with no
    # answer yet is pending, so a command writes nothing here (the outbox view shows all three).
    """CREATE TABLE sync_results (
        device_seq INTEGER PRIMARY KEY REFERENCES events(device_seq),
        status TEXT NOT NULL CHECK (status IN ('acknowledged', 'rejected')),
        reason TEXT, updated_at TEXT NOT NULL) STRICT""",
    """CREATE VIEW outbox AS
        SELECT e.device_seq, COALESCE(r.status, 'pending') AS status, r.reason, r.updated_at
        FROM events e LEFT JOIN sync_results r ON r.device_seq = e.device_seq""",
    # Projections of the event log, written in the same transaction as the event. Keyed tables are
    # WITHOUT ROWID: one b-tree instead of table plus key index, fewer pages per durable commit.
    """CREATE TABLE units (
        lpn TEXT PRIMARY KEY, sku TEXT NOT NULL REFERENCES items(sku), rma_id TEXT, line_no INTEGER,
        serial TEXT, lot TEXT, expiry TEXT, reason_code TEXT NOT NULL, state TEXT NOT NULL, held_from TEXT,
        bin_code TEXT NOT NULL REFERENCES bins(code), condition_codes TEXT NOT NULL, grade TEXT,
        disposition TEXT, server_version INTEGER NOT NULL, last_seq INTEGER NOT NULL,
        FOREIGN KEY (rma_id, line_no) REFERENCES rma_lines(rma_id, line_no)) STRICT, WITHOUT ROWID""",
    """CREATE INDEX units_bin ON units(bin_code)""",
    """CREATE INDEX units_serial ON units(sku, serial) WHERE serial IS NOT NULL""",
    """CREATE TABLE inspections (
        lpn TEXT PRIMARY KEY REFERENCES units(lpn), body TEXT NOT NULL, device_seq INTEGER NOT NULL)
        STRICT, WITHOUT ROWID""",
    """CREATE TABLE bin_counts (
        device_seq INTEGER NOT NULL REFERENCES events(device_seq), bin_code TEXT NOT NULL, sku TEXT NOT NULL,
        counted INTEGER NOT NULL, expected INTEGER NOT NULL, PRIMARY KEY (device_seq, sku)) STRICT""",
    # A supervisor's reassignment overrides the bin's master-data purpose, zone and owner.
    """CREATE TABLE bin_assignments (
        bin_code TEXT PRIMARY KEY REFERENCES bins(code), purpose TEXT NOT NULL, zone TEXT NOT NULL,
        owner TEXT NOT NULL, device_seq INTEGER NOT NULL) STRICT""",
    # Stock and RMA receipt counts are views over the units: always equal to the applied movements,
    # never negative, and nothing extra to write on a durable command. A device holds thousands of
    # units, not millions, so counting on read is cheap.
    """CREATE VIEW bin_contents AS
        SELECT u.bin_code, b.type AS bin_type, u.lpn, u.sku, u.state FROM units u JOIN bins b ON b.code = u.bin_code""",
    """CREATE VIEW stock AS
        SELECT sku, bin_code, state AS status, COUNT(*) AS qty FROM units GROUP BY sku, bin_code, state""",
    """CREATE VIEW rma_receipts AS
        SELECT rma_id, line_no, COUNT(*) AS received_qty FROM units WHERE rma_id IS NOT NULL GROUP BY rma_id, line_no""",
)

_V2 = (
    # The server's answer now also says when an event was acknowledged with a conflict, and which
    # named rule and exception it went to. SQLite cannot alter a CHECK: the table is rebuilt.
    """DROP VIEW outbox""",
    """CREATE TABLE sync_results_v2 (
        device_seq INTEGER PRIMARY KEY REFERENCES events(device_seq),
        status TEXT NOT NULL CHECK (status IN ('acknowledged', 'conflict', 'rejected')),
        rule TEXT, exception_id TEXT, reason TEXT, updated_at TEXT NOT NULL) STRICT""",
    """INSERT INTO sync_results_v2 (device_seq, status, reason, updated_at)
        SELECT device_seq, status, reason, updated_at FROM sync_results""",
    """DROP TABLE sync_results""",
    """ALTER TABLE sync_results_v2 RENAME TO sync_results""",
    """CREATE VIEW outbox AS
        SELECT e.device_seq, e.type, COALESCE(r.status, 'pending') AS status, r.rule, r.exception_id, r.reason,
               r.updated_at
        FROM events e LEFT JOIN sync_results r ON r.device_seq = e.device_seq""",
    """CREATE INDEX sync_results_refused ON sync_results(status) WHERE status <> 'acknowledged'""",
    # The server's state of each unit as last pulled, and how many of this device's events it
    # reflects: the unit's projection is this state with the device's later events re-applied.
    """CREATE TABLE pulled_units (
        lpn TEXT PRIMARY KEY, body TEXT NOT NULL, reflected_through INTEGER NOT NULL) STRICT, WITHOUT ROWID""",
    # Photos wait here, by content hash, until they are uploaded ahead of the events naming them.
    """CREATE TABLE photos (
        sha256 TEXT PRIMARY KEY, content BLOB NOT NULL, taken_at TEXT NOT NULL, uploaded_at TEXT) STRICT""",
    # Exceptions the server opened and resolved, pulled for the supervisor's queue.
    """CREATE TABLE exceptions (
        exception_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, lpn TEXT, bin_code TEXT,
        device_id TEXT, event_id TEXT, detail TEXT NOT NULL, resolution TEXT) STRICT""",
    """CREATE INDEX exceptions_status ON exceptions(status)""",
)

_V3 = (
    # Wrong PINs per typed user id (known or not, so that a lockout tells nothing about who exists),
    # and when a lockout ends, in ms of the device's wall clock. A right PIN deletes the row.
    """CREATE TABLE pin_tries (
        user_id TEXT PRIMARY KEY, wrong INTEGER NOT NULL, locked_until_ms INTEGER) STRICT, WITHOUT ROWID""",
)

_V4 = (
    # A voided receipt (domain.codes.UnitState.VOIDED) is no unit for stock, for its RMA line or for
    # a bin: the counting views read the units through counted_units, the one place that says so.
    """CREATE VIEW counted_units AS SELECT * FROM units WHERE state <> 'voided'""",
    """DROP VIEW bin_contents""",
    """DROP VIEW stock""",
    """DROP VIEW rma_receipts""",
    """CREATE VIEW bin_contents AS
        SELECT u.bin_code, b.type AS bin_type, u.lpn, u.sku, u.state FROM counted_units u JOIN bins b ON b.code = u.bin_code""",
    """CREATE VIEW stock AS
        SELECT sku, bin_code, state AS status, COUNT(*) AS qty FROM counted_units GROUP BY sku, bin_code, state""",
    """CREATE VIEW rma_receipts AS
        SELECT rma_id, line_no, COUNT(*) AS received_qty FROM counted_units WHERE rma_id IS NOT NULL
        GROUP BY rma_id, line_no""",
)

_V5 = (
    # A unit's steps (its card, a replay) are found by the LPN inside each event: without this index
    # every look-up reads the device's whole event log.
    """CREATE INDEX events_lpn ON events(json_extract(payload, '$.lpn'))""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "device store: master data, event log, outbox, projections", _V1),
    Migration(2, "sync: conflict outcomes, pulled unit states, photos, exceptions", _V2),
    Migration(3, "PIN lockout: wrong PINs per person", _V3),
    Migration(4, "counting views leave voided receipts out", _V4),
    Migration(5, "events found by their unit's LPN", _V5),
)
LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
    """Apply each missing migration in its own transaction, recording its version with it."""
    for migration in migrations:
        if migration.version <= schema_version(db):
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in migration.statements:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {int(migration.version)}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
