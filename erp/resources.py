"""Master data and RMAs as API resources: read, put one, and bulk import from JSON or CSV with
row-level errors (valid rows are written, each invalid row is reported with why)."""

from __future__ import annotations

import csv
import io
import os
import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, StrictBool, ValidationError
from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from domain import (
    Bin,
    Category,
    ConditionCode,
    DispositionRule,
    Item,
    ReasonCode,
    Rma,
    RmaLine,
    Role,
    UnknownEntity,
    User,
    hash_pin,
)
from domain.entities import Model, SiteId, Text, UserId, describe
from domain.errors import Conflict

from . import feed
from . import masterdata as md
from . import tables as t
from .schemas import RowError


class UserRecord(Model):
    """A user as an admin sends it: the PIN in clear, hashed before it is stored."""

    user_id: UserId
    name: Text
    role: Role
    pin: str = Field(pattern=r"^[0-9]{4,8}$")
    active: StrictBool = True


class SiteRecord(Model):
    site_id: SiteId
    name: Text


class BinRecord(Bin):
    """A bin as an admin sends it: which site it belongs to, beside the bin itself."""

    site_id: SiteId = md.DEFAULT_SITE


@dataclass(frozen=True)
class Resource:
    name: str
    model: type[BaseModel]
    table: Table
    key: str
    write: Callable[[Connection, Sequence[Any]], None]
    # Which other records a row refers to: (field, table, column), checked before writing.
    references: tuple[tuple[str, Table, str], ...] = ()
    hidden: tuple[str, ...] = ()
    # Rows of other tables that belong to a record: (table, its key column, name in the record).
    children: tuple[tuple[Table, str, str], ...] = ()
    # Records of other tables that keep this one from being deleted: (table, referring column).
    used_by: tuple[tuple[Table, str], ...] = ()

    def rows(self, conn: Connection, key: str | None = None, after: str = "", limit: int = 100) -> list[dict]:
        column = self.table.c[self.key]
        query = select(self.table).where(column == key) if key is not None else (
            select(self.table).where(column > after).order_by(column).limit(limit))
        records = [{k: v for k, v in r._mapping.items() if k not in self.hidden} for r in conn.execute(query)]
        for table, fk, name in self.children:
            keys = [r[self.key] for r in records]
            owned: dict[str, list[dict]] = {k: [] for k in keys}
            for child in conn.execute(select(table).where(table.c[fk].in_(keys)).order_by(*table.primary_key)):
                owned[child._mapping[fk]].append({k: v for k, v in child._mapping.items() if k != fk})
            for record in records:
                record[name] = owned[record[self.key]]
        return records

    def delete(self, conn: Connection, key: str) -> None:
        """Delete a record and the rows that belong to it; refuse while other records use it."""
        if not self.rows(conn, key):
            raise UnknownEntity(self.name.rstrip("s").replace("-", " "), key)
        for table, column in self.used_by:
            if conn.execute(select(table.c[column]).where(table.c[column] == key).limit(1)).first() is not None:
                raise InUse(f"{key} is still used by {table.name}: it cannot be deleted")
        feed.lock_feed(conn)
        for table, fk, _ in self.children:
            conn.execute(table.delete().where(table.c[fk] == key))
        conn.execute(self.table.delete().where(self.table.c[self.key] == key))
        if self.table is t.disposition_rules:  # devices replace their rule set whole
            md.publish_rules(conn)
        else:
            feed.append(conn, [{"kind": self.feed_kind, "key": key, "body": {"deleted": True}}])

    @property
    def feed_kind(self) -> str:
        return {"sites": "site", "items": "item", "bins": "bin", "reason-codes": "reason_code", "condition-codes": "condition_code",
                "users": "user", "rmas": "rma", "categories": "category"}[self.name]


class InUse(Conflict):
    """A record other records still refer to."""


def _write_bins(conn: Connection, records: Sequence[BinRecord]) -> None:
    for site_id in {r.site_id for r in records}:
        md.put_bins(conn, [Bin(**r.model_dump(exclude={"site_id"})) for r in records if r.site_id == site_id], site_id)


def _write_users(conn: Connection, records: Sequence[UserRecord]) -> None:
    md.put_users(conn, [User(user_id=r.user_id, name=r.name, role=r.role, active=r.active,
                             pin_hash=hash_pin(r.pin, os.urandom(16))) for r in records])


