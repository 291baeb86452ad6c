"""The device store: one SQLite file holding master data, the event log, the outbox and projections.

Its reads are local_db.reads, what the sync engine asks of it local_db.sync_side; here are the
commands. Every command validates through domain/, then in ONE transaction assigns the next device_seq,
appends the event (pending in the outbox until the server answers) and updates the projections.
Any error rolls the whole transaction back: the caller gets a typed error and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import sqlite_utils

from domain import (
    RECEIVABLE_RMA_STATES,
    SCHEMA_VERSION,
    Actor,
    BinCounted,
    BinReassigned,
    BlindReceipt,
    Disposition,
    DispositionDecided,
    DispositionReopened,
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
    RmaReceipt,
    UnitEvent,
    UnitGraded,
    UnitMoved,
    UnitQuarantined,
    UnitRegraded,
    UnitStored,
    UnknownEntity,
    build,
    decide,
    next_state,
    require,
    uuid7,
)
from domain.bins import check_reassignment
from domain.bounds import FIRST_YEAR, LAST_YEAR
from domain.demo import DemoCatalogue
from domain.events import validate_device_id
from domain.evolve import check_receiving_bin, check_store_bin, evolve, lpn_is_free, resolution_resumes

from . import master, pins, replica
from .errors import NotInitialized, StoreError
from .projection import PROJECTION_TABLES, load_unit, project
from .reads import Environment
from .sync_side import SyncSide


# The device's clock must read a time the server takes (domain.bounds): years FIRST_YEAR to LAST_YEAR.
_FIRST_MS = int(dt.datetime(FIRST_YEAR, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
_AFTER_LAST_MS = int(dt.datetime(LAST_YEAR + 1, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)


def _date_of(wall_ms: int) -> str:
    try:
        return f"{dt.datetime.fromtimestamp(wall_ms / 1000, dt.UTC):%Y-%m-%d}"
    except (OverflowError, OSError, ValueError):
        return "a date beyond any calendar"


class DeviceStore(SyncSide):
    """The device store: the commands a person's steps become, over its reads (StoreReads) and
    what the sync engine asks of it (SyncSide)."""

    def __init__(self, db: sqlite_utils.Database, path: str, env: Environment) -> None:
        super().__init__(db, path, env)
        last = self._conn.execute("SELECT MAX(hlc) FROM events").fetchone()[0]
        self._clock = HybridClock(env.wall_ms, Hlc.parse(last) if last else None)

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
        self._forget_master_data()
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
            approver = self._person_with_pin(approver_id, approver_pin) if approver_id else None
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
            check_reassignment(self.bin(bin_code), self.bin(move_contents_to) if move_contents_to else None)
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
        with self._write():
            return self._person_with_pin(user_id, pin)

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

    def _append(self, actor: Actor, payload: Payload, *, base_version: int,
                change: tuple[ReturnUnit, ReturnUnit] | None = None) -> Event:
        device_id = self.device_id
        if device_id is None:
            raise NotInitialized(self._path)
        seq = self._conn.execute("SELECT COALESCE(MAX(device_seq), 0) + 1 FROM events").fetchone()[0]
        hlc = self._clock.now()
        wall_ms = self._env.wall_ms()
        if not _FIRST_MS <= wall_ms < _AFTER_LAST_MS:
            # The server refuses a time outside those years: an event stamped so would never leave.
            raise InvalidInput(f"this handheld's clock reads {_date_of(wall_ms)}: set its date and time, then do "
                               "this again")
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

    def _person_with_pin(self, user_id: str, pin: str | None) -> Actor:
        """The person `pin` signs in (or approves as), inside the caller's write transaction; a
        wrong PIN counts with the person's other tries, sign-in and approval alike."""
        now_ms = self._env.wall_ms()
        actor = pins.check_pin(self._conn, user_id, pin, now_ms)
        if actor is not None:
            pins.forget_wrong_pins(self._conn, user_id)
            return actor
        # The command asking for the PIN fails, yet the wrong PIN must count: its transaction is
        # rolled back here, as the refusal would have it, and the try is saved in one of its own.
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        with self._write() as conn:
            refusal = pins.count_wrong_pin(conn, user_id, now_ms, self._env.pin_lockout)
        raise refusal

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
