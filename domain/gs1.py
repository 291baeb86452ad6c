"""GS1 check digits and GTIN normalisation (the domain validates master data without I/O).

Scanning input is parsed by scanner/ with biip; this module only guards the catalogue.
"""

from __future__ import annotations

from .errors import InvalidInput

GTIN_LENGTHS = (8, 12, 13, 14)
GTIN_PATTERN = r"^\s*([0-9]{8}|[0-9]{12,14})\s*$"  # for the OpenAPI document; a check digit is beyond it


def gs1_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for a string of digits (weights 3,1,... from the right)."""
    reversed_digits = body[::-1]
    total = 3 * sum(map(int, reversed_digits[0::2])) + sum(map(int, reversed_digits[1::2]))
    return (10 - total % 10) % 10


def normalize_gtin(value: str) -> str:
    """Return the GTIN-14 form of a GTIN-8/12/13/14, refusing a wrong length or check digit."""
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) not in GTIN_LENGTHS:
        raise InvalidInput(f"not a GTIN: {value!r} (8, 12, 13 or 14 digits)")
    if gs1_check_digit(digits[:-1]) != int(digits[-1]):
        raise InvalidInput(f"GTIN {digits}: check digit wrong")
    return digits.zfill(14)
