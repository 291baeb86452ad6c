"""The two barcode libraries behind the decoder, zxing-cpp and zbar (pyzbar), each giving Reads in
the image's coordinates with the symbology and AIM identifier the rest of the scanner expects."""

from __future__ import annotations

import numpy as np
import zxingcpp
from pyzbar import pyzbar

from scanner._models import Point, Read, Symbology


def zxing_reads(gray: np.ndarray) -> list[Read]:
    return [
        Read(
            symbology=_ZXING_SYMBOLOGY.get(found.format, Symbology.OTHER),
            text=found.text,
            raw=bytes(found.bytes),
            aim_id=found.symbology_identifier or None,
            gs1=found.content_type == zxingcpp.ContentType.GS1,
            position=(
                Point(found.position.top_left.x, found.position.top_left.y),
                Point(found.position.top_right.x, found.position.top_right.y),
                Point(found.position.bottom_right.x, found.position.bottom_right.y),
                Point(found.position.bottom_left.x, found.position.bottom_left.y),
            ),
            decoder="zxing",
        )
        for found in zxingcpp.read_barcodes(gray, text_mode=zxingcpp.TextMode.Plain)
    ]


def zbar_reads(gray: np.ndarray, symbols: list[pyzbar.ZBarSymbol] | None = None) -> list[Read]:
    reads = []
    for found in pyzbar.decode(gray, symbols=symbols):
        symbology = _ZBAR_SYMBOLOGY.get(found.type, Symbology.OTHER)
        text = _zbar_text(found.data)
        if symbology is Symbology.CODE39 and _looks_full_ascii(text):
            # zbar does not expand Code 39 full-ASCII pairs ("+A" = "a"): the text
            # would be wrong, and zxing-cpp has already had its chance.
            continue
        left, top, width, height = found.rect
        reads.append(
            Read(
                symbology=symbology,
                text=text,
                raw=found.data,
                aim_id=_ZBAR_AIM.get(symbology),
                gs1=symbology in (Symbology.DATABAR, Symbology.DATABAR_EXPANDED),
                position=(
                    Point(left, top),
                    Point(left + width, top),
                    Point(left + width, top + height),
                    Point(left, top + height),
                ),
                decoder="zbar",
            )
        )
    return reads


def _zbar_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _looks_full_ascii(text: str) -> bool:
    return any(a in "$%/+" and b.isalpha() for a, b in zip(text, text[1:], strict=False))


_ZXING_FORMATS = {
    Symbology.EAN13: ("EAN13", "ISBN"),
    Symbology.EAN8: ("EAN8",),
    Symbology.UPCA: ("UPCA",),
    Symbology.UPCE: ("UPCE",),
    Symbology.CODE128: ("Code128",),
    Symbology.CODE39: ("Code39", "Code39Std", "Code39Ext", "Code32", "PZN"),
    Symbology.CODE93: ("Code93",),
    Symbology.CODABAR: ("Codabar",),
    Symbology.ITF: ("ITF", "ITF14"),
    Symbology.DATABAR: ("DataBar", "DataBarOmni", "DataBarStk", "DataBarStkOmni"),
    Symbology.DATABAR_EXPANDED: ("DataBarExp", "DataBarExpStk"),
    Symbology.DATABAR_LIMITED: ("DataBarLtd",),
    Symbology.QR: ("QRCode", "QRCodeModel1", "QRCodeModel2"),
    Symbology.MICRO_QR: ("MicroQRCode",),
    Symbology.RMQR: ("RMQRCode",),
    Symbology.DATAMATRIX: ("DataMatrix",),
    Symbology.PDF417: ("PDF417", "CompactPDF417"),
    Symbology.MICRO_PDF417: ("MicroPDF417",),
    Symbology.AZTEC: ("Aztec", "AztecCode", "AztecRune"),
    Symbology.MAXICODE: ("MaxiCode",),
}
_ZXING_SYMBOLOGY = {
    getattr(zxingcpp.BarcodeFormat, name): symbology
    for symbology, names in _ZXING_FORMATS.items()
    for name in names
}

_ZBAR_SYMBOLOGY = {
    "EAN13": Symbology.EAN13,
    "ISBN13": Symbology.EAN13,
    "EAN8": Symbology.EAN8,
    "UPCA": Symbology.UPCA,
    "UPCE": Symbology.UPCE,
    "ISBN10": Symbology.EAN13,
    "CODE128": Symbology.CODE128,
    "CODE39": Symbology.CODE39,
    "CODE93": Symbology.CODE93,
    "CODABAR": Symbology.CODABAR,
    "I25": Symbology.ITF,
    "DATABAR": Symbology.DATABAR,
    "DATABAR_EXP": Symbology.DATABAR_EXPANDED,
    "QRCODE": Symbology.QR,
    "PDF417": Symbology.PDF417,
}
ZBAR_RETAIL = [
    pyzbar.ZBarSymbol.EAN13,
    pyzbar.ZBarSymbol.EAN8,
    pyzbar.ZBarSymbol.UPCA,
    pyzbar.ZBarSymbol.UPCE,
    pyzbar.ZBarSymbol.ISBN10,
    pyzbar.ZBarSymbol.ISBN13,
]
# Only where the symbology alone fixes the identifier: zbar cannot tell GS1-128
# from Code 128, so those reads carry no AIM identifier at all.
_ZBAR_AIM = {
    Symbology.EAN13: "]E0",
    Symbology.UPCA: "]E0",
    Symbology.UPCE: "]E0",
    Symbology.EAN8: "]E4",
    Symbology.DATABAR: "]e0",
    Symbology.DATABAR_EXPANDED: "]e0",
}
