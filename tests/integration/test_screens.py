"""Screen queries on a real device database: a unit's card and photos, the work queues, the count of
what waits for a supervisor, and where to put a unit away."""

from __future__ import annotations

import hashlib

import pytest

from domain import BinType, Disposition, Grade, ReturnUnit, UnitState
from domain.bins import BinCandidate, put_away_bin
from domain.labels import lpn
from local_db.replica import Answer
from local_db.screens import (
    QUEUES,
    ServerView,
    open_exception_count,
    photo,
    suggest_bin,
    unit_card,
    units_in,
)
from tests.conftest import ASSOCIATE, SUPERVISOR
from tests.integration.test_device_store import answers, plain_line

RESTOCK_1, RESTOCK_2, RESTOCK_5 = "BIN-RST-R01", "BIN-RST-R02", "BIN-RST-R05"


def plain_sku(catalogue) -> str:
    return plain_line(catalogue)[2].sku


def other_plain_sku(catalogue, sku: str) -> str:
    return next(i.sku for i in catalogue.items if not (i.serial_tracked or i.lot_tracked) and i.sku != sku
                and i.category == next(j.category for j in catalogue.items if j.sku == sku))


def blind(store, code: str, sku: str, serial: str | None = None):
    return store.receive(ASSOCIATE, lpn=code, sku=sku, bin_code="BIN-DCK-A01", reason_code="defective", serial=serial)


def graded(store, code: str, sku: str, photo_hashes=()) -> None:
    blind(store, code, sku)
    store.inspect(ASSOCIATE, lpn=code, answers=answers(store, code), photo_hashes=photo_hashes)
    store.grade(ASSOCIATE, lpn=code, grade=Grade.A)


def dispositioned(store, code: str, sku: str) -> ReturnUnit:
    graded(store, code, sku)
    store.decide_disposition(ASSOCIATE, lpn=code, disposition=Disposition.RESTOCK)
    return store.unit(code)


def stored(store, code: str, sku: str, bin_code: str) -> None:
    dispositioned(store, code, sku)
    store.store(ASSOCIATE, lpn=code, bin_code=bin_code)


# --- the unit card ------------------------------------------------------------------------------

