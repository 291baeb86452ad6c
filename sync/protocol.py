"""The sync protocol's wire types, shared by the device sync engine and the central API.

Imports only pydantic and domain/: neither SQLAlchemy nor Flet nor httpx.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from domain import SCHEMA_VERSION, Event
from domain.bounds import Brief, Instant
from domain.conflicts import Outcome
from domain.entities import Model
from domain.events import DeviceId

API_PREFIX = "/api/v1"
DEVICE_HEADER = "X-Returnflow-Device"
SECRET_HEADER = "Authorization"  # "Bearer <device secret>"


class PushRequest(Model):
    device_id: DeviceId
    # The device's wall clock when it sent the batch: the server measures clock skew from it.
    sent_at: Instant
    events: list[Event] = Field(min_length=1)


class EventResult(Model):
    """What the server did with one event. A rejected event is still acknowledged: the device
    stops sending it and shows the reason."""

    event_id: uuid.UUID
    device_seq: int
    outcome: Outcome
    rule: str | None = None
    exception_id: str | None = None
    reason: str | None = None


class PushResponse(Model):
    results: list[EventResult]
    last_seq: int = Field(description="the device's last applied device_seq after this push")
    received_at: dt.datetime


class ChangeKind(StrEnum):
    """What a pull feed entry carries. Master data and RMAs replace the device's copy by key (a body
    {"deleted": true} removes it); the rest are sync bookkeeping."""

    CATEGORY = "category"
    REASON_CODE = "reason_code"
    CONDITION_CODE = "condition_code"
    RULES = "rules"  # the whole disposition rule set, in order, under key "all"
    ITEM = "item"
    BIN = "bin"  # a whole bin, or a reassignment's purpose, zone and owner
    USER = "user"
    RMA = "rma"
    UNIT = "unit"  # the server's state of a return unit
    EXCEPTION = "exception"
    RESOLUTION = "resolution"
    RESULT = "result"  # a rejection or conflict for one of this device's events
    # This device's events through body["last_seq"] are reflected in every later entry.
    ACK = "ack"


# Answers the device reads ignore fields they do not know, so a newer server does not break it.
class PullChange(BaseModel):
    seq: int
    kind: str
    key: str
    body: dict[str, Any]


class PullPage(BaseModel):
    changes: list[PullChange]
    cursor: int
    more: bool


class Problem(Model):
    """Every 4xx answer: a stable machine code and a sentence for people."""

    error: str
    message: Brief  # quotes at most a short prefix of any value the client sent
    expected_seq: int | None = None
    detail: Any = None


def is_supported_schema(version: int) -> bool:
    return 1 <= version <= SCHEMA_VERSION
