"""Decoded content to a classified Scan: item, SSCC, GS1 data, our labels, tracking, unknown.

GS1 parsing and GS1 check digits are biip's (no hand-written AI table). The
formats of our own bin, license-plate and RMA labels are defined here and
documented in ``scanner/LABELS.md``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.sscc import Sscc
from biip.upc import Upc

from scanner._exceptions import CheckDigitError, UnknownFormatError, UnreadableError
from scanner._models import GS1_AIM_IDS, Symbology

if TYPE_CHECKING:
    from biip.gs1_element_strings import GS1ElementStrings

    from scanner._models import Read

__all__ = [
    "BIN_TYPE_CODES",
    "BinType",
    "Scan",
    "ScanKind",
    "classify",
    "classify_read",
    "gs1_check_digit",
    "symbology_from_aim",
]

GS = "\x1d"


class ScanKind(StrEnum):
    ITEM = "item"  # a GTIN alone (EAN/UPC, ITF-14, DataBar, or GS1 data holding only AI 01)
    SSCC = "sscc"  # a logistic unit (AI 00 alone, or the bare 18 digits)
    GS1 = "gs1"  # GS1 element strings with more than a GTIN or SSCC: lot, expiry, serial...
    BIN = "bin"
    LPN = "lpn"
    RMA = "rma"
    TRACKING = "tracking"
    UNKNOWN = "unknown"  # readable, valid content that is none of the above (a URL, a vendor code)


class BinType(StrEnum):
    DOCK = "dock"
    INSPECTION = "inspection"
    QUARANTINE = "quarantine"
    RESTOCK = "restock"
    REFURBISH = "refurbish"
    VENDOR_RETURN = "vendor_return"
    LIQUIDATION = "liquidation"
    SCRAP = "scrap"


BIN_TYPE_CODES: dict[str, BinType] = {
    "DCK": BinType.DOCK,
    "INS": BinType.INSPECTION,
    "QUA": BinType.QUARANTINE,
    "RST": BinType.RESTOCK,
    "RFB": BinType.REFURBISH,
    "VND": BinType.VENDOR_RETURN,
    "LIQ": BinType.LIQUIDATION,
    "SCR": BinType.SCRAP,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Scan:
    """One classified code.

    ``value`` is the canonical identifier of the kind: GTIN-14 for an item, the
    18-digit SSCC, the label text for bin/LPN/RMA, the tracking number, or the
    text itself. ``gs1`` maps application identifiers to values, in label order.
    """

    kind: ScanKind
    value: str
    text: str
    symbology: Symbology | None = None
    aim_id: str | None = None
    gs1: dict[str, str] = field(default_factory=dict)
    expiry: dt.date | None = None
    best_before: dt.date | None = None
    bin_type: BinType | None = None
    bin_zone: str | None = None
    carrier: str | None = None

    @property
    def gtin(self) -> str | None:
        if self.kind is ScanKind.ITEM:
            return self.value
        return self.gs1.get("01") or self.gs1.get("02")

    @property
    def sscc(self) -> str | None:
        return self.value if self.kind is ScanKind.SSCC else self.gs1.get("00")

    @property
    def lot(self) -> str | None:
        return self.gs1.get("10")

    @property
    def serial(self) -> str | None:
        return self.gs1.get("21")


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit of a string of digits (also used by LPN and RMA labels)."""
    return gs1_standard_check_digit(digits)


def classify_read(read: Read) -> Scan:
    return classify(read.text, aim_id=read.aim_id, symbology=read.symbology, gs1=read.gs1)


