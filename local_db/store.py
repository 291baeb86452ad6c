"""The device store: one SQLite file holding master data, the event log, the outbox and projections.

Every command validates through domain/, then in ONE transaction assigns the next device_seq,
appends the event (pending in the outbox until the server answers) and updates the projections.
Any error rolls the whole transaction back: the caller gets a typed error and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from domain import (
    RECEIVABLE_RMA_STATES,
    SCHEMA_VERSION,
    Actor,
    Bin,
    BinCounted,
    BinReassigned,
    BinType,
    BlindReceipt,
    Disposition,
    DispositionDecided,
    DispositionReopened,
    DispositionRule,
    Event,
    ExceptionResolved,
    Grade,
    Hlc,
    HybridClock,
    Inspection,
    InspectionRecorded,
    InvalidInput,
    Item,
    Payload,
    Permission,
    PermissionDenied,
    QuarantineReleased,
    ReceiptVoided,
    ReturnUnit,
    Rma,
    RmaReceipt,
    UnitEvent,
    UnitGraded,
    UnitMoved,
    UnitQuarantined,
    UnitRegraded,
    UnitStored,
    UnknownEntity,
    User,
    build,
    decide,
    next_state,
    require,
    uuid7,
)
from domain.demo import DemoCatalogue
from domain.events import validate_device_id
from domain.evolve import check_receiving_bin, check_store_bin, evolve, lpn_is_free, resolution_resumes
from domain.gs1 import normalize_gtin

from . import master, pins, replica
from .errors import NotInitialized, SchemaTooNew, StoreError
from .projection import PROJECTION_TABLES, load_unit, project
from .schema import LATEST_VERSION, migrate, schema_version


def _system_wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Environment:
    """The device's side effects, passed in so that tests can drive time and ids."""

    wall_ms: Callable[[], int] = _system_wall_ms
    random_bytes: Callable[[int], bytes] = os.urandom
    # How long a person stays locked out after too many wrong PINs (domain.pins.MAX_WRONG_PINS).
    pin_lockout: dt.timedelta = dt.timedelta(minutes=5)


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


