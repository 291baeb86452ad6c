"""Versioned migrations: new files get the latest schema, older ones are upgraded on open,
newer ones are refused and left byte-for-byte untouched."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
import sqlite_utils

from domain.labels import lpn
from local_db import LATEST_VERSION, MIGRATIONS, DeviceStore, Environment, Migration, SchemaTooNew, StoreError
from local_db.schema import migrate, schema_version
from tests.conftest import ASSOCIATE
from tests.integration.test_device_store import plain_line


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_file_gets_the_latest_schema(tmp_path):
    with DeviceStore.open(tmp_path / "new.db") as store:
        assert schema_version(store.db) == LATEST_VERSION == MIGRATIONS[-1].version
        assert {"events", "sync_results", "units", "items"} <= set(store.db.table_names())
        assert {"outbox", "stock", "rma_receipts", "bin_contents"} <= set(store.db.view_names())


def test_versions_are_ordered_and_unique():
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions)) and versions[0] == 1


def test_migrate_upgrades_an_older_file_keeping_its_data(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrate(db, MIGRATIONS[:1])
    db.execute("INSERT INTO meta (key, value) VALUES ('device_id', 'dev-old')")
    db.conn.commit()
    extra = Migration(LATEST_VERSION + 1, "add a column", ("ALTER TABLE meta ADD COLUMN note TEXT",))
    migrate(db, (*MIGRATIONS, extra))
    assert schema_version(db) == LATEST_VERSION + 1
    assert db.execute("SELECT key, value, note FROM meta").fetchall() == [("device_id", "dev-old", None)]
    db.close()


def test_version_2_keeps_every_answer_of_a_version_1_outbox(tmp_path):
    db = sqlite_utils.Database(tmp_path / "v1.db")
    migrate(db, MIGRATIONS[:1])
    for seq in (1, 2, 3):
        db.execute("INSERT INTO events VALUES (?, ?, 'bin_counted', 'h', 'alex', 'associate', 't', 1, 0, '{}')",
                   (seq, f"e{seq}"))
    db.execute("INSERT INTO sync_results VALUES (1, 'acknowledged', NULL, 't'), (2, 'rejected', 'no such bin', 't')")
    db.conn.commit()
    migrate(db)
    assert db.execute("SELECT device_seq, status, reason FROM outbox ORDER BY device_seq").fetchall() == [
        (1, "acknowledged", None), (2, "rejected", "no such bin"), (3, "pending", None)]
    db.close()


def test_version_4_leaves_a_version_3_files_voided_receipts_out_of_its_counts(tmp_path, catalogue):
    path = tmp_path / "v3.db"
    db = sqlite_utils.Database(path)
    migrate(db, MIGRATIONS[:3])
    with DeviceStore(db, str(path), Environment()) as store:
        store.initialize("dev-old")
        store.load_catalogue(catalogue)
        rma, line, _ = plain_line(catalogue)
        for code in (lpn(1), lpn(2)):
            store.receive(ASSOCIATE, lpn=code, sku=line.sku, bin_code="BIN-DCK-A01", rma_id=rma.rma_id)
        store.void_receipt(ASSOCIATE, lpn=lpn(2), reason="double scan")
        assert store.db.execute("SELECT SUM(qty) FROM stock").fetchone()[0] == 2  # what version 3 counted
    with DeviceStore.open(path) as store:
        assert schema_version(store.db) == LATEST_VERSION
        assert store.db.execute("SELECT sku, bin_code, status, qty FROM stock").fetchall() == [
            (line.sku, "BIN-DCK-A01", "received", 1)]
        assert store.db.execute("SELECT received_qty FROM rma_receipts WHERE rma_id = ? AND line_no = ?",
                                (rma.rma_id, line.line_no)).fetchone()[0] == 1
        assert store.db.execute("SELECT lpn FROM bin_contents").fetchall() == [(lpn(1),)]


def test_a_failing_migration_leaves_the_previous_version(tmp_path):
    db = sqlite_utils.Database(tmp_path / "x.db")
    migrate(db)
    broken = Migration(LATEST_VERSION + 1, "broken", ("CREATE TABLE fresh (x)", "CREATE TABLE meta (k)"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, (*MIGRATIONS, broken))
    assert schema_version(db) == LATEST_VERSION
    assert "fresh" not in db.table_names()
    db.close()


def test_a_newer_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "future.db"
    with DeviceStore.open(path) as store:
        store.initialize("dev-1")
        store.db.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = digest(path)
    with pytest.raises(SchemaTooNew, match=f"schema version {LATEST_VERSION + 5}, newer than this returnflow supports"):
        DeviceStore.open(path)
    assert digest(path) == before


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("shopping list\n" * 100)
    with pytest.raises(StoreError, match="not a returnflow device database"):
        DeviceStore.open(path)


def test_opening_an_unversioned_file_upgrades_it(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x)")  # a file from before any migration, user_version 0
    conn.close()
    with DeviceStore.open(path) as store:
        assert schema_version(store.db) == LATEST_VERSION
        assert {"notes", "events", "units"} <= set(store.db.table_names())
