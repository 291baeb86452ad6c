"""Loading master data (items, bins, codes, rules, users, RMAs) into the device store."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlite_utils

from domain import Bin, Category, ConditionCode, DispositionRule, Item, ReasonCode, Rma, User


def upsert_items(db: sqlite_utils.Database, items: Iterable[Item]) -> int:
    """Insert or update items and their GTINs; returns how many items were written."""
    rows, gtins = [], []
    for item in items:
        rows.append((item.sku, item.name, item.category, item.serial_tracked, item.lot_tracked, item.unit_value_cents))
        gtins.extend((gtin, item.sku) for gtin in item.gtins)
    db.conn.executemany(
        """INSERT INTO items (sku, name, category, serial_tracked, lot_tracked, unit_value_cents)
           VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sku) DO UPDATE SET name = excluded.name,
           category = excluded.category, serial_tracked = excluded.serial_tracked,
           lot_tracked = excluded.lot_tracked, unit_value_cents = excluded.unit_value_cents""",
        rows,
    )
    db.conn.executemany(
        "INSERT INTO item_gtins (gtin, sku) VALUES (?, ?) ON CONFLICT (gtin) DO UPDATE SET sku = excluded.sku", gtins
    )
    return len(rows)


def upsert_categories(db: sqlite_utils.Database, categories: Iterable[Category]) -> None:
    db["categories"].upsert_all(
        ({"code": c.code, "name": c.name, "checklist": json.dumps([q.model_dump() for q in c.checklist])}
         for c in categories),
        pk="code",
    )


def upsert_codes(db: sqlite_utils.Database, reasons: Iterable[ReasonCode], conditions: Iterable[ConditionCode]) -> None:
    db["reason_codes"].upsert_all((r.model_dump() for r in reasons), pk="code")
    db["condition_codes"].upsert_all((c.model_dump() for c in conditions), pk="code")


def replace_rules(db: sqlite_utils.Database, rules: Iterable[DispositionRule]) -> None:
    """The rule set is replaced whole: its order decides ties."""
    db.execute("DELETE FROM disposition_rules")
    db["disposition_rules"].insert_all(
        {"rule_id": r.rule_id, "position": i, "body": r.model_dump_json()} for i, r in enumerate(rules)
    )


def upsert_bins(db: sqlite_utils.Database, bins: Iterable[Bin]) -> None:
    db["bins"].upsert_all((b.model_dump(mode="json") for b in bins), pk="code")


def upsert_users(db: sqlite_utils.Database, users: Iterable[User]) -> None:
    db["users"].upsert_all((u.model_dump(mode="json") for u in users), pk="user_id")


def upsert_rmas(db: sqlite_utils.Database, rmas: Iterable[Rma]) -> None:
    rmas = list(rmas)
    db["rmas"].upsert_all(
        ({"rma_id": r.rma_id, "state": r.state.value, "channel": r.channel.value, "order_ref": r.order_ref,
          "created_at": r.created_at.isoformat()} for r in rmas),
        pk="rma_id",
    )
    db["rma_lines"].upsert_all(
        ({"rma_id": r.rma_id, **line.model_dump(mode="json")} for r in rmas for line in r.lines),
        pk=("rma_id", "line_no"),
    )
