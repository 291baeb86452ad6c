"""returnflow's own label formats (documented in scanner/LABELS.md; scanner/ recognises them).

- bin:  BIN-<type code>-<zone letter><two digits>, e.g. BIN-QUA-A01
- LPN:  LPN-<nine digits><GS1 mod-10 check digit>
- RMA:  RMA-<seven digits><GS1 mod-10 check digit>
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from .codes import BinType
from .errors import InvalidInput
from .gs1 import gs1_check_digit

BIN_TYPE_CODES: dict[BinType, str] = {
    BinType.DOCK: "DCK",
    BinType.INSPECTION: "INS",
    BinType.QUARANTINE: "QUA",
    BinType.RESTOCK: "RST",
    BinType.REFURBISH: "RFB",
    BinType.VENDOR_RETURN: "VND",
    BinType.LIQUIDATION: "LIQ",
    BinType.SCRAP: "SCR",
}
# ASCII digits only: Python's \d also takes other scripts' digits, which no label carries.
_BIN_RE = re.compile(r"BIN-(?P<type>[A-Z]{3})-(?P<zone>[A-Z])(?P<number>[0-9]{2})")
_LPN_RE = re.compile(r"LPN-([0-9]{10})")
_RMA_RE = re.compile(r"RMA-([0-9]{8})")
# The same grammars for the OpenAPI document, so that clients generate well-formed labels (a check
# digit is beyond what a JSON Schema pattern can state).
BIN_PATTERN = f"^BIN-({'|'.join(BIN_TYPE_CODES.values())})-[A-Z][0-9]{{2}}$"
LPN_PATTERN = r"^LPN-[0-9]{10}$"
RMA_PATTERN = r"^RMA-[0-9]{8}$"


def bin_code(bin_type: BinType, zone: str, number: int) -> str:
    return f"BIN-{BIN_TYPE_CODES[bin_type]}-{zone}{number:02d}"


_BIN_TYPE_BY_CODE: dict[str, BinType] = {v: k for k, v in BIN_TYPE_CODES.items()}


def bin_type_of(code: str) -> BinType:
    """The bin type a bin label names; refuses a code that is not a bin label."""
    match = _BIN_RE.fullmatch(code)
    if not match or match["type"] not in _BIN_TYPE_BY_CODE:
        raise InvalidInput(f"not a bin label: {code!r} (expected like BIN-QUA-A01)")
    return _BIN_TYPE_BY_CODE[match["type"]]


def validate_bin_code(code: str) -> str:
    bin_type_of(code)
    return code


def _with_check_digit(prefix: str, number: int, width: int) -> str:
    body = f"{number:0{width}d}"
    if len(body) != width:
        raise InvalidInput(f"{prefix} number {number} does not fit {width} digits")
    return f"{prefix}-{body}{gs1_check_digit(body)}"


def _validate(kind: str, pattern: re.Pattern[str], value: str, example: Callable[[], str]) -> str:
    match = pattern.fullmatch(value)
    if not match:
        raise InvalidInput(f"not an {kind}: {value!r} (expected like {example()})")
    digits = match[1]
    if gs1_check_digit(digits[:-1]) != int(digits[-1]):
        raise InvalidInput(f"{kind} {value}: check digit wrong, rescan or type the number")
    return value


def lpn(number: int) -> str:
    return _with_check_digit("LPN", number, 9)


def rma_id(number: int) -> str:
    return _with_check_digit("RMA", number, 7)


# Memoised: every event of a unit carries its LPN, and the central API validates thousands of events
# a second. Pure functions; a refused value raises again every time (lru_cache keeps no exceptions).
@lru_cache(maxsize=16384)
def validate_lpn(value: str) -> str:
    return _validate("LPN", _LPN_RE, value, lambda: lpn(1))


@lru_cache(maxsize=4096)
def validate_rma_id(value: str) -> str:
    return _validate("RMA", _RMA_RE, value, lambda: rma_id(1))
