"""Master data and RMAs on the central API: upserts that also publish each change to the pull feed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from domain import Bin, Category, ConditionCode, DispositionRule, Item, ReasonCode, Rma, Role, User
from domain.demo import DemoCatalogue

from . import feed
from . import tables as t

DEFAULT_SITE = "DC1"


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str],
           keep: Sequence[str] = ()) -> None:
    """Insert rows, updating those whose key exists except the `keep` columns (one statement per batch)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    columns = [c for c in rows[0] if c not in keys and c not in keep]
    updates = {c: statement.excluded[c] for c in columns}
    if "version" in updates:  # a changed record is a new version of it
        updates["version"] = table.c.version + 1
    statement = statement.on_conflict_do_update(index_elements=list(keys), set_=updates) if columns else (
        statement.on_conflict_do_nothing(index_elements=list(keys)))
    conn.execute(statement, list(rows))


def _publish(conn: Connection, kind: str, rows: Iterable[tuple[str, dict[str, Any]]],
             site_id: str | None = None) -> None:
    feed.append(conn, [{"kind": kind, "key": key, "body": body} for key, body in rows], site_id)


def put_categories(conn: Connection, categories: Sequence[Category]) -> None:
    rows = [{"code": c.code, "name": c.name, "checklist": [q.model_dump() for q in c.checklist]} for c in categories]
    upsert(conn, t.categories, rows, ["code"])
    _publish(conn, "category", ((c.code, c.model_dump(mode="json")) for c in categories))


def put_reason_codes(conn: Connection, reasons: Sequence[ReasonCode]) -> None:
    upsert(conn, t.reason_codes, [r.model_dump() for r in reasons], ["code"])
    _publish(conn, "reason_code", ((r.code, r.model_dump()) for r in reasons))


def put_condition_codes(conn: Connection, conditions: Sequence[ConditionCode]) -> None:
    upsert(conn, t.condition_codes, [c.model_dump() for c in conditions], ["code"])
    _publish(conn, "condition_code", ((c.code, c.model_dump()) for c in conditions))


def put_rules(conn: Connection, rules: Sequence[DispositionRule]) -> None:
    """Replace the whole rule set: its order decides ties between equally specific rules."""
    conn.execute(t.disposition_rules.delete())
    if rules:
        conn.execute(t.disposition_rules.insert(),
                     [{"rule_id": r.rule_id, "position": i, "body": r.model_dump(mode="json")} for i, r in enumerate(rules)])
    publish_rules(conn)


def upsert_rules(conn: Connection, rules: Sequence[DispositionRule]) -> None:
    """Add or change rules one by one: a changed rule keeps its place, a new one goes last."""
    positions = dict(conn.execute(select(t.disposition_rules.c.rule_id, t.disposition_rules.c.position)).all())
    last = max(positions.values(), default=-1)
    rows = []
    for rule in rules:
        if rule.rule_id not in positions:
            last += 1
            positions[rule.rule_id] = last
        rows.append({"rule_id": rule.rule_id, "position": positions[rule.rule_id], "body": rule.model_dump(mode="json")})
    upsert(conn, t.disposition_rules, rows, ["rule_id"])
    publish_rules(conn)


def publish_rules(conn: Connection) -> None:
    """Devices replace their rule set whole, in order, from one feed entry."""
    bodies = [r.body for r in conn.execute(select(t.disposition_rules.c.body).order_by(t.disposition_rules.c.position))]
    _publish(conn, "rules", [("all", {"rules": bodies})])


def put_items(conn: Connection, items: Sequence[Item]) -> None:
    upsert(conn, t.items, [{"sku": i.sku, "name": i.name, "category": i.category, "serial_tracked": i.serial_tracked,
                            "lot_tracked": i.lot_tracked, "unit_value_cents": i.unit_value_cents, "version": 1}
                           for i in items], ["sku"])
    # An item's GTINs are replaced whole: one dropped from the record is dropped from the item.
    conn.execute(t.item_gtins.delete().where(t.item_gtins.c.sku.in_([i.sku for i in items])))
    upsert(conn, t.item_gtins, [{"gtin": g, "sku": i.sku} for i in items for g in i.gtins], ["gtin"])
    _publish(conn, "item", ((i.sku, i.model_dump(mode="json")) for i in items))


def put_sites(conn: Connection, sites: Sequence[tuple[str, str]]) -> None:
    upsert(conn, t.sites, [{"site_id": site_id, "name": name} for site_id, name in sites], ["site_id"])


def put_bins(conn: Connection, bins: Sequence[Bin], site_id: str) -> None:
    upsert(conn, t.bins, [{**b.model_dump(mode="json"), "site_id": site_id, "version": 1} for b in bins], ["code"])
    _publish(conn, "bin", ((b.code, b.model_dump(mode="json")) for b in bins), site_id)


def put_users(conn: Connection, users: Sequence[User]) -> None:
    upsert(conn, t.users, [{**u.model_dump(mode="json"), "version": 1} for u in users], ["user_id"])
    # Devices get the PIN hashes of the people who sign in on them; an admin's stays on the server.
    _publish(conn, "user", ((u.user_id, u.model_dump(mode="json")) for u in users if u.role is not Role.ADMIN))


def put_rmas(conn: Connection, rmas: Sequence[Rma]) -> None:
    upsert(conn, t.rmas, [{"rma_id": r.rma_id, "state": r.state.value, "channel": r.channel.value,
                           "order_ref": r.order_ref, "created_at": r.created_at, "version": 1} for r in rmas], ["rma_id"])
    upsert(conn, t.rma_lines, [{"rma_id": r.rma_id, **line.model_dump(mode="json"), "received_qty": 0}
                               for r in rmas for line in r.lines], ["rma_id", "line_no"], keep=["received_qty"])
    for rma in rmas:  # lines the ERP dropped from an RMA go too
        conn.execute(t.rma_lines.delete().where(t.rma_lines.c.rma_id == rma.rma_id,
                                                t.rma_lines.c.line_no.not_in([line.line_no for line in rma.lines])))
    _publish(conn, "rma", ((r.rma_id, r.model_dump(mode="json")) for r in rmas))


def load_catalogue(conn: Connection, catalogue: DemoCatalogue, site_id: str = DEFAULT_SITE) -> None:
    feed.lock_feed(conn)
    put_sites(conn, [(site_id, f"Returns centre {site_id}")])
    put_categories(conn, catalogue.categories)
    put_reason_codes(conn, catalogue.reason_codes)
    put_condition_codes(conn, catalogue.condition_codes)
    put_rules(conn, catalogue.rules)
    put_items(conn, catalogue.items)
    put_bins(conn, catalogue.bins, site_id)
    put_users(conn, catalogue.users)
    put_rmas(conn, catalogue.rmas)
