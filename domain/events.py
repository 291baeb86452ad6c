"""Events: every change a device makes, as an envelope around one typed payload per step."""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator

from .bounds import Count, Day, Instant, LineNo, SchemaVersion, Seq, Version
from .clock import _HLC_RE, Hlc
from .codes import Disposition, Grade, Role
from .entities import BinCode, Code, Inspection, Lpn, Model, RmaId, Sku, Text, UserId
from .errors import InvalidInput
from .roles import Permission
from .rules import DispositionDecision

# Bump when a payload changes shape; the server upgrades older events and refuses newer ones.
SCHEMA_VERSION = 1

_DEVICE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def validate_device_id(value: str) -> str:
    if not _DEVICE_ID_RE.fullmatch(value):
        raise InvalidInput(f"not a device id: {value!r} (letters, digits, '.', '_' or '-', at most 64)")
    return value


DeviceId = Annotated[str, AfterValidator(validate_device_id),
                     WithJsonSchema({"type": "string", "pattern": f"^{_DEVICE_ID_RE.pattern}$"})]
IDENTIFIER = re.compile(r"[\x21-\x7e]{1,40}")  # a serial, lot or reference: printable ASCII, no spaces
Identifier = Annotated[str, Field(pattern=f"^{IDENTIFIER.pattern}$")]


class EventType(StrEnum):
    RMA_RECEIPT = "rma_receipt"
    BLIND_RECEIPT = "blind_receipt"
    INSPECTION = "inspection_recorded"
    GRADING = "unit_graded"
    DISPOSITION = "disposition_decided"
    STORE = "unit_stored"
    QUARANTINE = "unit_quarantined"
    QUARANTINE_RELEASE = "quarantine_released"
    BIN_REASSIGNMENT = "bin_reassigned"
    BIN_COUNT = "bin_counted"
    EXCEPTION_RESOLUTION = "exception_resolved"
    # Corrections: a unit's last step undone by a new event (the log is never edited).
    RECEIPT_VOID = "receipt_voided"
    REGRADE = "unit_regraded"
    DISPOSITION_REOPENING = "disposition_reopened"
    MOVE = "unit_moved"


class _Receipt(Model):
    lpn: Lpn
    sku: Sku
    serial: Identifier | None = None
    lot: Identifier | None = None
    expiry: Day | None = None
    bin_code: BinCode


class RmaReceipt(_Receipt):
    type: Literal[EventType.RMA_RECEIPT] = EventType.RMA_RECEIPT
    rma_id: RmaId
    line_no: LineNo


class BlindReceipt(_Receipt):
    """A package with no RMA: received as a fact, matched to an RMA later by the ERP."""

    type: Literal[EventType.BLIND_RECEIPT] = EventType.BLIND_RECEIPT
    reason_code: Code
    package_ref: Identifier | None = None


class InspectionRecorded(Model):
    type: Literal[EventType.INSPECTION] = EventType.INSPECTION
    lpn: Lpn
    inspection: Inspection


class UnitGraded(Model):
    type: Literal[EventType.GRADING] = EventType.GRADING
    lpn: Lpn
    grade: Grade


class DispositionDecided(Model):
    type: Literal[EventType.DISPOSITION] = EventType.DISPOSITION
    lpn: Lpn
    decision: DispositionDecision


class UnitStored(Model):
    type: Literal[EventType.STORE] = EventType.STORE
    lpn: Lpn
    bin_code: BinCode


class UnitQuarantined(Model):
    type: Literal[EventType.QUARANTINE] = EventType.QUARANTINE
    lpn: Lpn
    reason: Text


class QuarantineReleased(Model):
    type: Literal[EventType.QUARANTINE_RELEASE] = EventType.QUARANTINE_RELEASE
    lpn: Lpn
    note: Text


class BinReassigned(Model):
    """A supervisor re-purposes a quarantine bin and may move its contents to another one."""

    type: Literal[EventType.BIN_REASSIGNMENT] = EventType.BIN_REASSIGNMENT
    bin_code: BinCode
    purpose: Text
    zone: Annotated[str, Field(pattern=r"^[A-Z]$")]
    owner: UserId
    move_contents_to: BinCode | None = None


class BinCounted(Model):
    """What a supervisor counted in a bin, per SKU; the expected figures are the device's at that moment."""

    type: Literal[EventType.BIN_COUNT] = EventType.BIN_COUNT
    bin_code: BinCode
    counts: dict[Sku, Count]


class ExceptionResolved(Model):
    type: Literal[EventType.EXCEPTION_RESOLUTION] = EventType.EXCEPTION_RESOLUTION
    exception_id: Identifier
    lpn: Lpn | None = None
    grade: Grade | None = None
    disposition: Disposition | None = None
    note: Text


