"""Bodies of the office endpoints (a device's are in sync/protocol.py): made of the domain's own
types, so a request is held to the same bounds as the event or record it becomes, and the OpenAPI
document says what the server accepts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from domain import Disposition, Grade
from domain.bounds import Brief, Cents, Instant
from domain.entities import BinCode, Model, RmaId, SiteId, Text, UserId
from domain.events import DeviceId


class ReleaseRequest(Model):
    note: Text


class ReassignRequest(Model):
    purpose: Text
    zone: Annotated[str, Field(pattern="^[A-Z]$")]
    owner: UserId
    move_contents_to: BinCode | None = None


class RefundDecision(Model):
    rma_id: RmaId
    decision: Literal["refund", "replace", "credit", "reject"]
    amount_cents: Cents
    decided_at: Instant


class ResolveRequest(Model):
    grade: Grade | None = None
    disposition: Disposition | None = None
    note: Text


class ProvisionRequest(Model):
    device_id: DeviceId
    site_id: SiteId


class ProvisionedDevice(BaseModel):
    device_id: str
    site_id: str
    secret: str


class RowError(BaseModel):
    """One record an import refused: its row (from 1), its key if it had one, and why."""

    row: int
    key: Brief | None  # as the client sent it: quoted like any input
    message: Brief


class ImportReport(BaseModel):
    written: int
    errors: list[RowError]

