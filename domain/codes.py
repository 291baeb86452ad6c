"""Closed vocabularies of the returns domain, as string enums (their values go on the wire)."""

from __future__ import annotations

from enum import StrEnum


class UnitState(StrEnum):
    RECEIVED = "received"
    INSPECTED = "inspected"
    GRADED = "graded"
    DISPOSITIONED = "dispositioned"
    QUARANTINED = "quarantined"
    DISPUTED = "disputed"
    STORED = "stored"
    CLOSED = "closed"
    # A receipt undone (wrong RMA, wrong item, double scan): final, and no unit at all for stock
    # or for its RMA line. Its LPN may be received again, as a new receipt.
    VOIDED = "voided"


class Grade(StrEnum):
    A = "A"  # sealed / like new
    B = "B"  # open box, good
    C = "C"  # used or cosmetic damage
    D = "D"  # damaged or not working
    X = "X"  # wrong item, empty box, suspected fraud


class Disposition(StrEnum):
    RESTOCK = "restock"
    REFURBISH = "refurbish"
    VENDOR_RETURN = "vendor_return"
    LIQUIDATE = "liquidate"
    SCRAP = "scrap"
    QUARANTINE = "quarantine"


class BinType(StrEnum):
    DOCK = "dock"
    INSPECTION = "inspection"
    QUARANTINE = "quarantine"
    RESTOCK = "restock"
    REFURBISH = "refurbish"
    VENDOR_RETURN = "vendor_return"
    LIQUIDATION = "liquidation"
    SCRAP = "scrap"


# The one bin type each disposition may be stored in.
BIN_TYPE_FOR_DISPOSITION: dict[Disposition, BinType] = {
    Disposition.RESTOCK: BinType.RESTOCK,
    Disposition.REFURBISH: BinType.REFURBISH,
    Disposition.VENDOR_RETURN: BinType.VENDOR_RETURN,
    Disposition.LIQUIDATE: BinType.LIQUIDATION,
    Disposition.SCRAP: BinType.SCRAP,
    Disposition.QUARANTINE: BinType.QUARANTINE,
}

# Bin types a unit may sit in while it is still being processed (received, inspected, graded).
PROCESSING_BIN_TYPES = frozenset({BinType.DOCK, BinType.INSPECTION})


class Role(StrEnum):
    ASSOCIATE = "associate"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Channel(StrEnum):
    WEB = "web"
    MARKETPLACE = "marketplace"
    STORE = "store"
    PHONE = "phone"


class RmaState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    INSPECTED = "inspected"
    REFUNDED = "refunded"
    REPLACED = "replaced"
    REJECTED = "rejected"
    CLOSED = "closed"


# A device receives only against RMAs in these states; anything else is refused at the dock.
RECEIVABLE_RMA_STATES = frozenset({RmaState.APPROVED, RmaState.IN_TRANSIT, RmaState.RECEIVED})

# The reason code of a unit whose customer gave no reason (master data holds it): an item received
# out of an RMA's package but on none of its lines takes this, never another line's reason.
NO_REASON_GIVEN = "unknown"
