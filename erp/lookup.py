"""Read-only lookups for supervisors and handhelds: a unit's history, and a stored photo.

People sign in with HTTP Basic (supervisors and admins); a device with its id and bearer secret,
and it reads only what belongs to its own site. Anything else of another site answers 404, as an
unknown one does, so a device cannot probe what exists elsewhere.
"""

# Annotations stay evaluated: FastAPI reads the dependency alias defined inside router().
import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path
from fastapi.responses import Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.engine import Engine

from domain import Actor, ReturnUnit, UnknownEntity
from domain.labels import LPN_PATTERN
from sync.protocol import API_PREFIX, DEVICE_HEADER

from . import tables as t
from .docs import refusals
from .ingest import Device, unit_from_row


class HistoryStep(BaseModel):
    """One event a device pushed about the unit, and what the server made of it."""

    event_id: str
    type: str
    actor: str
    role: str
    device_id: str
    device_seq: int
    occurred_at: dt.datetime  # the device's clock
    received_at: dt.datetime  # the server's clock, when it applied the event
    outcome: str  # applied, conflict or rejected
    rule: str | None  # the named rule that resolved it, if one did
    exception_id: str | None
    reason: str | None


class UnitHistory(BaseModel):
    site_id: str
    unit: ReturnUnit
    steps: list[HistoryStep]  # in HLC order, the order devices' steps are shown in


# What a photo's first bytes say it is; the upload carries no content type.
_IMAGE_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"))


def media_type(content: bytes) -> str:
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for signature, kind in _IMAGE_SIGNATURES if content.startswith(signature)),
                "application/octet-stream")


def router(reads: Engine, *, device: Callable[..., Device], person: Callable[..., Actor]) -> APIRouter:
    """The lookup routes; `device` and `person` are the app's own authentication dependencies, so
    a lookup is authenticated and throttled exactly as every other route."""
    routes = APIRouter(prefix=API_PREFIX, responses=refusals(401, 403, 404, 422))
    basic = HTTPBasic(auto_error=False)

    def caller(x_returnflow_device: Annotated[str | None, Header(alias=DEVICE_HEADER)] = None,
               authorization: Annotated[str | None, Header()] = None,
               credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)] = None) -> Device | Actor:
        """A device when it names itself, otherwise a person."""
        if x_returnflow_device is not None:
            return device(x_returnflow_device=x_returnflow_device, authorization=authorization)
        return person(credentials=credentials)

    Caller = Annotated[Device | Actor, Depends(caller)]

    def refuse_other_site(who: Device | Actor, site_id: str | None, unknown: UnknownEntity) -> None:
        if isinstance(who, Device) and site_id != who.site_id:
            raise unknown

    @routes.get("/units/{lpn}/history", response_model=UnitHistory)
    def unit_history(who: Caller, lpn: Annotated[str, Path(pattern=LPN_PATTERN)]) -> UnitHistory:
        """A unit's state and every event devices pushed about it, with each one's outcome."""
        with reads.connect() as conn:
            row = conn.execute(select(t.units, t.bins.c.site_id).join(t.bins, t.bins.c.code == t.units.c.bin_code)
                               .where(t.units.c.lpn == lpn)).first()
            if row is None:
                raise UnknownEntity("unit", lpn)
            refuse_other_site(who, row.site_id, UnknownEntity("unit", lpn))
            e = t.events.c
            # Events name their unit inside the payload, which no index covers yet: this reads every
            # event. An expression index on the payload's lpn would keep it flat as the log grows.
            steps = conn.execute(
                select(e.event_id, e.type, e.actor, e.role, e.device_id, e.device_seq, e.occurred_at, e.received_at,
                       e.outcome, e.rule, e.exception_id, e.reason)
                .where(e.payload["lpn"].as_string() == lpn).order_by(e.hlc, e.device_id, e.device_seq)).all()
        return UnitHistory(site_id=row.site_id, unit=unit_from_row(row),
                           steps=[HistoryStep(**step._mapping) for step in steps])

    @routes.get("/photos/{sha256}", response_class=Response, responses={200: {
        "description": "the photo as it was uploaded",
        "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                    for kind in ("image/jpeg", "image/png", "image/gif", "image/webp", "application/octet-stream")}}})
    def get_photo(who: Caller, sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")]) -> Response:
        """A photo by its content hash; a device reads the photos its own site's devices uploaded."""
        with reads.connect() as conn:
            row = conn.execute(select(t.photos.c.content, t.devices.c.site_id)
                               .join(t.devices, t.devices.c.device_id == t.photos.c.device_id, isouter=True)
                               .where(t.photos.c.sha256 == sha256)).first()
        if row is None:
            raise UnknownEntity("photo", sha256)
        refuse_other_site(who, row.site_id, UnknownEntity("photo", sha256))
        # Addressed by its content: the same address always holds the same bytes.
        return Response(row.content, media_type=media_type(row.content),
                        headers={"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{sha256}"'})

    return routes
