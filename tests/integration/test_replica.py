"""Pulled pages on a real device store, without a server: what a deletion does to records in use."""

from __future__ import annotations

from domain import UnitState
from local_db.replica import Answer
from tests.conftest import ASSOCIATE
from tests.sync.workflow import receivable_lines, receive


def test_a_pulled_deletion_of_an_item_a_local_unit_uses_keeps_the_item_whole(store):
    lpn = receive(store, 1)
    sku = store.unit(lpn).sku
    gtin = store.item(sku).gtins[0]
    unused = store.db.execute("SELECT sku FROM items WHERE sku NOT IN (SELECT sku FROM rma_lines) "
                              "AND sku NOT IN (SELECT sku FROM units) ORDER BY sku").fetchone()[0]
    store.apply_pulled([{"seq": 1, "kind": "item", "key": sku, "body": {"deleted": True}},
                        {"seq": 2, "kind": "item", "key": unused, "body": {"deleted": True}}], cursor=2)
    assert store.item_by_gtin(gtin).sku == sku  # in use: kept, GTINs and all
    assert store.db.execute("SELECT COUNT(*) FROM items WHERE sku = ?", (unused,)).fetchone() == (0,)
    assert store.pull_cursor() == 2
    rma_id, _, _ = receivable_lines(store)[0]
    store.apply_pulled([{"seq": 3, "kind": "rma", "key": rma_id, "body": {"deleted": True}}], cursor=3)
    assert store.rma(rma_id).lines  # a received unit refers to it: kept with its lines


def test_answers_are_recorded_one_row_per_event_whatever_their_mix(store):
    for number in range(1, 9):
        receive(store, number, line=number % 2)
    store.record_answers([
        Answer(1, "applied"), Answer(2, "applied"),  # a run of plain answers...
        Answer(3, "applied", "same_outcome_merged", reason="already received by another device"),
        Answer(4, "applied"),  # ...broken by an answer with a rule, then another run
        Answer(5, "conflict", "lpn_reused", "EXC-1", "license plate reused"),
        Answer(7, "applied"), Answer(8, "rejected", "unknown_reference", reason="unknown item"),  # after a gap
    ])
    # A duplicate repeats what was answered before: it fills a gap but never overwrites an answer.
    store.record_answers([Answer(5, "duplicate", "duplicate_event", "EXC-1"),
                          Answer(6, "duplicate", "duplicate_event", reason="sent before")])
    rows = store.db.execute(
        "SELECT device_seq, status, rule, exception_id, reason FROM sync_results ORDER BY device_seq").fetchall()
    assert rows == [
        (1, "acknowledged", None, None, None), (2, "acknowledged", None, None, None),
        (3, "acknowledged", "same_outcome_merged", None, "already received by another device"),
        (4, "acknowledged", None, None, None),
        (5, "conflict", "lpn_reused", "EXC-1", "license plate reused"),
        (6, "acknowledged", "duplicate_event", None, "sent before"),
        (7, "acknowledged", None, None, None), (8, "rejected", "unknown_reference", None, "unknown item"),
    ]
    assert store.sync_counts() == {"pending": 0, "conflict": 1, "rejected": 1}


def test_a_void_the_server_rejected_leaves_the_unit_received(store):
    lpn = receive(store, 1)
    store.void_receipt(ASSOCIATE, lpn=lpn, reason="double scan")
    store.record_answers([Answer(1, "applied"), Answer(2, "rejected", "invalid_transition",
                                                       reason="inspected on another device")])
    assert store.unit(lpn).state is UnitState.RECEIVED


def test_a_receipt_waiting_to_be_pushed_stands_on_a_pulled_voided_unit(store):
    lpn = receive(store, 1)
    voided = store.unit(lpn).model_copy(update={"state": UnitState.VOIDED, "server_version": 2})
    store.void_receipt(ASSOCIATE, lpn=lpn, reason="wrong RMA")
    rma_id, line_no, sku = receivable_lines(store)[1]
    store.receive(ASSOCIATE, lpn=lpn, sku=sku, bin_code="BIN-DCK-A02", rma_id=rma_id, line_no=line_no)
    # The server has applied the receipt and the void (seq 1 and 2), not yet the new receipt.
    store.apply_pulled([{"seq": 1, "kind": "ack", "key": "dev-test-1", "body": {"last_seq": 2}},
                        {"seq": 2, "kind": "unit", "key": lpn, "body": voided.model_dump(mode="json")}], cursor=2)
    unit = store.unit(lpn)
    assert (unit.state, unit.rma_id, unit.line_no, unit.bin_code) == (
        UnitState.RECEIVED, rma_id, line_no, "BIN-DCK-A02")
