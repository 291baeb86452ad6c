"""Bounds on every number and time a client sends, and on how much of its input an error quotes.

Each bound says what the domain can mean and stays within what SQLite's INTEGER and PostgreSQL's
BIGINT hold, so an extreme value is refused as input (a 422 naming the field) before it reaches the
database or a date calculation. Integers are strict: "1" or true where a number belongs is a
client's bug, not a number.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StrictInt, WithJsonSchema

BIGINT_MAX = 2**63 - 1

Seq = Annotated[StrictInt, Field(ge=1, le=BIGINT_MAX)]  # a device's event counter, a feed position
Version = Annotated[StrictInt, Field(ge=0, le=BIGINT_MAX)]  # an entity's server version (0: never seen)
LineNo = Annotated[StrictInt, Field(ge=1, le=9_999)]  # an RMA line (a 32-bit column on PostgreSQL)
Quantity = Annotated[StrictInt, Field(ge=1, le=1_000_000)]  # units an RMA line expects
Count = Annotated[StrictInt, Field(ge=0, le=1_000_000)]  # units counted in a bin
# Money in the currency's smallest unit: ten billion whole units, far beyond any one item or refund.
Cents = Annotated[StrictInt, Field(ge=0, le=10**12)]
SchemaVersion = Annotated[StrictInt, Field(ge=1, le=1_000)]

# Years as written, 1970 to 2099. A handheld whose clock lost power reads 1970, and its scans must
# still sync; nothing returnflow records happens after 2099. With any UTC offset (under a day) and a
# skew correction of a century such a time stays far inside Python's datetime (years 1 to 9999), so
# converting it to UTC or correcting it cannot overflow, and it fits either database.
FIRST_YEAR, LAST_YEAR = 1970, 2099
# For the OpenAPI document. Not as a pattern beside the format: generators then discard nearly all
# the times they make, and a pattern alone would not say what a time is.
_YEARS = f"year {FIRST_YEAR} to {LAST_YEAR}"


def _text_not_number(value: Any) -> Any:
    # A bare number would be read as seconds since 1970: a sloppy client, not a time.
    if isinstance(value, int | float):
        raise ValueError("give a date as ISO 8601 text")
    return value


def _in_years(value: dt.date) -> dt.date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"year {value.year} is outside {FIRST_YEAR} to {LAST_YEAR}")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_text_not_number), AfterValidator(_in_years),
                    WithJsonSchema({"type": "string", "format": "date-time", "description": f"with an offset; {_YEARS}"})]
Day = Annotated[dt.date, BeforeValidator(_text_not_number), AfterValidator(_in_years),
                WithJsonSchema({"type": "string", "format": "date", "description": _YEARS})]

# An error answer quotes at most QUOTE_LIMIT characters of any one value a client sent (an
# attacker's megabyte is not sent back) and says at most MAX_MESSAGE characters in all.
QUOTE_LIMIT = 80
MAX_MESSAGE = 1_000
_LONG = re.compile(r"""'(?:[^'\\]|\\.){%d,}'|"(?:[^"\\]|\\.){%d,}"|\S{%d,}""" % ((QUOTE_LIMIT + 1,) * 3))


def brief(message: str) -> str:
    """`message` with each quoted value, and each run of text without a space, over QUOTE_LIMIT cut short."""
    head = message[:2 * MAX_MESSAGE]  # what is cut here is past the end anyway; it bounds the search
    shortened = _LONG.sub(lambda m: m[0][:QUOTE_LIMIT] + "…", head)
    return shortened if len(shortened) <= MAX_MESSAGE and head == message else shortened[:MAX_MESSAGE] + "…"


Brief = Annotated[str, AfterValidator(brief)]