def classify(
    text: str,
    *,
    aim_id: str | None = None,
    symbology: Symbology | None = None,
    gs1: bool = False,
) -> Scan:
    """Classify decoded content; raise a ScanError subclass for a bad code.

    ``text`` is the content without symbology prefix; a leading AIM identifier
    is still recognised when ``aim_id`` is not given (typed or wedge input).
    ``gs1`` says the symbol flagged GS1 data (a decoder's content type).
    """
    if aim_id is None and _AIM_PREFIX.match(text):
        aim_id, text = text[:3], text[3:]
    if symbology is None and aim_id is not None:
        symbology = symbology_from_aim(aim_id)
    # Scanners and wedges add line ends and padding; no format here uses them.
    content = text.strip(" \r\n\t")
    if content.startswith(GS):
        # Some scanners send the leading FNC1 (the GS1 flag itself) as a GS.
        content, gs1 = content.lstrip(GS), True
    if not content:
        raise UnreadableError("nothing was scanned: scan the code again", text=text)
    base = {"text": content, "symbology": symbology, "aim_id": aim_id}

    own = _own_label(content, base)
    if own is not None:
        return own
    if content.lower().startswith(("http://", "https://")):
        return _digital_link(content, base)
    # Without any flag, GS separators in digit-led data still mean GS1 (a wedge
    # without AIM prefix); ISO 15434 and other GS users start with letters.
    unflagged_gs1 = aim_id is None and GS in content and _DIGITS.fullmatch(content[:2]) is not None
    if gs1 or aim_id in GS1_AIM_IDS or unflagged_gs1:
        return _gs1(content, base)
    if _DIGITS.fullmatch(content):
        return _digits(content, base)
    tracking = _tracking(content)
    if tracking is not None:
        return Scan(kind=ScanKind.TRACKING, value=content.upper(), carrier=tracking, **base)
    return Scan(kind=ScanKind.UNKNOWN, value=content, **base)


# --- our labels -------------------------------------------------------------------------

_BIN = re.compile(r"BIN-([A-Z]{3})-([A-Z])(\d{2})", re.ASCII)
_LPN = re.compile(r"LPN-(\d{10})", re.ASCII)
_RMA = re.compile(r"RMA-(\d{8})", re.ASCII)


def _own_label(content: str, base: dict) -> Scan | None:
    upper = content.upper()  # a wedge typing with caps lock on sends lower case
    prefix = upper[:4]
    if prefix == "BIN-":
        match = _BIN.fullmatch(upper)
        if match is None:
            raise UnknownFormatError(
                "not a bin label (BIN-QUA-A01 style): rescan the bin label", text=content
            )
        code, zone = match.group(1), match.group(2)
        if code not in BIN_TYPE_CODES:
            raise UnknownFormatError(
                f"unknown bin type {code}: check the bin label or call a supervisor", text=content
            )
        return Scan(
            kind=ScanKind.BIN,
            value=upper,
            bin_type=BIN_TYPE_CODES[code],
            bin_zone=zone,
            **base,
        )
    for pattern, kind, name in ((_LPN, ScanKind.LPN, "license plate"), (_RMA, ScanKind.RMA, "RMA")):
        if prefix == f"{kind.value.upper()}-":
            match = pattern.fullmatch(upper)
            if match is None:
                raise UnknownFormatError(
                    f"not a valid {name} label: rescan or type the number", text=content
                )
            digits = match.group(1)
            if gs1_check_digit(digits[:-1]) != int(digits[-1]):
                raise CheckDigitError(
                    f"{name} check digit wrong: rescan or type the number", text=content
                )
            return Scan(kind=kind, value=upper, **base)
    return None


# --- GS1 --------------------------------------------------------------------------------

_AIM_PREFIX = re.compile(r"\][A-Za-z][0-9A-Za-z]")


def _gs1(content: str, base: dict) -> Scan:
    try:
        message = GS1Message.parse(content)
    except ParseError as error:
        raise UnknownFormatError(
            "GS1 label could not be read: rescan, or scan the other barcode on the label",
            text=content,
        ) from error
    return _from_elements(message.element_strings, content, base)


def _digital_link(content: str, base: dict) -> Scan:
    try:
        link = GS1DigitalLinkURI.parse(content)
    except ParseError:
        # An ordinary web address, not GS1 data: valid content, unknown to us.
        return Scan(kind=ScanKind.UNKNOWN, value=content, **base)
    return _from_elements(link.element_strings, content, base)


def _from_elements(elements: GS1ElementStrings, content: str, base: dict) -> Scan:
    for element in elements:
        if element.gtin_error or element.sscc_error or element.gln_error:
            raise CheckDigitError(
                "check digit wrong on the GS1 label: rescan or type the number", text=content
            )
    gs1 = {element.ai.ai: element.value for element in elements}
    dates = {element.ai.ai: element.date for element in elements if element.date is not None}
    extra = {"gs1": gs1, "expiry": dates.get("17"), "best_before": dates.get("15")}
    if set(gs1) == {"01"}:
        return Scan(kind=ScanKind.ITEM, value=gs1["01"], **extra, **base)
    if set(gs1) == {"00"}:
        return Scan(kind=ScanKind.SSCC, value=gs1["00"], **extra, **base)
    value = gs1.get("01") or gs1.get("00") or content
    return Scan(kind=ScanKind.GS1, value=value, **extra, **base)


