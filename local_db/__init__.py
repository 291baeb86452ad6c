"""The durable device store: SQLite via sqlite-utils, event log, outbox and projections."""

from .errors import NotInitialized, SchemaTooNew, StoreError
from .schema import LATEST_VERSION, MIGRATIONS, Migration
from .store import DeviceStore, Environment, RefusedEvent, StoreSummary

__all__ = [
    "LATEST_VERSION", "MIGRATIONS", "DeviceStore", "Environment", "Migration", "NotInitialized",
    "RefusedEvent", "SchemaTooNew", "StoreError", "StoreSummary",
]
