"""PIN lockout on the device, on a real SQLite file: wrong PINs at sign-in and at a supervisor's
approval count together, lock the person for a while, and the lock outlives a restart."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import pytest
import sqlite_utils

from domain import Disposition, Grade, SignInFailed, UnitState
from domain.demo import DEMO_PINS
from domain.errors import PinMalformed, SignInLocked
from domain.pins import MAX_WRONG_PINS, PinTries, check_pin_format
from local_db import LATEST_VERSION, MIGRATIONS, DeviceStore, Environment
from local_db.schema import migrate, schema_version
from tests.conftest import ASSOCIATE, NOW
from tests.integration.test_device_store import LPN1, to_state


class Clock:
    """A device wall clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.ms = int(NOW.timestamp() * 1000)

    def __call__(self) -> int:
        return self.ms

    def advance(self, **delta: float) -> None:
        self.ms += int(dt.timedelta(**delta).total_seconds() * 1000)

    @property
    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.ms / 1000, dt.UTC)


def environment(clock: Clock, lockout: dt.timedelta = dt.timedelta(minutes=5)) -> Environment:
    counter = itertools.count()
    return Environment(wall_ms=clock, random_bytes=lambda n: hashlib.sha256(b"%d" % next(counter)).digest()[:n],
                       pin_lockout=lockout)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def device(tmp_path, catalogue, clock):
    with DeviceStore.open(tmp_path / "device.db", env=environment(clock)) as store:
        store.initialize("dev-pins-1")
        store.load_catalogue(catalogue)
        yield store


def wrong_pins(store: DeviceStore, user_id: str, times: int) -> list[SignInFailed]:
    refusals = []
    for _ in range(times):
        with pytest.raises(SignInFailed) as refused:
            store.sign_in(user_id, "0000")
        refusals.append(refused.value)
    return refusals


def local_hh_mm(moment: dt.datetime) -> str:
    return f"{moment.astimezone():%H:%M}"


def test_the_fifth_wrong_pin_locks_the_person_even_against_the_right_pin(device, clock):
    refusals = wrong_pins(device, "sam", MAX_WRONG_PINS)
    assert [type(r) for r in refusals[:-1]] == [SignInFailed] * (MAX_WRONG_PINS - 1)
    locked = refusals[-1]
    assert isinstance(locked, SignInLocked)
    until = clock.now + dt.timedelta(minutes=5)
    assert (locked.user_id, locked.until, locked.wrong_pins) == ("sam", until, 5)
    assert str(locked) == f"sam is locked until {local_hh_mm(until)} after 5 wrong PINs"
    clock.advance(minutes=4, seconds=59)
    with pytest.raises(SignInLocked, match="sam is locked until"):
        device.sign_in("sam", DEMO_PINS["sam"])


def test_the_lock_lasts_the_configured_time_then_the_count_starts_again(tmp_path, catalogue, clock):
    with DeviceStore.open(tmp_path / "short.db", env=environment(clock, dt.timedelta(minutes=2))) as store:
        store.initialize("dev-pins-2")
        store.load_catalogue(catalogue)
        wrong_pins(store, "alex", MAX_WRONG_PINS)
        clock.advance(minutes=1, seconds=59)
        with pytest.raises(SignInLocked):
            store.sign_in("alex", DEMO_PINS["alex"])
        clock.advance(seconds=1)
        assert store.sign_in("alex", DEMO_PINS["alex"]) == ASSOCIATE
        assert not any(isinstance(r, SignInLocked) for r in wrong_pins(store, "alex", MAX_WRONG_PINS - 1))


def test_a_lock_that_ends_without_a_right_pin_gives_a_fresh_count(device, clock):
    wrong_pins(device, "alex", MAX_WRONG_PINS)
    clock.advance(minutes=5)
    refusals = wrong_pins(device, "alex", MAX_WRONG_PINS)
    assert [isinstance(r, SignInLocked) for r in refusals] == [False] * (MAX_WRONG_PINS - 1) + [True]


def test_a_right_pin_resets_the_count(device):
    wrong_pins(device, "alex", MAX_WRONG_PINS - 1)
    assert device.sign_in("alex", DEMO_PINS["alex"]) == ASSOCIATE
    assert not any(isinstance(r, SignInLocked) for r in wrong_pins(device, "alex", MAX_WRONG_PINS - 1))
    assert device.sign_in("alex", DEMO_PINS["alex"]) == ASSOCIATE


@pytest.mark.parametrize("typed", ["", "123", "123456789", "12a4", " 2468", "2468 ", "١٢٣٤", "²²²²", "12.4"])
def test_what_is_not_4_to_8_digits_is_refused_in_words_and_not_counted(device, typed):
    for _ in range(MAX_WRONG_PINS + 2):
        with pytest.raises(PinMalformed, match="a PIN is 4 to 8 digits"):
            device.sign_in("alex", typed)
    assert device.sign_in("alex", DEMO_PINS["alex"]) == ASSOCIATE


