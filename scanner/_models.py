"""Value types shared by the decoder, the classifier and the frame sources."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Point", "Read", "Symbology"]


class Symbology(StrEnum):
    """Barcode symbologies, named independently of either decoder library."""

    EAN13 = "ean13"
    EAN8 = "ean8"
    UPCA = "upca"
    UPCE = "upce"
    CODE128 = "code128"
    CODE39 = "code39"
    CODE93 = "code93"
    CODABAR = "codabar"
    ITF = "itf"
    DATABAR = "databar"
    DATABAR_EXPANDED = "databar_expanded"
    DATABAR_LIMITED = "databar_limited"
    QR = "qr"
    MICRO_QR = "micro_qr"
    RMQR = "rmqr"
    DATAMATRIX = "datamatrix"
    PDF417 = "pdf417"
    MICRO_PDF417 = "micro_pdf417"
    AZTEC = "aztec"
    MAXICODE = "maxicode"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Read:
    """One barcode decoded from one image.

    `text` is the content as encoded: GS1 data keeps its 0x1D separators and
    never carries a symbology identifier prefix. `aim_id` is the AIM symbology
    identifier (``]C1``, ``]E0``...) when the decoder knows it; zbar does not
    report one for most symbologies. `gs1` is True when the symbol itself flags
    GS1 data (FNC1 in first position); zbar cannot tell GS1-128 from Code 128,
    so its Code 128 reads say False.
    """

    symbology: Symbology
    text: str
    raw: bytes
    aim_id: str | None
    gs1: bool
    position: tuple[Point, Point, Point, Point]  # top-left, top-right, bottom-right, bottom-left
    decoder: str  # "zxing" or "zbar"

    @property
    def center(self) -> Point:
        return Point(
            sum(p.x for p in self.position) // 4,
            sum(p.y for p in self.position) // 4,
        )


# AIM identifiers whose modifier says "GS1 data": GS1-128, GS1 DataMatrix,
# GS1 QR, and DataBar (always GS1). Used for typed/wedge input, where the AIM
# identifier is all there is to go by.
GS1_AIM_IDS = frozenset({"]C1", "]d2", "]Q3", "]e0"})