def sqlite_steps(store, work) -> int:
    """SQLite's virtual machine steps (in tens) that `work` takes on the store's connection."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store.db.conn.set_progress_handler(count, 10)
    try:
        work()
    finally:
        store.db.conn.set_progress_handler(None, 10)
    return steps[0]


def test_a_cards_look_up_costs_the_same_however_long_the_event_log(store, catalogue):
    sku = plain_sku(catalogue)
    graded(store, lpn(1), sku)
    short_log = sqlite_steps(store, lambda: unit_card(store, lpn(1)))
    for n in range(2, 402):  # 400 more units' receipts in the log
        blind(store, lpn(n), sku)
    long_log = sqlite_steps(store, lambda: unit_card(store, lpn(1)))
    assert long_log < 1.5 * short_log, (short_log, long_log)  # reading the whole log: over ten times as much


def test_a_card_by_lpn_shows_the_unit_its_steps_in_order_and_its_photos(store, catalogue):
    sku = plain_sku(catalogue)
    shots = [store.add_photo(b"front"), store.add_photo(b"back")]
    graded(store, lpn(1), sku, photo_hashes=shots)
    card = unit_card(store, lpn(1))
    assert (card.lpn, card.sku, card.name, card.state, card.bin_code, card.grade, card.reason, card.rma_id) == (
        lpn(1), sku, store.item(sku).name, UnitState.GRADED, "BIN-DCK-A01", Grade.A, "Defective or does not work", None)
    assert [(s.device_seq, s.type, s.actor, s.device_id, s.status) for s in card.steps] == [
        (1, "blind_receipt", "alex", "dev-test-1", "pending"),
        (2, "inspection_recorded", "alex", "dev-test-1", "pending"),
        (3, "unit_graded", "alex", "dev-test-1", "pending")]
    assert [s.occurred_at for s in card.steps] == [e.occurred_at for e in store.events()]
    assert card.photos == tuple(shots)
    assert [photo(store, h) for h in card.photos] == [b"front", b"back"]
    assert card.server is None


def test_a_card_shows_what_the_server_answered_for_each_step(store, catalogue):
    sku = plain_sku(catalogue)
    graded(store, lpn(1), sku)
    blind(store, lpn(2), sku)  # another unit's step is not on the card
    store.record_answers([Answer(1, "applied"), Answer(2, "conflict", "same_outcome_merged", None, "already recorded"),
                          Answer(3, "rejected", "invalid_transition", None, "unit is stored")])
    card = unit_card(store, lpn(1))
    assert [(s.status, s.rule, s.reason) for s in card.steps] == [
        ("acknowledged", None, None), ("conflict", "same_outcome_merged", "already recorded"),
        ("rejected", "invalid_transition", "unit is stored")]
    assert card.state is UnitState.INSPECTED  # the rejected grade is undone on the device


def test_a_serial_finds_its_most_recent_unit_across_skus(store, catalogue):
    serial_skus = [i.sku for i in catalogue.items if i.serial_tracked and not i.lot_tracked][:2]
    blind(store, lpn(1), serial_skus[0], serial="SN-42")
    blind(store, lpn(2), serial_skus[1], serial="SN-42")
    assert unit_card(store, "SN-42").lpn == lpn(2)
    store.inspect(ASSOCIATE, lpn=lpn(1), answers=answers(store, lpn(1)))
    assert unit_card(store, "SN-42").lpn == lpn(1)
    assert unit_card(store, lpn(2)).serial == "SN-42"


def test_no_card_for_a_code_the_device_does_not_hold(store, catalogue):
    blind(store, lpn(1), plain_sku(catalogue))
    assert unit_card(store, lpn(9)) is None
    assert unit_card(store, "SN-NOPE") is None
    assert photo(store, hashlib.sha256(b"never taken").hexdigest()) is None


def test_a_unit_known_only_from_the_server_shows_its_pulled_state(store, catalogue):
    sku = plain_sku(catalogue)
    pulled = ReturnUnit(lpn=lpn(7), sku=sku, reason_code="defective", state=UnitState.STORED, bin_code=RESTOCK_2,
                        grade=Grade.B, disposition=Disposition.RESTOCK, server_version=4)
    store.apply_pulled([{"kind": "unit", "key": lpn(7), "body": pulled.model_dump(mode="json")}], cursor=1)
    card = unit_card(store, lpn(7))
    assert card.steps == () and card.photos == ()
    assert (card.state, card.bin_code) == (UnitState.STORED, RESTOCK_2)
    assert card.server == ServerView(UnitState.STORED, RESTOCK_2, Grade.B, Disposition.RESTOCK, 4)


# --- queues and the supervisor's count ----------------------------------------------------------

def test_each_queue_lists_its_units_oldest_first_up_to_a_limit(store, catalogue):
    sku = plain_sku(catalogue)
    for n in (1, 2, 3):
        blind(store, lpn(n), sku)
    assert [u.lpn for u in units_in(store, UnitState.RECEIVED)] == [lpn(1), lpn(2), lpn(3)]
    assert [u.lpn for u in units_in(store, UnitState.RECEIVED, limit=2)] == [lpn(1), lpn(2)]
    for n in (3, 1):  # lpn(3) was inspected first: it has waited longest to be graded
        store.inspect(ASSOCIATE, lpn=lpn(n), answers=answers(store, lpn(n)))
    assert [u.lpn for u in units_in(store, UnitState.INSPECTED)] == [lpn(3), lpn(1)]
    store.grade(ASSOCIATE, lpn=lpn(3), grade=Grade.A)
    dispositioned(store, lpn(4), sku)
    store.quarantine(ASSOCIATE, lpn=lpn(2), reason="smells of smoke")
    listed = {state: [(u.lpn, u.sku, u.grade, u.disposition) for u in units_in(store, state)] for state, _ in QUEUES}
    assert listed == {
        UnitState.RECEIVED: [],
        UnitState.INSPECTED: [(lpn(1), sku, None, None)],
        UnitState.GRADED: [(lpn(3), sku, "A", None)],
        UnitState.DISPOSITIONED: [(lpn(4), sku, "A", "restock")],
        UnitState.QUARANTINED: [(lpn(2), sku, None, None)],
        UnitState.DISPUTED: [],
    }


def exception(exception_id: str, kind: str, status: str = "open") -> dict:
    return {"kind": "exception", "key": exception_id,
            "body": {"kind": kind, "status": status, "lpn": None, "bin_code": None, "detail": {}}}


def test_the_supervisor_count_is_every_open_exception_of_any_kind(store):
    assert open_exception_count(store) == 0
    store.apply_pulled([exception("EXC-1", "dispute"), exception("EXC-2", "bin_policy_violation"),
                        exception("EXC-3", "duplicate_serial"), exception("EXC-4", "dispute", "resolved")], cursor=4)
    assert open_exception_count(store) == 3
    store.resolve_exception(SUPERVISOR, exception_id="EXC-3", note="two units, one serial: both real")
    assert open_exception_count(store) == 2


# --- put-away suggestion ------------------------------------------------------------------------

def test_put_away_suggests_the_emptiest_bin_of_the_type_ties_by_code(store, catalogue):
    sku = plain_sku(catalogue)
    other = other_plain_sku(catalogue, sku)
    unit = dispositioned(store, lpn(1), sku)
    assert suggest_bin(store, unit) == RESTOCK_1
    stored(store, lpn(2), other, RESTOCK_1)
    assert suggest_bin(store, unit) == RESTOCK_2


def test_put_away_suggests_a_bin_already_holding_the_sku(store, catalogue):
    sku = plain_sku(catalogue)
    other = other_plain_sku(catalogue, sku)
    stored(store, lpn(2), sku, RESTOCK_5)
    stored(store, lpn(3), other, RESTOCK_1)
    unit = dispositioned(store, lpn(1), sku)
    assert suggest_bin(store, unit) == RESTOCK_5


def test_a_quarantined_unit_goes_where_a_reassignment_moved_its_likes(store, catalogue):
    sku = plain_sku(catalogue)
    for n in (2, 3):
        blind(store, lpn(n), sku)
        store.quarantine(ASSOCIATE, lpn=lpn(n), reason="suspected fraud")
    store.store(ASSOCIATE, lpn=lpn(2), bin_code="BIN-QUA-Q03")
    blind(store, lpn(1), sku)
    store.quarantine(ASSOCIATE, lpn=lpn(1), reason="suspected fraud")
    assert suggest_bin(store, store.unit(lpn(1))) == "BIN-QUA-Q03"
    store.reassign_bin(SUPERVISOR, bin_code="BIN-QUA-Q03", purpose="hazmat review", zone="Q", owner="sam",
                       move_contents_to="BIN-QUA-Q05")
    assert suggest_bin(store, store.unit(lpn(1))) == "BIN-QUA-Q05"


def test_no_suggestion_for_a_unit_not_waiting_for_a_bin(store, catalogue):
    sku = plain_sku(catalogue)
    blind(store, lpn(1), sku)
    assert suggest_bin(store, store.unit(lpn(1))) is None
    stored(store, lpn(2), sku, RESTOCK_1)
    assert suggest_bin(store, store.unit(lpn(2))) is None
    blind(store, lpn(3), sku)
    store.quarantine(ASSOCIATE, lpn=lpn(3), reason="suspected fraud")
    store.store(ASSOCIATE, lpn=lpn(3), bin_code="BIN-QUA-Q02")  # still quarantined, and in its bin
    assert suggest_bin(store, store.unit(lpn(3))) is None


def test_the_bin_rule_prefers_most_of_the_sku_then_emptiest_then_lowest_code():
    unit = ReturnUnit(lpn=lpn(1), sku="TOY-10001", reason_code="defective", state=UnitState.DISPOSITIONED,
                      bin_code="BIN-DCK-A01", grade=Grade.A, disposition=Disposition.RESTOCK)

    def bin_(code, same, total, type_=BinType.RESTOCK):
        return BinCandidate(code, type_, same, total)

    assert put_away_bin(unit, [bin_("R2", 1, 9), bin_("R3", 3, 3), bin_("R1", 0, 0)]) == "R3"
    assert put_away_bin(unit, [bin_("R2", 2, 2), bin_("R1", 2, 8)]) == "R1"
    assert put_away_bin(unit, [bin_("R2", 0, 1), bin_("R3", 0, 1), bin_("R4", 0, 2)]) == "R2"
    assert put_away_bin(unit, [bin_("S1", 5, 5, BinType.SCRAP), bin_("R9", 0, 7)]) == "R9"
    assert put_away_bin(unit, [bin_("S1", 0, 0, BinType.SCRAP)]) is None
    held = unit.model_copy(update={"state": UnitState.QUARANTINED, "held_from": UnitState.DISPOSITIONED})
    assert put_away_bin(held, [bin_("R1", 1, 1), bin_("Q2", 0, 4, BinType.QUARANTINE)]) == "Q2"


@pytest.mark.parametrize("code", ["", "LPN", "'; DROP TABLE units; --"])
def test_odd_codes_find_no_card(store, catalogue, code):
    blind(store, lpn(1), plain_sku(catalogue))
    assert unit_card(store, code) is None
