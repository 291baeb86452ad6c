"""Entities of the returns domain: master data owned by the ERP and the return units a device creates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationError, WithJsonSchema,
                      model_validator)

from .bounds import Cents, Instant, LineNo, Quantity
from .codes import BinType, Channel, Disposition, Grade, RmaState, Role, UnitState
from .errors import InvalidInput
from .gs1 import GTIN_PATTERN, normalize_gtin
from .labels import (BIN_PATTERN, LPN_PATTERN, RMA_PATTERN, bin_type_of, validate_bin_code, validate_lpn,
                     validate_rma_id)


def _pattern(pattern: str) -> WithJsonSchema:
    """How a label validated in code is written, for the OpenAPI document."""
    return WithJsonSchema({"type": "string", "pattern": pattern})


Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Gtin14 = Annotated[str, AfterValidator(normalize_gtin), _pattern(GTIN_PATTERN)]
Lpn = Annotated[str, AfterValidator(validate_lpn), _pattern(LPN_PATTERN)]
RmaId = Annotated[str, AfterValidator(validate_rma_id), _pattern(RMA_PATTERN)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# Free text people type: bounded, and no control characters (they break terminals, CSV and PostgreSQL).
Text = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$")]
Sku = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$")]
UserId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{1,31}$")]
BinCode = Annotated[str, AfterValidator(validate_bin_code), _pattern(BIN_PATTERN)]
SiteId = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,31}$")]
M = TypeVar("M", bound=BaseModel)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def describe(errors: Sequence[Mapping[str, Any]], whole: str, limit: int | None = None) -> str:
    """Validation errors in one line, each after the field it concerns (`whole` names the value
    itself); the first `limit` only, where a client may have sent thousands of wrong values."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or whole}: {str(err['msg']).removeprefix('Value error, ')}"
                     for err in errors[:limit])


def build(model: type[M], **fields: object) -> M:
    """Construct `model`, turning a validation failure into one InvalidInput naming the field."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise InvalidInput(describe(exc.errors(), model.__name__)) from None


class ChecklistQuestion(Model):
    question_id: Code
    text: Text


class Category(Model):
    code: Code
    name: Text
    checklist: tuple[ChecklistQuestion, ...]


class ReasonCode(Model):
    """Why the customer returned the item (given on the RMA line or at a blind receipt)."""

    code: Code
    label: Text


class ConditionCode(Model):
    """What the inspector found (several per inspection)."""

    code: Code
    label: Text


class Item(Model):
    sku: Sku
    name: Text
    category: Code
    gtins: tuple[Gtin14, ...] = Field(min_length=1)
    serial_tracked: StrictBool = False
    lot_tracked: StrictBool = False
    unit_value_cents: Cents


class Bin(Model):
    code: BinCode
    type: BinType
    zone: Annotated[str, Field(pattern=r"^[A-Z]$")]
    purpose: Text | None = None
    owner: UserId | None = None

    @model_validator(mode="after")
    def _type_matches_the_label(self) -> Bin:
        if bin_type_of(self.code) is not self.type:
            raise InvalidInput(f"bin {self.code} is labelled {bin_type_of(self.code).value}, not {self.type.value}")
        return self


class RmaLine(Model):
    line_no: LineNo
    sku: Sku
    expected_qty: Quantity
    reason_code: Code


class Rma(Model):
    rma_id: RmaId
    state: RmaState
    channel: Channel
    order_ref: Text
    created_at: Instant
    lines: tuple[RmaLine, ...] = Field(min_length=1)

    def line(self, line_no: int) -> RmaLine | None:
        return next((line for line in self.lines if line.line_no == line_no), None)


class User(Model):
    user_id: UserId
    name: Text
    role: Role
    pin_hash: str
    active: bool = True  # read from SQLite's 0 and 1 too (admins send a UserRecord)


class Actor(Model):
    """Who does something: a signed-in user and the role they act in."""

    user_id: UserId
    role: Role


class Inspection(Model):
    answers: dict[Code, StrictBool]
    condition_codes: tuple[Code, ...] = ()
    notes: str = Field(default="", max_length=2000)
    photo_hashes: tuple[Sha256Hex, ...] = ()


class ReturnUnit(Model):
    """One physical unit received, identified by its license plate (LPN). The server's state of it,
    not a client's input: the events that build it are bounded, and a unit stored before those
    bounds existed still reads."""

    lpn: Lpn
    sku: Sku
    rma_id: str | None = None
    line_no: int | None = None
    serial: str | None = None
    lot: str | None = None
    expiry: dt.date | None = None
    reason_code: Code
    state: UnitState
    # The state a quarantine or dispute interrupted; release and resolution resume it.
    held_from: UnitState | None = None
    bin_code: str
    condition_codes: tuple[Code, ...] = ()
    grade: Grade | None = None
    disposition: Disposition | None = None
    server_version: int = 0
