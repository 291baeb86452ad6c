"""The device store's command API on a real SQLite file: what each command writes, and that a
refused command writes nothing at all."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat

import pytest

from domain import (
    ApprovalRequired,
    BinTypeMismatch,
    Disposition,
    DomainError,
    Grade,
    IllegalTransition,
    InvalidInput,
    OverrideReasonRequired,
    PermissionDenied,
    RmaReceipt,
    RmaState,
    SignInFailed,
    UnitState,
    UnknownEntity,
)
from domain.evolve import evolve, received_unit
from domain.labels import lpn
from local_db import DeviceStore, StoreError
from domain.demo import demo_catalogue
from tests.conftest import ASSOCIATE, NOW, SUPERVISOR, snapshot, stepping_environment

LPN1, LPN2 = lpn(1), lpn(2)


def plain_line(catalogue, state=RmaState.APPROVED):
    """An RMA line in `state` whose item needs no serial or lot."""
    items = {i.sku: i for i in catalogue.items}
    for rma in catalogue.rmas:
        for line in rma.lines:
            item = items[line.sku]
            if rma.state is state and not (item.serial_tracked or item.lot_tracked):
                return rma, line, item
    raise LookupError(state)


def item_in(catalogue, category):
    return next(i for i in catalogue.items if i.category == category)


def receive(store, catalogue, code=LPN1):
    rma, line, _ = plain_line(catalogue)
    return store.receive(ASSOCIATE, lpn=code, sku=line.sku, bin_code="BIN-DCK-A01", rma_id=rma.rma_id)


def answers(store, code):
    category = store.item(store.unit(code).sku).category
    return {q: True for q in store._checklist(category)}


def to_state(store, catalogue, state, code=LPN1, grade=Grade.A):
    receive(store, catalogue, code)
    steps = [
        (UnitState.INSPECTED, lambda: store.inspect(ASSOCIATE, lpn=code, answers=answers(store, code))),
        (UnitState.GRADED, lambda: store.grade(ASSOCIATE, lpn=code, grade=grade)),
        (UnitState.DISPOSITIONED, lambda: store.decide_disposition(ASSOCIATE, lpn=code, disposition=Disposition.RESTOCK)),
        (UnitState.STORED, lambda: store.store(ASSOCIATE, lpn=code, bin_code="BIN-RST-R01")),
    ]
    for reached, step in steps:
        if store.unit(code).state is state:
            break
        step()
        assert store.unit(code).state is reached
    return store.unit(code)


def test_database_is_durable_wal_with_foreign_keys(store):
    conn = store.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_only_the_devices_own_user_can_read_its_database_and_wal(tmp_path, catalogue):
    path = tmp_path / "device.db"
    path.touch(mode=0o644)  # a database from before, readable by every user of the machine
    path.chmod(0o644)
    with DeviceStore.open(path) as store:
        store.initialize("hh-1")
        store.load_catalogue(catalogue)
        files = [path, tmp_path / "device.db-wal", tmp_path / "device.db-shm"]
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
    fresh = tmp_path / "fresh.db"
    with DeviceStore.open(fresh):
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


@pytest.mark.parametrize("clock", [dt.datetime(2150, 1, 1, tzinfo=dt.UTC), dt.datetime(1969, 12, 31, tzinfo=dt.UTC)])
def test_a_clock_outside_the_years_the_server_takes_refuses_the_step_in_words_and_writes_nothing(
        tmp_path, catalogue, clock):
    with DeviceStore.open(tmp_path / "device.db", env=stepping_environment(start=clock)) as store:
        store.initialize("hh-1")
        store.load_catalogue(catalogue)
        before = snapshot(store)
        with pytest.raises(InvalidInput, match=f"clock reads {clock:%Y-%m-%d}: set its date and time"):
            receive(store, catalogue)
        assert snapshot(store) == before


def test_normal_unit_goes_receive_to_stored_with_one_event_per_step(store, catalogue):
    unit = to_state(store, catalogue, UnitState.STORED)
    assert (unit.state, unit.grade, unit.disposition, unit.bin_code) == (
        UnitState.STORED, Grade.A, Disposition.RESTOCK, "BIN-RST-R01")
    events = store.events()
    assert [e.device_seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.type.value for e in events] == [
        "rma_receipt", "inspection_recorded", "unit_graded", "disposition_decided", "unit_stored"]
    assert all(e.device_id == "dev-test-1" and e.actor == "alex" for e in events)
    assert [e.hlc for e in events] == sorted(e.hlc for e in events)
    assert store.summary().outbox == {"pending": 5}
    stock = store.db.execute("SELECT sku, bin_code, status, qty FROM stock").fetchall()
    assert stock == [(unit.sku, "BIN-RST-R01", "stored", 1)]


def test_rma_receipt_counts_against_its_line(store, catalogue):
    rma, line, _ = plain_line(catalogue)
    for n in (1, 2):
        store.receive(ASSOCIATE, lpn=lpn(n), sku=line.sku, bin_code="BIN-DCK-A01", rma_id=rma.rma_id)
    received = store.db.execute("SELECT received_qty FROM rma_receipts WHERE rma_id = ? AND line_no = ?",
                                (rma.rma_id, line.line_no)).fetchone()[0]
    assert received == 2
    assert store.unit(lpn(1)).reason_code == line.reason_code


def test_blind_receipt_records_reason_and_package(store, catalogue):
    item = item_in(catalogue, "home")
    event = store.receive(ASSOCIATE, lpn=LPN1, sku=item.sku, bin_code="BIN-DCK-A01", reason_code="wrong_item",
                          package_ref="1Z999AA10123456784")
    assert event.type.value == "blind_receipt"
    unit = store.unit(LPN1)
    assert (unit.rma_id, unit.reason_code) == (None, "wrong_item")


def test_serial_and_lot_tracked_items_keep_their_identifiers(store, catalogue):
    phone = item_in(catalogue, "electronics")
    serum = item_in(catalogue, "health_beauty")
    store.receive(ASSOCIATE, lpn=LPN1, sku=phone.sku, bin_code="BIN-DCK-A01", reason_code="defective", serial="SN-0042")
    store.receive(ASSOCIATE, lpn=LPN2, sku=serum.sku, bin_code="BIN-INS-B01", reason_code="unknown", lot="L7",
                  expiry=dt.date(2027, 3, 31))
    assert store.unit(LPN1).serial == "SN-0042"
    assert (store.unit(LPN2).lot, store.unit(LPN2).expiry) == ("L7", dt.date(2027, 3, 31))


# Each refused command: the error type the caller gets and what it says. Nothing may be written.
def _refusals(catalogue):
    rma, line, item = plain_line(catalogue)
    requested, requested_line, _ = plain_line(catalogue, RmaState.REQUESTED)
    phone = item_in(catalogue, "electronics")
    serum = item_in(catalogue, "health_beauty")
    other_sku = next(i.sku for i in catalogue.items if i.sku != line.sku and not i.serial_tracked and not i.lot_tracked)
    dock = "BIN-DCK-A01"
    return {
        "unknown item": (UnknownEntity, "unknown item: NOPE-1",
                         lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku="NOPE-1", bin_code=dock, reason_code="unknown")),
        "bad LPN check digit": (InvalidInput, "check digit wrong",
                                lambda s: s.receive(ASSOCIATE, lpn="LPN-0000000029", sku=item.sku, bin_code=dock,
                                                    reason_code="unknown")),
        "LPN already used": (InvalidInput, "already on another unit",
                             lambda s: s.receive(ASSOCIATE, lpn=LPN1, sku=item.sku, bin_code=dock, reason_code="unknown")),
        "receive into a restock bin": (BinTypeMismatch, "needs a dock or inspection bin",
                                       lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku=item.sku, bin_code="BIN-RST-R01",
                                                           reason_code="unknown")),
        "RMA not receivable": (InvalidInput, "is requested: it cannot be received",
                               lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku=requested_line.sku, bin_code=dock,
                                                   rma_id=requested.rma_id)),
        "unknown RMA": (UnknownEntity, "unknown RMA: RMA-99999999",
                        lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku=line.sku, bin_code=dock, rma_id="RMA-99999999")),
        "line not on the RMA": (UnknownEntity, f"unknown line of RMA {rma.rma_id}: 99",
                                lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku=line.sku, bin_code=dock, rma_id=rma.rma_id,
                                                    line_no=99)),
        "item not on the RMA": (InvalidInput, "is not on RMA",
                                lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku=other_sku, bin_code=dock, rma_id=rma.rma_id)),
        "serial missing": (InvalidInput, "serial-tracked",
                           lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku=phone.sku, bin_code=dock, reason_code="defective")),
        "lot missing": (InvalidInput, "lot-tracked",
                        lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku=serum.sku, bin_code=dock, reason_code="unknown",
                                            lot="L1")),
        "blind without reason": (InvalidInput, "needs a reason code",
                                 lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku=item.sku, bin_code=dock)),
        "unknown reason": (UnknownEntity, "unknown reason code: bored",
                           lambda s: s.receive(ASSOCIATE, lpn=LPN2, sku=item.sku, bin_code=dock, reason_code="bored")),
        "unknown unit": (UnknownEntity, "unknown unit",
                         lambda s: s.grade(ASSOCIATE, lpn=LPN2, grade=Grade.A)),
        "grade before inspection": (IllegalTransition, "cannot grade",
                                    lambda s: s.grade(ASSOCIATE, lpn=LPN1, grade=Grade.A)),
        "incomplete checklist": (InvalidInput, "checklist incomplete",
                                 lambda s: s.inspect(ASSOCIATE, lpn=LPN1, answers={"packaging_intact": True})),
        "unknown condition": (UnknownEntity, "unknown condition code: melted",
                              lambda s: s.inspect(ASSOCIATE, lpn=LPN1, answers=answers(s, LPN1),
                                                  condition_codes=["melted"])),
        "store before disposition": (IllegalTransition, "cannot store",
                                     lambda s: s.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-RST-R01")),
        "associate releases": (PermissionDenied, "not allowed to release quarantine",
                               lambda s: s.release(ASSOCIATE, lpn=LPN1, note="ok")),
        "associate counts a bin": (PermissionDenied, "not allowed to count bin",
                                   lambda s: s.count_bin(ASSOCIATE, bin_code="BIN-RST-R01", counts={})),
        "release a unit not on hold": (IllegalTransition, "cannot release",
                                       lambda s: s.release(SUPERVISOR, lpn=LPN1, note="ok")),
        "reassign a restock bin": (InvalidInput, "not a quarantine bin",
                                   lambda s: s.reassign_bin(SUPERVISOR, bin_code="BIN-RST-R01", purpose="x", zone="Q",
                                                            owner="sam")),
        "count an unknown item": (UnknownEntity, "unknown item",
                                  lambda s: s.count_bin(SUPERVISOR, bin_code="BIN-RST-R01", counts={"NOPE-1": 1})),
        "actor with a role they do not have": (PermissionDenied, "alex \\(supervisor\\)",
                                               lambda s: s.count_bin(ASSOCIATE.model_copy(update={"role": SUPERVISOR.role}),
                                                                     bin_code="BIN-RST-R01", counts={})),
    }


@pytest.mark.parametrize("case", sorted(_refusals(demo_catalogue(now=NOW))))
def test_refused_command_raises_typed_error_and_writes_nothing(store, catalogue, case):
    receive(store, catalogue, LPN1)
    error, message, command = _refusals(catalogue)[case]
    before = snapshot(store)
    with pytest.raises(error, match=message):
        command(store)
    assert snapshot(store) == before


def test_storing_in_the_wrong_bin_type_names_the_right_one(store, catalogue):
    to_state(store, catalogue, UnitState.DISPOSITIONED)
    before = snapshot(store)
    with pytest.raises(BinTypeMismatch, match="BIN-SCR-S01 is a scrap bin: disposition restock needs a restock bin") as err:
        store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-SCR-S01")
    assert err.value.required == "restock"
    assert snapshot(store) == before


def test_override_needs_reason_then_supervisor_pin(store, catalogue):
    to_state(store, catalogue, UnitState.GRADED, grade=Grade.D)  # grade D suggests scrap, approval needed
    with pytest.raises(OverrideReasonRequired):
        store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE)
    with pytest.raises(ApprovalRequired):
        store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE, override_reason="works fine")
    with pytest.raises(SignInFailed, match="wrong user or PIN"):
        store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE, override_reason="works fine",
                                 approver_id="sam", approver_pin="0000")
    with pytest.raises(PermissionDenied, match="alex \\(associate\\) is not allowed to approve override"):
        store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE, override_reason="works fine",
                                 approver_id="alex", approver_pin="2468")
    assert len(store.events()) == 3
    event = store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE,
                                     override_reason="works fine", approver_id="sam", approver_pin="1357")
    decision = event.payload.decision
    assert (decision.disposition, decision.suggested, decision.approved_by) == (
        Disposition.LIQUIDATE, Disposition.SCRAP, "sam")
    store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-LIQ-L01")
    assert store.unit(LPN1).state is UnitState.STORED


def test_quarantine_put_away_and_supervisor_release(store, catalogue):
    to_state(store, catalogue, UnitState.GRADED)
    store.quarantine(ASSOCIATE, lpn=LPN1, reason="serial does not match")
    with pytest.raises(BinTypeMismatch, match="needs a quarantine bin"):
        store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-RST-R01")
    store.store(ASSOCIATE, lpn=LPN1, bin_code="BIN-QUA-Q01")
    unit = store.unit(LPN1)
    assert (unit.state, unit.held_from, unit.bin_code) == (UnitState.QUARANTINED, UnitState.GRADED, "BIN-QUA-Q01")
    store.release(SUPERVISOR, lpn=LPN1, note="serial verified with vendor")
    assert store.unit(LPN1).state is UnitState.GRADED
    stock = store.db.execute("SELECT bin_code, status, qty FROM stock").fetchall()
    assert stock == [("BIN-QUA-Q01", "graded", 1)]


def test_grade_x_decision_puts_the_unit_on_hold(store, catalogue):
    to_state(store, catalogue, UnitState.GRADED, grade=Grade.X)
    store.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.QUARANTINE)
    unit = store.unit(LPN1)
    assert (unit.state, unit.disposition, unit.held_from) == (UnitState.QUARANTINED, Disposition.QUARANTINE, UnitState.GRADED)


def test_reassigning_a_quarantine_bin_moves_its_contents(store, catalogue):
    receive(store, catalogue, LPN1)
    receive(store, catalogue, LPN2)
    for code in (LPN1, LPN2):
        store.quarantine(ASSOCIATE, lpn=code, reason="hazmat label")
        store.store(ASSOCIATE, lpn=code, bin_code="BIN-QUA-Q01")
    store.reassign_bin(SUPERVISOR, bin_code="BIN-QUA-Q01", purpose="hazmat review", zone="Q", owner="sam",
                       move_contents_to="BIN-QUA-Q02")
    assert {store.unit(c).bin_code for c in (LPN1, LPN2)} == {"BIN-QUA-Q02"}
    assert store.bin("BIN-QUA-Q01").purpose == "hazmat review"
    stock = store.db.execute("SELECT bin_code, status, qty FROM stock").fetchall()
    assert stock == [("BIN-QUA-Q02", "quarantined", 2)]


def test_bin_count_records_counted_against_expected(store, catalogue):
    unit = to_state(store, catalogue, UnitState.STORED)
    other = next(i.sku for i in catalogue.items if i.sku != unit.sku)
    event = store.count_bin(SUPERVISOR, bin_code="BIN-RST-R01", counts={unit.sku: 0, other: 2})
    rows = store.db.execute("SELECT sku, counted, expected FROM bin_counts WHERE device_seq = ? ORDER BY sku",
                            (event.device_seq,)).fetchall()
    assert sorted(rows) == sorted([(unit.sku, 0, 1), (other, 2, 0)])


def test_a_failure_inside_the_transaction_rolls_everything_back(store, catalogue):
    receive(store, catalogue, LPN1)
    store.db.execute("CREATE TRIGGER refuse_unit_update BEFORE UPDATE ON units BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    before = snapshot(store)
    with pytest.raises(StoreError, match="nothing was saved"):
        store.inspect(ASSOCIATE, lpn=LPN1, answers=answers(store, LPN1))
    assert snapshot(store) == before
    assert [e.device_seq for e in store.events()] == [1]


def test_clock_stays_monotonic_across_reopen_when_the_wall_clock_goes_back(tmp_path, catalogue):
    path = tmp_path / "device.db"
    with DeviceStore.open(path, env=stepping_environment(dt.datetime(2026, 11, 26, tzinfo=dt.UTC))) as first:
        first.initialize("dev-1")
        first.load_catalogue(catalogue)
        receive(first, catalogue, LPN1)
        last = first.events()[-1].hlc
    earlier = stepping_environment(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    with DeviceStore.open(path, env=earlier) as second:
        receive(second, catalogue, LPN2)
        assert second.events()[-1].hlc > last


def test_commands_need_an_initialised_device(tmp_path, catalogue):
    with DeviceStore.open(tmp_path / "blank.db") as blank:
        blank.load_catalogue(catalogue)
        with pytest.raises(StoreError, match="returnflow device init"):
            receive(blank, catalogue)
        assert blank.events() == []


def test_a_device_database_cannot_change_owner(store):
    with pytest.raises(StoreError, match="already belongs to device dev-test-1"):
        store.initialize("dev-other")


def test_projections_rebuilt_from_the_log_equal_the_live_ones(store, catalogue):
    to_state(store, catalogue, UnitState.STORED, LPN1)
    receive(store, catalogue, LPN2)
    store.quarantine(ASSOCIATE, lpn=LPN2, reason="odd smell")
    from local_db.projection import PROJECTION_TABLES

    live = snapshot(store, PROJECTION_TABLES)
    store.rebuild_projections()
    assert snapshot(store, PROJECTION_TABLES) == live


def test_each_projected_unit_equals_the_domain_fold_of_its_events(store, catalogue):
    """Commands write only the columns an event changes; the row must still hold every field the
    domain's own fold of the unit's events gives, conditions, hold and bin included."""
    to_state(store, catalogue, UnitState.STORED, LPN1)
    to_state(store, catalogue, UnitState.INSPECTED, LPN2)
    store.grade(ASSOCIATE, lpn=LPN2, grade=Grade.C)
    store.quarantine(ASSOCIATE, lpn=LPN2, reason="odd smell")
    store.store(ASSOCIATE, lpn=LPN2, bin_code="BIN-QUA-Q01")
    store.release(SUPERVISOR, lpn=LPN2, note="smell gone")
    code = store.db.execute("SELECT code FROM condition_codes ORDER BY code").fetchone()[0]
    receive(store, catalogue, lpn(3))
    store.inspect(ASSOCIATE, lpn=lpn(3), answers=answers(store, lpn(3)), condition_codes=[code])
    folded = {}
    for event in store.events():
        payload = event.payload
        if isinstance(payload, RmaReceipt):
            reason = next(line.reason_code for line in store.rma(payload.rma_id).lines if line.line_no == payload.line_no)
            folded[payload.lpn] = received_unit(payload, line_reason=reason)
        else:
            folded[payload.lpn] = evolve(folded[payload.lpn], payload)
    assert folded[lpn(3)].condition_codes == (code,)
    assert {code: store.unit(code) for code in folded} == folded


def test_every_domain_error_is_a_returnflow_error():
    from domain import ReturnflowError

    assert issubclass(DomainError, ReturnflowError) and issubclass(StoreError, ReturnflowError)
    assert not issubclass(sqlite3.Error, ReturnflowError)
