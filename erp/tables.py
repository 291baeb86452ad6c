"""The central API's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Migrations in erp/migrations create and upgrade them; this module is what queries are written against.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

metadata = MetaData()


class UtcDateTime(TypeDecorator):
    """Timestamps stored in UTC and read back aware on both engines (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | str | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # an ISO 8601 text from a JSON record
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:  # the server's own naive timestamps are UTC
            return value
        return value.astimezone(dt.UTC).replace(tzinfo=None if dialect.name == "sqlite" else dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _ts(name: str, **kw) -> Column:
    return Column(name, UtcDateTime(), **kw)


sites = Table("sites", metadata, Column("site_id", String(32), primary_key=True), Column("name", Text, nullable=False))

devices = Table(
    "devices", metadata,
    Column("device_id", String(64), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.site_id"), nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    _ts("provisioned_at", nullable=False),
    _ts("revoked_at"),
)

# Per-device ledger: the last applied device_seq, updated in the same transaction as the effects.
ledger = Table(
    "ledger", metadata,
    Column("device_id", String(64), ForeignKey("devices.device_id"), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_skew_ms", BigInteger),
    _ts("last_push_at"),
)

users = Table(
    "users", metadata,
    Column("user_id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("pin_hash", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("version", BigInteger, nullable=False),
)

categories = Table(
    "categories", metadata,
    Column("code", String(40), primary_key=True),
    Column("name", Text, nullable=False),
    Column("checklist", JSON, nullable=False),
)
reason_codes = Table("reason_codes", metadata, Column("code", String(40), primary_key=True),
                     Column("label", Text, nullable=False))
condition_codes = Table("condition_codes", metadata, Column("code", String(40), primary_key=True),
                        Column("label", Text, nullable=False))
disposition_rules = Table(
    "disposition_rules", metadata,
    Column("rule_id", String(40), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("body", JSON, nullable=False),
)

items = Table(
    "items", metadata,
    Column("sku", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("category", String(40), ForeignKey("categories.code"), nullable=False),
    Column("serial_tracked", Boolean, nullable=False),
    Column("lot_tracked", Boolean, nullable=False),
    Column("unit_value_cents", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
)
item_gtins = Table(
    "item_gtins", metadata,
    Column("gtin", String(14), primary_key=True),
    Column("sku", String(32), ForeignKey("items.sku"), nullable=False, index=True),
)

bins = Table(
    "bins", metadata,
    Column("code", String(16), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.site_id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("zone", String(1), nullable=False),
    Column("purpose", Text),
    Column("owner", String(32)),
    Column("version", BigInteger, nullable=False),
    _ts("reassigned_at"),
)

rmas = Table(
    "rmas", metadata,
    Column("rma_id", String(16), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("order_ref", Text, nullable=False),
    _ts("created_at", nullable=False),
    _ts("first_received_at"),
    Column("version", BigInteger, nullable=False),
)
rma_lines = Table(
    "rma_lines", metadata,
    Column("rma_id", String(16), ForeignKey("rmas.rma_id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(32), nullable=False),
    Column("expected_qty", Integer, nullable=False),
    Column("reason_code", String(40), nullable=False),
    Column("received_qty", Integer, nullable=False),
)

# Every event a device pushed, with the result it got: a duplicate is answered from here.
events = Table(
    "events", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("device_id", String(64), nullable=False),
    Column("device_seq", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("hlc", String(22), nullable=False),
    Column("actor", String(32), nullable=False),
    Column("role", String(16), nullable=False),
    _ts("occurred_at", nullable=False),
    _ts("received_at", nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("base_version", BigInteger, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("rule", String(40)),
    Column("exception_id", String(40)),
    Column("reason", Text),
    UniqueConstraint("device_id", "device_seq", name="events_device_seq"),
)

units = Table(
    "units", metadata,
    Column("lpn", String(16), primary_key=True),
    Column("sku", String(32), nullable=False),
    Column("rma_id", String(16)),
    Column("line_no", Integer),
    Column("serial", String(40)),
    Column("lot", String(40)),
    Column("expiry", String(10)),
    Column("reason_code", String(40), nullable=False),
    Column("state", String(16), nullable=False),
    Column("held_from", String(16)),
    Column("bin_code", String(16), nullable=False),
    Column("condition_codes", JSON, nullable=False),
    Column("grade", String(1)),
    Column("disposition", String(16)),
    Column("version", BigInteger, nullable=False),
    Column("received_device", String(64), nullable=False),
    _ts("received_at", nullable=False),
    _ts("reclassified_at"),
    _ts("stored_at"),
    Index("units_serial", "sku", "serial"),
)

stock = Table(
    "stock", metadata,
    Column("sku", String(32), primary_key=True),
    Column("bin_code", String(16), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("qty", BigInteger, nullable=False),
)

exceptions = Table(
    "exceptions", metadata,
    Column("exception_id", String(40), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lpn", String(16)),
    Column("bin_code", String(16)),
    Column("device_id", String(64)),
    Column("event_id", String(36)),
    Column("detail", JSON, nullable=False),
    _ts("opened_at", nullable=False),
    _ts("resolved_at"),
    Column("resolved_by", String(32)),
    Column("resolution", JSON),
    Index("exceptions_open", "status", "opened_at"),
)

# Who did what, from which device, when it happened there and when the server heard of it.
audit = Table(
    "audit", metadata,
    Column("audit_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("rule", String(40), nullable=False),
    Column("event_id", String(36)),
    Column("device_id", String(64)),
    Column("actor", String(32)),
    _ts("occurred_at"),
    _ts("received_at", nullable=False),
    Column("skew_ms", BigInteger),
    Column("detail", JSON, nullable=False),
)

photos = Table(
    "photos", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("device_id", String(64), nullable=False),
    _ts("uploaded_at", nullable=False),
)

refunds = Table(
    "refunds", metadata,
    Column("rma_id", String(16), ForeignKey("rmas.rma_id"), primary_key=True),
    Column("decision", String(16), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    _ts("decided_at", nullable=False),
)

# Bin counts from supervisors: what was counted against what the server expected at that point.
bin_counts = Table(
    "bin_counts", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("sku", String(32), primary_key=True),
    Column("bin_code", String(16), nullable=False),
    Column("counted", Integer, nullable=False),
    Column("expected", Integer, nullable=False),
    _ts("counted_at", nullable=False),
)

# The pull feed: every change a device may need, in commit order. device_id NULL: for every device
# (of the site, when site_id is set; of every site otherwise).
changes = Table(
    "changes", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(64)),
    Column("site_id", String(32)),
    Column("kind", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("body", JSON, nullable=False),
    Index("changes_device", "device_id", "seq"),
)