def test_a_lock_survives_a_restart_of_the_app(tmp_path, catalogue, clock):
    path = tmp_path / "restart.db"
    with DeviceStore.open(path, env=environment(clock)) as store:
        store.initialize("dev-pins-3")
        store.load_catalogue(catalogue)
        wrong_pins(store, "sam", MAX_WRONG_PINS)
    clock.advance(minutes=1)
    with DeviceStore.open(path, env=environment(clock)) as store:
        with pytest.raises(SignInLocked):
            store.sign_in("sam", DEMO_PINS["sam"])


def test_an_unknown_user_reads_exactly_like_a_known_one_with_a_wrong_pin(device):
    known, unknown = wrong_pins(device, "alex", MAX_WRONG_PINS), wrong_pins(device, "nobody", MAX_WRONG_PINS)
    assert [str(r) for r in known[:-1]] == [str(r) for r in unknown[:-1]] == ["wrong user or PIN: try again"] * 4
    assert str(unknown[-1]) == str(known[-1]).replace("alex", "nobody")
    with pytest.raises(SignInLocked, match="nobody is locked until"):
        device.sign_in("nobody", "1234")


def test_one_persons_wrong_pins_do_not_lock_another(device):
    wrong_pins(device, "alex", MAX_WRONG_PINS)
    assert device.sign_in("sam", DEMO_PINS["sam"]).user_id == "sam"


def graded_d(device, catalogue):
    to_state(device, catalogue, UnitState.GRADED, grade=Grade.D)  # an override of grade D needs approval


def approve(device, pin, approver="sam"):
    return device.decide_disposition(ASSOCIATE, lpn=LPN1, disposition=Disposition.LIQUIDATE,
                                     override_reason="works fine", approver_id=approver, approver_pin=pin)


def test_wrong_approval_pins_count_with_sign_in_tries_and_write_nothing_else(device, catalogue):
    graded_d(device, catalogue)
    events = len(device.events())
    wrong_pins(device, "sam", 3)
    with pytest.raises(SignInFailed, match="wrong user or PIN"):
        approve(device, "0000")
    with pytest.raises(SignInLocked, match="sam is locked until"):
        approve(device, "9999")
    with pytest.raises(SignInLocked):
        approve(device, DEMO_PINS["sam"])
    with pytest.raises(SignInLocked):
        device.sign_in("sam", DEMO_PINS["sam"])
    assert len(device.events()) == events
    assert device.unit(LPN1).state is UnitState.GRADED


def test_a_right_approval_pin_resets_the_count_and_the_decision_is_saved(device, catalogue):
    graded_d(device, catalogue)
    wrong_pins(device, "sam", MAX_WRONG_PINS - 1)
    assert approve(device, DEMO_PINS["sam"]).payload.decision.approved_by == "sam"
    assert not any(isinstance(r, SignInLocked) for r in wrong_pins(device, "sam", MAX_WRONG_PINS - 1))


def test_an_unknown_or_malformed_approver_reads_like_a_wrong_pin_or_a_typo(device, catalogue):
    graded_d(device, catalogue)
    with pytest.raises(SignInFailed) as unknown:
        approve(device, "1357", approver="nobody")
    with pytest.raises(SignInFailed) as wrong:
        approve(device, "0000")
    assert str(unknown.value) == str(wrong.value) == "wrong user or PIN: try again"
    for typed in (None, "13"):
        with pytest.raises(PinMalformed):
            approve(device, typed)
    assert approve(device, DEMO_PINS["sam"]).payload.decision.approved_by == "sam"


def test_a_version_2_database_upgrades_and_keeps_its_data(tmp_path, clock):
    path = tmp_path / "v2.db"
    db = sqlite_utils.Database(path)
    migrate(db, MIGRATIONS[:2])
    db.execute("INSERT INTO meta (key, value) VALUES ('device_id', 'dev-old')")
    db.conn.commit()
    db.close()
    with DeviceStore.open(path, env=environment(clock)) as store:
        assert schema_version(store.db) == LATEST_VERSION
        assert store.device_id == "dev-old"
        assert "pin_tries" in store.db.table_names()
        wrong_pins(store, "alex", 1)
        assert store.db.execute("SELECT user_id, wrong, locked_until_ms FROM pin_tries").fetchall() == [
            ("alex", 1, None)]


# --- the rule itself, without a database --------------------------------------------------------

def test_pin_form_is_ascii_digits_4_to_8():
    assert [check_pin_format(p) for p in ("0000", "12345678")] == ["0000", "12345678"]
    for typed in (None, "000", "123456789", "１２３４"):
        with pytest.raises(PinMalformed):
            check_pin_format(typed)


def test_the_count_locks_at_the_limit_and_restarts_after_a_lock():
    tries = PinTries()
    for _ in range(MAX_WRONG_PINS - 1):
        tries = tries.after_wrong_pin(now_ms=1_000, lockout_ms=60_000)
    assert tries == PinTries(MAX_WRONG_PINS - 1, None) and not tries.locked_at(1_000)
    locked = tries.after_wrong_pin(now_ms=2_000, lockout_ms=60_000)
    assert locked == PinTries(MAX_WRONG_PINS, 62_000)
    assert locked.locked_at(61_999) and not locked.locked_at(62_000)
    assert locked.after_wrong_pin(now_ms=70_000, lockout_ms=60_000) == PinTries(1, None)
