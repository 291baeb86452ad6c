"""Pulled pages on a real device store, without a server: what a deletion does to records in use."""

from __future__ import annotations

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