def _digits(content: str, base: dict) -> Scan:
    """All-digit content: a GTIN, an SSCC, GS1 data without FNC1 flag, or tracking."""
    symbology = base["symbology"]
    length = len(content)
    retail = symbology in (Symbology.EAN13, Symbology.EAN8, Symbology.UPCA, Symbology.UPCE)
    # ]E0 covers EAN-13, UPC-A and UPC-E; EAN-8 has ]E4, so 6-8 digits under ]E0 are UPC-E.
    upce = symbology is Symbology.UPCE or (base["aim_id"] == "]E0" and length <= 8)
    if upce or (retail and length in (6, 7)):
        try:
            return _item(Upc.parse(content).as_upc_a(), base)
        except ParseError as error:
            raise _digit_error("UPC", content) from error
    if retail or (symbology in (None, Symbology.ITF, Symbology.DATABAR) and length in (8, 12, 13, 14)):
        try:
            return _item(content, base)
        except ParseError as error:
            carrier = _tracking(content) if symbology is None else None
            if carrier is not None:
                return Scan(kind=ScanKind.TRACKING, value=content, carrier=carrier, **base)
            raise _digit_error("product code", content) from error
    if length == 18 and symbology in (None, Symbology.CODE128, Symbology.ITF):
        try:
            sscc = Sscc.parse(content)
        except ParseError as error:
            if _tracking(content) is None:
                raise _digit_error("SSCC", content) from error
        else:
            return Scan(kind=ScanKind.SSCC, value=sscc.value, gs1={"00": sscc.value}, **base)
    carrier = _tracking(content)
    if carrier is not None:
        return Scan(kind=ScanKind.TRACKING, value=content, carrier=carrier, **base)
    if symbology in (None, Symbology.CODE128) and content[:2] in ("00", "01", "02"):
        # GS1-128 whose FNC1 flag was lost (zbar, or a wedge without AIM prefix).
        try:
            message = GS1Message.parse(content)
        except ParseError:
            pass
        else:
            return _from_elements(message.element_strings, content, base)
    return Scan(kind=ScanKind.UNKNOWN, value=content, **base)


def _item(digits: str, base: dict) -> Scan:
    gtin = Gtin.parse(digits)
    gtin14 = gtin.as_gtin_14()
    return Scan(kind=ScanKind.ITEM, value=gtin14, gs1={"01": gtin14}, **base)


def _digit_error(what: str, content: str) -> CheckDigitError:
    return CheckDigitError(f"{what} check digit wrong: rescan or type the number", text=content)


# --- carrier tracking numbers -----------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts '²' and other scripts
_UPS = re.compile(r"1Z[0-9A-Z]{16}", re.ASCII)
_USPS = re.compile(r"9[2-5]\d{20}", re.ASCII)


def _tracking(content: str) -> str | None:
    """The carrier of a tracking number whose own check digit holds, else None."""
    upper = content.upper()
    if _UPS.fullmatch(upper) and upper[17] in "0123456789" and _ups_check(upper[2:17]) == int(upper[17]):
        return "ups"
    if _USPS.fullmatch(upper) and gs1_check_digit(upper[:-1]) == int(upper[-1]):
        return "usps"
    return None


def _ups_check(body: str) -> int:
    # UPS 1Z: letters count as (ord - 63) mod 10; odd positions x1, even x2, mod 10.
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(values[0::2]) + 2 * sum(values[1::2])
    return (10 - total % 10) % 10


# --- AIM identifiers --------------------------------------------------------------------

_AIM_SYMBOLOGY = {
    "A": Symbology.CODE39,
    "C": Symbology.CODE128,
    "d": Symbology.DATAMATRIX,
    "e": Symbology.DATABAR,
    "F": Symbology.CODABAR,
    "G": Symbology.CODE93,
    "I": Symbology.ITF,
    "L": Symbology.PDF417,
    "Q": Symbology.QR,
    "z": Symbology.AZTEC,
}


def symbology_from_aim(aim_id: str) -> Symbology | None:
    """The symbology an AIM identifier names, where one letter fixes it."""
    if len(aim_id) != 3 or aim_id[0] != "]":
        return None
    if aim_id[1] == "E":
        return Symbology.EAN8 if aim_id[2] == "4" else Symbology.EAN13
    return _AIM_SYMBOLOGY.get(aim_id[1])