class ReceiptVoided(Model):
    """A receipt undone while nothing else was done to the unit; its LPN is free again."""

    type: Literal[EventType.RECEIPT_VOID] = EventType.RECEIPT_VOID
    lpn: Lpn
    reason: Text


class UnitRegraded(Model):
    """Another grade for a graded unit, or a dispositioned one not yet stored (its disposition goes:
    the suggestion depends on the grade). It names the grade it corrects, so that the server can
    tell a correction of what stands from one of a grade another device changed meanwhile."""

    type: Literal[EventType.REGRADE] = EventType.REGRADE
    lpn: Lpn
    grade: Grade
    previous_grade: Grade
    reason: Text

    @model_validator(mode="after")
    def _changes_the_grade(self) -> UnitRegraded:
        if self.grade is self.previous_grade:
            raise ValueError(f"the unit is graded {self.grade.value} already: choose another grade")
        return self


class DispositionReopened(Model):
    """A disposition withdrawn before storage: the unit is graded again and decided again, through
    the disposition rules like any decision. It names the disposition it withdraws (see UnitRegraded)."""

    type: Literal[EventType.DISPOSITION_REOPENING] = EventType.DISPOSITION_REOPENING
    lpn: Lpn
    previous_disposition: Disposition
    reason: Text


class UnitMoved(Model):
    """A stored unit (or a quarantined one in a quarantine bin) moved to another bin that fits it."""

    type: Literal[EventType.MOVE] = EventType.MOVE
    lpn: Lpn
    bin_code: BinCode


Payload = Annotated[
    RmaReceipt
    | BlindReceipt
    | InspectionRecorded
    | UnitGraded
    | DispositionDecided
    | UnitStored
    | UnitQuarantined
    | QuarantineReleased
    | BinReassigned
    | BinCounted
    | ExceptionResolved
    | ReceiptVoided
    | UnitRegraded
    | DispositionReopened
    | UnitMoved,
    Field(discriminator="type"),
]

# The permission each event needs; devices check it before writing, the server again on receipt.
EVENT_PERMISSION: dict[EventType, Permission] = {
    EventType.RMA_RECEIPT: Permission.RECEIVE,
    EventType.BLIND_RECEIPT: Permission.RECEIVE,
    EventType.INSPECTION: Permission.INSPECT,
    EventType.GRADING: Permission.GRADE,
    EventType.DISPOSITION: Permission.DECIDE_DISPOSITION,
    EventType.STORE: Permission.STORE,
    EventType.QUARANTINE: Permission.QUARANTINE,
    EventType.QUARANTINE_RELEASE: Permission.RELEASE_QUARANTINE,
    EventType.BIN_REASSIGNMENT: Permission.REASSIGN_BIN,
    EventType.BIN_COUNT: Permission.COUNT_BIN,
    EventType.EXCEPTION_RESOLUTION: Permission.RESOLVE_EXCEPTION,
    # A correction needs the permission of the step it corrects.
    EventType.RECEIPT_VOID: Permission.RECEIVE,
    EventType.REGRADE: Permission.GRADE,
    EventType.DISPOSITION_REOPENING: Permission.DECIDE_DISPOSITION,
    EventType.MOVE: Permission.STORE,
}


_UUID7_TEXT = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _uuid_text(value: object) -> object:
    # Written one way only, as a device writes it: pydantic would also take other spellings.
    if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value) is None:
        raise ValueError("event_id must be a UUID written as 8-4-4-4-12 hex digits")
    return value


def _is_uuid7(value: uuid.UUID) -> uuid.UUID:
    if value.version != 7:
        raise ValueError("event_id must be a UUIDv7")
    return value


def _is_hlc(value: str) -> str:
    if _HLC_RE.fullmatch(value) is None:  # exactly when Hlc.parse refuses it, without building the tuple
        Hlc.parse(value)
    return value


class Event(Model):
    event_id: Annotated[uuid.UUID, BeforeValidator(_uuid_text), AfterValidator(_is_uuid7),
                        WithJsonSchema({"type": "string", "format": "uuid", "pattern": _UUID7_TEXT})]
    device_id: DeviceId
    device_seq: Seq
    hlc: Annotated[str, AfterValidator(_is_hlc), WithJsonSchema({"type": "string", "pattern": f"^{_HLC_RE.pattern}$"})]
    actor: UserId
    role: Role
    occurred_at: Instant
    type: EventType
    schema_version: SchemaVersion = SCHEMA_VERSION
    # The server version of the entity the device last saw (0: never seen from the server).
    base_version: Version = 0
    payload: Payload

    @model_validator(mode="after")
    def _type_matches_payload(self) -> Event:
        if self.payload.type != self.type:
            raise ValueError(f"event type {self.type} does not match payload type {self.payload.type}")
        return self
