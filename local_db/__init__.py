"""The durable device store: SQLite via sqlite-utils, event log, outbox and projections."""

from .errors import NotInitialized, SchemaTooNew, StoreError
from .schema import LATEST_VERSION, MIGRATIONS, Migration
from .reads import Environment, StoreSummary
from .store import DeviceStore
from .sync_side import RefusedEvent

__all__ = [
    "LATEST_VERSION", "MIGRATIONS", "DeviceStore", "Environment", "Migration", "NotInitialized",
    "RefusedEvent", "SchemaTooNew", "StoreError", "StoreSummary",
]
