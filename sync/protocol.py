"""The sync protocol's wire types, shared by the device sync engine and the central API.

Imports only pydantic and domain/: neither SQLAlchemy nor Flet nor httpx.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from domain import SCHEMA_VERSION, Event
from domain.entities import Model

API_PREFIX = "/api/v1"
DEVICE_HEADER = "X-Returnflow-Device"
SECRET_HEADER = "Authorization"  # "Bearer <device secret>"


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"


class PushRequest(Model):
    device_id: str
    # The device's wall clock when it sent the batch: the server measures clock skew from it.
    sent_at: AwareDatetime
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


class Problem(Model):
    """Every 4xx answer: a stable machine code and a sentence for people."""

    error: str
    message: str
    expected_seq: int | None = None
    detail: Any = None


def is_supported_schema(version: int) -> bool:
    return 1 <= version <= SCHEMA_VERSION