RESOURCES: dict[str, Resource] = {r.name: r for r in (
    Resource("items", Item, t.items, "sku", md.put_items, references=(("category", t.categories, "code"),),
             children=((t.item_gtins, "sku", "gtins"),), used_by=((t.units, "sku"),)),
    Resource("sites", SiteRecord, t.sites, "site_id", lambda conn, rows: md.put_sites(
        conn, [(r.site_id, r.name) for r in rows]), used_by=((t.bins, "site_id"), (t.devices, "site_id"))),
    Resource("bins", BinRecord, t.bins, "code", _write_bins, references=(("site_id", t.sites, "site_id"),),
             used_by=((t.units, "bin_code"),)),
    Resource("categories", Category, t.categories, "code", md.put_categories, used_by=((t.items, "category"),)),
    Resource("reason-codes", ReasonCode, t.reason_codes, "code", md.put_reason_codes,
             used_by=((t.units, "reason_code"), (t.rma_lines, "reason_code"))),
    Resource("condition-codes", ConditionCode, t.condition_codes, "code", md.put_condition_codes),
    Resource("disposition-rules", DispositionRule, t.disposition_rules, "rule_id", md.upsert_rules),
    Resource("users", UserRecord, t.users, "user_id", _write_users, hidden=("pin_hash",)),
    Resource("rmas", Rma, t.rmas, "rma_id", md.put_rmas, children=((t.rma_lines, "rma_id", "lines"),),
             used_by=((t.units, "rma_id"), (t.refunds, "rma_id"))),
)}


def csv_header_pattern(key: str) -> str:
    """How a CSV file's first line names the key column. An import refuses a file without it (the
    wrong file, or one separated by ';'), and the OpenAPI document states it with this pattern."""
    return rf'^\ufeff?([^\r\n]*,)?[ \t]*"?{key}"?[ \t]*(,|\r|\n|$)'


def csv_records(resource: Resource, text: str) -> list[dict[str, Any]]:
    """Flat CSV rows to records: list fields separated by '|'; an RMA takes one row per line."""
    if not re.match(csv_header_pattern(resource.key), text):
        raise csv.Error(f"its first line names no {resource.key} column")
    reader = csv.DictReader(io.StringIO(text, newline=""))  # a lone \r ends a line, as csv expects
    rows = [_cells_typed(resource.model, {k.strip(): (v or "").strip() for k, v in row.items() if k})
            for row in reader]
    if resource.name == "items":
        return [{**r, "gtins": [g for g in r.get("gtins", "").split("|") if g]} for r in rows]
    if resource.name == "rmas":
        grouped: dict[str, dict[str, Any]] = {}
        line_fields = ("line_no", "sku", "expected_qty", "reason_code")
        for r in rows:
            rma = grouped.setdefault(r.get("rma_id", ""), {k: v for k, v in r.items() if k not in line_fields}
                                     | {"lines": []})
            rma["lines"].append(_cells_typed(RmaLine, {k: r.get(k) for k in line_fields}))
        return list(grouped.values())
    return [{k: v for k, v in r.items() if v != "" or k in ("purpose", "owner")} | (
        {"purpose": r.get("purpose") or None, "owner": r.get("owner") or None} if resource.name == "bins" else {})
        for r in rows]


_YES, _NO = {"true", "t", "yes", "y", "on", "1"}, {"false", "f", "no", "n", "off", "0"}


def _cells_typed(model: type[BaseModel], cells: dict[str, Any]) -> dict[str, Any]:
    """A CSV file holds text: the cells of number and yes/no fields become numbers and booleans, where
    they read as such (JSON records are held to their types, as every other request is)."""
    typed = dict(cells)
    for name, field in model.model_fields.items():
        cell = typed.get(name)
        if not isinstance(cell, str):
            continue
        kinds = typing.get_args(field.annotation) or (field.annotation,)
        if bool in kinds and cell.lower() in _YES | _NO:
            typed[name] = cell.lower() in _YES
        elif int in kinds and re.fullmatch(r"-?[0-9]{1,19}", cell):
            typed[name] = int(cell)
    return typed


def import_records(conn: Connection, resource: Resource, records: Sequence[Any]) -> tuple[int, list[RowError]]:
    """Validate every record, write the valid ones in this transaction, report the rest by row."""
    valid, errors = [], []
    known = {field: {v for (v,) in conn.execute(select(table.c[column]))}
             for field, table, column in resource.references}
    skus = {v for (v,) in conn.execute(select(t.items.c.sku))} if resource.name == "rmas" else set()
    for row, record in enumerate(records, start=1):
        key = record.get(resource.key) if isinstance(record, dict) else None
        try:
            parsed = resource.model.model_validate(record)
        except ValidationError as exc:
            errors.append(RowError(row=row, key=key if isinstance(key, str) else None,
                                   message=describe(exc.errors(), "record", limit=3)))
            continue
        missing = [f"unknown {field} {getattr(parsed, field)}" for field, _, _ in resource.references
                   if getattr(parsed, field) not in known[field]]
        if resource.name == "rmas":
            missing += [f"line {line.line_no}: unknown item {line.sku}" for line in parsed.lines if line.sku not in skus]
        if missing:
            errors.append(RowError(row=row, key=getattr(parsed, resource.key), message="; ".join(missing)))
            continue
        valid.append(parsed)
    if valid:
        feed.lock_feed(conn)
        resource.write(conn, valid)
    return len(valid), errors
