"""Bulk writes of the push path: the big tables' rows handed to the driver as plain tuples in one
executemany (SQLite) or COPY (PostgreSQL), stock movements in one upsert, and JSON text for the
JSON columns."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import orjson
from sqlalchemy import JSON, String, bindparam, func, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import Column, Table
from sqlalchemy.sql import ColumnElement

from .. import tables as t

# The units columns that hold a ReturnUnit field under the same name (condition_codes is JSON).
UNIT_FIELDS = ("lpn", "sku", "rma_id", "line_no", "serial", "lot", "expiry", "reason_code", "state", "held_from",
               "bin_code", "grade", "disposition")
UNIT_COLUMNS_OF_MODEL = (*UNIT_FIELDS, "condition_codes")
AUDIT_BLANK = {c.name: None for c in t.audit.c if c.name != "audit_id"}


_BULK_DRIVERS = ("pysqlite", "psycopg")


class RowInsert:
    """INSERT of many rows given as tuples in `columns` order: one DBAPI executemany on SQLite,
    one COPY on PostgreSQL (psycopg), SQLAlchemy's own insert on any other driver.

    SQLAlchemy's executemany of dicts spends more per row preparing parameters than SQLite spends
    inserting it. Here the statement is written once per dialect and the rows arrive as the driver
    takes them: JSON columns as the text the caller serialised, and each column in `converted`
    through `param(dialect, column)`, the column type's own bind processor (or a faster equivalent
    checked against it). What is stored is what SQLAlchemy would store. A StrEnum member goes as
    it is: both drivers send its text, and reading `.value` costs more than that.
    """

    def __init__(self, table: Table, columns: tuple[str, ...], converted: tuple[str, ...] = ()) -> None:
        self.table, self.columns, self.converted = table, columns, converted
        self._json = [isinstance(table.c[c].type, JSON) for c in columns]
        self._sql: dict[Any, str | None] = {}
        self._params: dict[tuple[Any, str], Any] = {}

    def param(self, dialect: Dialect, column: str) -> Any:
        """The function that turns a value of `column` into what the driver takes on `dialect`."""
        found = self._params.get((dialect, column))
        if found is None:
            if dialect.driver not in _BULK_DRIVERS:  # SQLAlchemy's insert converts the values itself
                found = _same
            else:
                type_ = self.table.c[column].type
                slow = type_.dialect_impl(dialect).bind_processor(dialect) or _same
                found = _fast_param(type_, dialect, slow)
            self._params[(dialect, column)] = found
        return found

    def _prepare(self, dialect: Dialect) -> str | None:
        if dialect.driver not in _BULK_DRIVERS:
            return None
        cols: list[Column] = [self.table.c[c] for c in self.columns]
        for c, is_json in zip(cols, self._json):
            if (not is_json and c.name not in self.converted
                    and c.type.dialect_impl(dialect).bind_processor(dialect) is not None):
                raise TypeError(f"{self.table.name}.{c.name} converts its values on {dialect.name}: "
                                "list it in `converted` and build its values with param()")
        quote = dialect.identifier_preparer.quote
        into = f"{quote(self.table.name)} ({', '.join(quote(c.name) for c in cols)})"
        if dialect.driver == "psycopg":
            # COPY: PostgreSQL parses each value from text as its column's type (the JSON text too)
            # and spends a fraction of what one INSERT per row costs it.
            return f"COPY {into} FROM STDIN"
        return f"INSERT INTO {into} VALUES ({', '.join('?' * len(cols))})"

    def __call__(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        dialect = conn.dialect
        if dialect not in self._sql:
            self._sql[dialect] = self._prepare(dialect)
        sql = self._sql[dialect]
        if sql is None:  # a driver this was not written for: SQLAlchemy's own path (param() left values as they were)
            conn.execute(insert(self.table), [
                {c: json.loads(v) if is_json and v is not None else v for c, is_json, v in zip(self.columns, self._json, r)}
                for r in rows])
            return
        if dialect.driver == "psycopg":
            # The same connection, so the same transaction as everything else the push writes.
            with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        conn.exec_driver_sql(sql, rows)


def _fast_param(type_: Any, dialect: Dialect, slow: Any) -> Any:
    """On SQLite a UtcDateTime becomes text through two processors (UTC conversion, then the
    DATETIME format): the same text from one isoformat call, used only if it agrees with them."""
    if dialect.driver != "pysqlite" or not isinstance(type_, t.UtcDateTime):
        return slow

    def fast(value: Any) -> Any:
        if type(value) is dt.datetime:
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC)
            text = value.isoformat()  # no arguments: the quickest form; no fraction when microsecond is 0
            return f"{text[:10]} {text[11:26]}" if value.microsecond else f"{text[:10]} {text[11:19]}.000000"
        return slow(value)

    samples = [dt.datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
               dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC), dt.datetime(987, 6, 5, 4, 3, 2, 1),
               dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))]
    return fast if all(fast(v) == slow(v) for v in samples) else slow


EVENT_INSERT = RowInsert(t.events, (
    "event_id", "device_id", "device_seq", "type", "hlc", "actor", "role", "occurred_at", "received_at",
    "schema_version", "base_version", "payload", "outcome", "rule", "exception_id", "reason"),
    converted=("occurred_at", "received_at"))
UNIT_INSERT = RowInsert(t.units, (*UNIT_FIELDS, "condition_codes", "version", "received_device", "received_at",
                                  "reclassified_at", "stored_at"),
                        converted=("received_at", "reclassified_at", "stored_at"))
CHANGE_INSERT = RowInsert(t.changes, ("device_id", "site_id", "kind", "key", "body"))


def _same(value: Any) -> Any:
    return value


def one_of(dialect: Dialect, column: Column, values: list[str]) -> ColumnElement[bool]:
    """`column IN values` with the values in one bound parameter, so a batch's hundreds of ids
    compile and bind like one (SQLAlchemy renders an IN list parameter by parameter)."""
    if dialect.name == "sqlite":
        return column.in_(select(literal_column("value")).select_from(func.json_each(dumps(values))))
    if dialect.name == "postgresql":
        # Not `column = ANY(:values)`: psycopg prepares a statement run five times, and while a growing
        # table has no statistics yet PostgreSQL's generic plan for that scans the whole table,
        # comparing each row with every value (up to 60 ms a push in bench/ingest.py). The semi-join
        # on unnest is planned as an index lookup per value.
        return column.in_(select(func.unnest(bindparam(None, values, type_=postgresql.ARRAY(String)))))
    return column.in_(values)


def dumps(value: Any) -> str:
    """JSON text for a JSON column; orjson, or the standard library for what orjson refuses (huge ints)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def dumps_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def add_stock(conn: Connection, deltas: Counter) -> None:
    """Apply the batch's stock movements in one upsert; stock may never go negative (invariant 6)."""
    rows = [(sku, b, str(status), d) for (sku, b, status), d in deltas.items() if d]
    if not rows:
        return
    dialect = conn.dialect
    if dialect.driver in _BULK_DRIVERS:
        # Plain SQL, all rows in one statement (compiling the ON CONFLICT statement cost more than
        # running it, and a round trip per row cost PostgreSQL more still); RETURNING gives the new
        # quantities, so neither check below scans the table.
        if dialect.driver == "pysqlite":
            source = ("SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
                      "json_extract(value, '$[3]') FROM json_each(?) WHERE true")  # WHERE: see SQLite's upsert docs
            params: tuple[Any, ...] = (dumps(rows),)
        else:
            source = "SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[])"
            params = tuple(map(list, zip(*rows)))
        totals = conn.exec_driver_sql(
            f"INSERT INTO stock (sku, bin_code, status, qty) {source} ON CONFLICT (sku, bin_code, status) "
            "DO UPDATE SET qty = stock.qty + excluded.qty RETURNING sku, bin_code, status, qty", params).all()
    else:
        statement = (postgresql if dialect.name == "postgresql" else sqlite).insert(t.stock)
        statement = statement.on_conflict_do_update(index_elements=["sku", "bin_code", "status"],
                                                    set_={"qty": t.stock.c.qty + statement.excluded.qty})
        totals = [conn.execute(statement.values(sku=sku, bin_code=b, status=status, qty=d)
                               .returning(*t.stock.c)).one() for sku, b, status, d in rows]
    if any(qty < 0 for *_, qty in totals):
        raise RuntimeError("stock would go negative: the applied movements are inconsistent")
    emptied = [{"s": sku, "b": b, "st": status} for sku, b, status, qty in totals if qty == 0]
    if emptied:
        c = t.stock.c
        conn.execute(t.stock.delete().where(c.sku == bindparam("s"), c.bin_code == bindparam("b"),
                                            c.status == bindparam("st")), emptied)