class DeviceStore:
    def __init__(self, db: sqlite_utils.Database, path: str, env: Environment) -> None:
        self._db = db
        self._conn = db.conn
        self._path = path
        self._env = env
        last = self._conn.execute("SELECT MAX(hlc) FROM events").fetchone()[0]
        self._clock = HybridClock(env.wall_ms, Hlc.parse(last) if last else None)
        # Master data read on every command, parsed once; loading master data clears them.
        self._rules: list[DispositionRule] | None = None
        self._device_id: str | None = None
        self._users: dict[str, User] = {}
        # PRAGMA data_version moves when another connection (the sync worker's) commits: master
        # data may have changed under the caches.
        self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]

    @classmethod
    def open(cls, path: str | Path, *, env: Environment | None = None) -> DeviceStore:
        """Open (creating or upgrading) a device database; a newer schema is refused untouched."""
        path = Path(path)
        if path.exists():
            _refuse_newer_schema(path)
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

    def __enter__(self) -> DeviceStore:
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

    # --- set-up -----------------------------------------------------------------------------

    def initialize(self, device_id: str) -> None:
        """Bind this database to a device id, once."""
        validate_device_id(device_id)
        with self._write() as conn:
            current = self.device_id
            if current is not None and current != device_id:
                raise StoreError(f"{self._path} already belongs to device {current}")
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('device_id', ?)", (device_id,))

    def load_catalogue(self, catalogue: DemoCatalogue) -> None:
        """Write a whole master-data set in one transaction."""
        self._rules, self._users = None, {}
        with self._write():
            master.upsert_categories(self._db, catalogue.categories)
            master.upsert_codes(self._db, catalogue.reason_codes, catalogue.condition_codes)
            master.replace_rules(self._db, catalogue.rules)
            master.upsert_items(self._db, catalogue.items)
            master.upsert_bins(self._db, catalogue.bins)
            master.upsert_users(self._db, catalogue.users)
            master.upsert_rmas(self._db, catalogue.rmas)

    def load_items(self, items: Sequence[Item]) -> int:
        with self._write():
            return master.upsert_items(self._db, items)

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

    # --- commands ---------------------------------------------------------------------------

    def receive(
        self,
        actor: Actor,
        *,
        lpn: str,
        sku: str,
        bin_code: str,
        rma_id: str | None = None,
        line_no: int | None = None,
        reason_code: str | None = None,
        serial: str | None = None,
        lot: str | None = None,
        expiry: dt.date | None = None,
        package_ref: str | None = None,
    ) -> Event:
        """Receive one unit, against an RMA line or (without rma_id) as a blind return."""
        with self._write():
            self._check_actor(actor, Permission.RECEIVE)
            name, _, serial_tracked, lot_tracked = self._item_facts(sku)
            check_receiving_bin(self.bin(bin_code))
            if not lpn_is_free(load_unit(self._conn, lpn)):
                raise InvalidInput(f"license plate {lpn} is already on another unit: use a new LPN label")
            if serial_tracked and not serial:
                raise InvalidInput(f"{name} is serial-tracked: scan or type its serial number")
            if lot_tracked and not (lot and expiry):
                raise InvalidInput(f"{name} is lot-tracked: scan its lot and expiry")
            common = dict(lpn=lpn, sku=sku, bin_code=bin_code, serial=serial, lot=lot, expiry=expiry)
            if rma_id is None:
                if reason_code is None:
                    raise InvalidInput("a blind return needs a reason code")
                self._known_code("reason_codes", reason_code)
                payload: Payload = build(BlindReceipt, reason_code=reason_code, package_ref=package_ref, **common)
            else:
                line = self._receivable_line(rma_id, line_no, sku)
                payload = build(RmaReceipt, rma_id=rma_id, line_no=line, **common)
            return self._append(actor, payload, base_version=0)

    def inspect(
        self,
        actor: Actor,
        *,
        lpn: str,
        answers: Mapping[str, bool],
        condition_codes: Sequence[str] = (),
        notes: str = "",
        photo_hashes: Sequence[str] = (),
    ) -> Event:
        with self._write():
            self._check_actor(actor, Permission.INSPECT)
            unit = self.unit(lpn)
            questions = self._checklist(self._item_facts(unit.sku)[1])
            if set(answers) != questions:
                missing, extra = sorted(questions - set(answers)), sorted(set(answers) - questions)
                raise InvalidInput(f"checklist incomplete: missing {missing or 'none'}, not on the checklist {extra or 'none'}")
            for code in condition_codes:
                self._known_code("condition_codes", code)
            inspection = build(Inspection, answers=dict(answers), condition_codes=tuple(condition_codes), notes=notes,
                               photo_hashes=tuple(photo_hashes))
            return self._unit_event(actor, unit, build(InspectionRecorded, lpn=lpn, inspection=inspection))

    def grade(self, actor: Actor, *, lpn: str, grade: Grade) -> Event:
        with self._write():
            self._check_actor(actor, Permission.GRADE)
            return self._unit_event(actor, self.unit(lpn), build(UnitGraded, lpn=lpn, grade=grade))

    def decide_disposition(
        self,
        actor: Actor,
        *,
        lpn: str,
        disposition: Disposition,
        override_reason: str | None = None,
        approver_id: str | None = None,
        approver_pin: str | None = None,
    ) -> Event:
        """Record the disposition; another than suggested needs a reason and maybe a supervisor's PIN."""
        with self._write():
            self._check_actor(actor, Permission.DECIDE_DISPOSITION)
            unit = self.unit(lpn)
            if unit.grade is None:
                raise InvalidInput(f"unit {lpn} has no grade yet: grade it first")
            approver = self._approver(approver_id, approver_pin) if approver_id else None
            decision = decide(
                self.rules(),
                category=self._item_facts(unit.sku)[1],
                grade=unit.grade,
                reason_code=unit.reason_code,
                condition_codes=unit.condition_codes,
                chosen=disposition,
                override_reason=override_reason,
                approver=approver,
            )
            return self._unit_event(actor, unit, build(DispositionDecided, lpn=lpn, decision=decision))

    def store(self, actor: Actor, *, lpn: str, bin_code: str) -> Event:
        with self._write():
            self._check_actor(actor, Permission.STORE)
            unit = self.unit(lpn)
            payload = build(UnitStored, lpn=lpn, bin_code=bin_code)
            after = evolve(unit, payload)  # the state check comes before the bin check: it is the first thing wrong
            check_store_bin(unit, self.bin(bin_code))
            return self._append(actor, payload, base_version=unit.server_version, change=(unit, after))

    def quarantine(self, actor: Actor, *, lpn: str, reason: str) -> Event:
        with self._write():
            self._check_actor(actor, Permission.QUARANTINE)
            return self._unit_event(actor, self.unit(lpn), build(UnitQuarantined, lpn=lpn, reason=reason))

    def release(self, actor: Actor, *, lpn: str, note: str) -> Event:
        with self._write():
            self._check_actor(actor, Permission.RELEASE_QUARANTINE)
            return self._unit_event(actor, self.unit(lpn), build(QuarantineReleased, lpn=lpn, note=note))

    # --- corrections: a unit's last step undone by a new event (domain.evolve.correction_for) ---

    def void_receipt(self, actor: Actor, *, lpn: str, reason: str) -> Event:
        """Undo a receipt (wrong RMA, wrong item, double scan) while nothing else was done to the unit;
        its LPN may then be received again."""
        with self._write():
            self._check_actor(actor, Permission.RECEIVE)
            return self._unit_event(actor, self.unit(lpn), build(ReceiptVoided, lpn=lpn, reason=reason))

    def regrade(self, actor: Actor, *, lpn: str, grade: Grade, reason: str) -> Event:
        """Give a graded unit, or a dispositioned one not yet stored, another grade; a disposition
        is dropped and decided again, since the suggestion depends on the grade."""
        with self._write():
            self._check_actor(actor, Permission.GRADE)
            unit = self.unit(lpn)
            next_state(unit, UnitEvent.REGRADE)  # the state first: a unit not yet graded has no grade to correct
            payload = build(UnitRegraded, lpn=lpn, grade=grade, previous_grade=unit.grade, reason=reason)
            return self._unit_event(actor, unit, payload)

    def reopen_disposition(self, actor: Actor, *, lpn: str, reason: str) -> Event:
        """Withdraw a disposition before storage: the unit waits to be decided again (decide_disposition)."""
        with self._write():
            self._check_actor(actor, Permission.DECIDE_DISPOSITION)
            unit = self.unit(lpn)
            next_state(unit, UnitEvent.REOPEN)
            payload = build(DispositionReopened, lpn=lpn, previous_disposition=unit.disposition, reason=reason)
            return self._unit_event(actor, unit, payload)

    def move(self, actor: Actor, *, lpn: str, bin_code: str) -> Event:
        """Move a stored unit (or a quarantined one in a quarantine bin) to another bin that fits it."""
        with self._write():
            self._check_actor(actor, Permission.STORE)
            unit = self.unit(lpn)
            payload = build(UnitMoved, lpn=lpn, bin_code=bin_code)
            after = evolve(unit, payload)  # the state first, as for store
            if bin_code == unit.bin_code:
                raise InvalidInput(f"unit {lpn} is in {bin_code} already: scan the bin it goes to")
            check_store_bin(unit, self.bin(bin_code))
            return self._append(actor, payload, base_version=unit.server_version, change=(unit, after))

    def reassign_bin(
        self, actor: Actor, *, bin_code: str, purpose: str, zone: str, owner: str, move_contents_to: str | None = None
    ) -> Event:
        with self._write():
            self._check_actor(actor, Permission.REASSIGN_BIN)
            if self.bin(bin_code).type is not BinType.QUARANTINE:
                raise InvalidInput(f"{bin_code} is not a quarantine bin: only quarantine bins are reassigned")
            if move_contents_to is not None:
                if move_contents_to == bin_code:
                    raise InvalidInput("move the contents to a different bin")
                if self.bin(move_contents_to).type is not BinType.QUARANTINE:
                    raise InvalidInput(f"{move_contents_to} is not a quarantine bin: quarantined units stay in quarantine")
            self.user(owner)
            payload = build(BinReassigned, bin_code=bin_code, purpose=purpose, zone=zone, owner=owner,
                            move_contents_to=move_contents_to)
            return self._append(actor, payload, base_version=0)

    def count_bin(self, actor: Actor, *, bin_code: str, counts: Mapping[str, int]) -> Event:
        with self._write():
            self._check_actor(actor, Permission.COUNT_BIN)
            self.bin(bin_code)
            for sku in counts:
                self._item_facts(sku)
            return self._append(actor, build(BinCounted, bin_code=bin_code, counts=dict(counts)), base_version=0)

    def resolve_exception(
        self, actor: Actor, *, exception_id: str, note: str, grade: Grade | None = None,
        disposition: Disposition | None = None,
    ) -> Event:
        """A supervisor settles an exception on the device: a dispute or an override waiting for
        approval resumes its disputed unit with the chosen grade or disposition; any other exception
        is closed with the note. A choice that cannot be applied is refused, never dropped."""
        with self._write() as conn:
            self._check_actor(actor, Permission.RESOLVE_EXCEPTION)
            row = conn.execute("SELECT lpn, status, kind FROM exceptions WHERE exception_id = ?",
                               (exception_id,)).fetchone()
            if row is None:
                raise UnknownEntity("exception", exception_id)
            lpn, status, kind = row
            if status != "open":
                raise InvalidInput(f"exception {exception_id} is already resolved")
            unit = load_unit(conn, lpn) if lpn else None
            resumes = resolution_resumes(kind, unit, grade=grade, disposition=disposition)
            conn.execute("UPDATE exceptions SET status = 'resolved' WHERE exception_id = ?", (exception_id,))
            if resumes:
                payload = build(ExceptionResolved, exception_id=exception_id, lpn=unit.lpn, grade=grade,
                                disposition=disposition, note=note)
                return self._unit_event(actor, unit, payload)
            payload = build(ExceptionResolved, exception_id=exception_id, note=note)
            return self._append(actor, payload, base_version=0)

    def sign_in(self, user_id: str, pin: str) -> Actor:
        """Check a user's PIN offline, against the users this device has synced. Raises SignInFailed
        for a wrong PIN or an unknown user alike, PinMalformed for what is not 4 to 8 digits (not
        counted) and SignInLocked once too many wrong PINs lock the person out (local_db.pins)."""
        now_ms = self._env.wall_ms()
        with self._write() as conn:
            actor = pins.check_pin(conn, user_id, pin, now_ms)
            if actor is not None:
                pins.forget_wrong_pins(conn, user_id)
                return actor
            refusal = pins.count_wrong_pin(conn, user_id, now_ms, self._env.pin_lockout)
        raise refusal

    # --- sync -------------------------------------------------------------------------------

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
                self._rules, self._users = None, {}

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

    # --- maintenance ------------------------------------------------------------------------

    def rebuild_projections(self) -> None:
        """Empty every projection and replay the whole event log into it, then lay each pulled unit
        state under this device's later events again, in one transaction."""
        with self._write() as conn:
            events = self.events()  # inside the transaction: no event may slip in between
            for table in PROJECTION_TABLES:
                conn.execute(f"DELETE FROM {table}")
            for event in events:
                project(conn, event)
            refused = [r[0] for r in conn.execute("SELECT device_seq FROM sync_results WHERE status = 'rejected'")]
            replica.rederive_units(conn, {r[0] for r in conn.execute("SELECT lpn FROM pulled_units")})
            replica.undo_rejected(conn, refused)

    # --- internals --------------------------------------------------------------------------

    def _now(self) -> str:
        return dt.datetime.fromtimestamp(self._env.wall_ms() / 1000, dt.UTC).isoformat()

    def _drop_stale_caches(self) -> None:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self._rules, self._users = None, {}

    def _append(self, actor: Actor, payload: Payload, *, base_version: int,
                change: tuple[ReturnUnit, ReturnUnit] | None = None) -> Event:
        device_id = self.device_id
        if device_id is None:
            raise NotInitialized(self._path)
        seq = self._conn.execute("SELECT COALESCE(MAX(device_seq), 0) + 1 FROM events").fetchone()[0]
        hlc = self._clock.now()
        wall_ms = self._env.wall_ms()
        # Every field is made here from validated parts: constructed without validating twice.
        event = Event.model_construct(
            event_id=uuid7(wall_ms, self._env.random_bytes(10)),
            device_id=device_id,
            device_seq=seq,
            hlc=str(hlc),
            actor=actor.user_id,
            role=actor.role,
            occurred_at=dt.datetime.fromtimestamp(wall_ms / 1000, dt.UTC),
            type=payload.type,
            schema_version=SCHEMA_VERSION,
            base_version=base_version,
            payload=payload,
        )
        self._conn.execute(
            """INSERT INTO events (device_seq, event_id, type, hlc, actor, role, occurred_at, schema_version,
               base_version, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (seq, str(event.event_id), event.type.value, event.hlc, event.actor, event.role.value,
             event.occurred_at.isoformat(), event.schema_version, base_version, payload.model_dump_json()),
        )
        project(self._conn, event, change)
        return event

    def _unit_event(self, actor: Actor, unit: ReturnUnit, payload: Payload) -> Event:
        after = evolve(unit, payload)  # raises IllegalTransition before anything is written
        return self._append(actor, payload, base_version=unit.server_version, change=(unit, after))

    def _check_actor(self, actor: Actor, permission: Permission) -> None:
        user = self._cached_user(actor.user_id)
        if not user.active or user.role is not actor.role:
            raise PermissionDenied(actor.user_id, actor.role.value, permission.value)
        require(actor, permission)

    def _approver(self, user_id: str, pin: str | None) -> Actor:
        """The approving supervisor, by PIN; wrong PINs count with the person's sign-in tries."""
        now_ms = self._env.wall_ms()
        actor = pins.check_pin(self._conn, user_id, pin, now_ms)
        if actor is not None:
            pins.forget_wrong_pins(self._conn, user_id)
            return actor
        # The command asking for approval fails, yet the wrong PIN must count: its transaction is
        # rolled back here, as the refusal would have it, and the try is saved in one of its own.
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        with self._write() as conn:
            refusal = pins.count_wrong_pin(conn, user_id, now_ms, self._env.pin_lockout)
        raise refusal

    def _known_code(self, table: str, code: str) -> None:
        if self._conn.execute(f"SELECT 1 FROM {table} WHERE code = ?", (code,)).fetchone() is None:
            raise UnknownEntity(table.removesuffix("s").replace("_", " "), code)

    def _checklist(self, category: str) -> set[str]:
        row = self._conn.execute("SELECT checklist FROM categories WHERE code = ?", (category,)).fetchone()
        if row is None:
            raise UnknownEntity("category", category)
        return {q["question_id"] for q in json.loads(row[0])}

    def _receivable_line(self, rma_id: str, line_no: int | None, sku: str) -> int:
        row = self._conn.execute("SELECT state FROM rmas WHERE rma_id = ?", (rma_id,)).fetchone()
        if row is None:
            raise UnknownEntity("RMA", rma_id)
        if row[0] not in RECEIVABLE_RMA_STATES:
            raise InvalidInput(f"RMA {rma_id} is {row[0]}: it cannot be received; start a blind return")
        lines = [(n, line_sku) for n, line_sku in self._conn.execute(
            "SELECT line_no, sku FROM rma_lines WHERE rma_id = ? ORDER BY line_no", (rma_id,))
            if line_no is None or n == line_no]
        if not lines:
            raise UnknownEntity(f"line of RMA {rma_id}", str(line_no))
        matching = [n for n, line_sku in lines if line_sku == sku]
        if not matching:
            raise InvalidInput(f"item {sku} is not on RMA {rma_id}{f' line {line_no}' if line_no else ''}: "
                               "receive it as an unexpected item (blind return)")
        return matching[0]
