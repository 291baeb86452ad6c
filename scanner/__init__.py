"""Frames and keystrokes in, classified scans out.

Decode images with `Decoder` (zxing-cpp first, zbar as fallback and second
opinion), classify content with `classify`, combine two-label items with
`ScanSession`, read cameras and video files with `scan_video`, and parse
keyboard-wedge input with `parse_wedge` / `WedgeReader`. Every failure a user
can cause is a `ScanError` whose message is fit to show on the handheld.
Our own label formats are described in LABELS.md beside this file.
"""

from scanner._classify import (
    BIN_TYPE_CODES,
    BinType,
    Scan,
    ScanKind,
    classify,
    classify_read,
    gs1_check_digit,
    symbology_from_aim,
)
from scanner._decode import Decoder, decode_image, decode_image_bytes
from scanner._exceptions import (
    CheckDigitError,
    FrameSourceError,
    ScanError,
    UnknownFormatError,
    UnreadableError,
)
from scanner._frames import Debouncer, LatestFrame, Sighting, open_video, scan_video
from scanner._models import Point, Read, Symbology
from scanner._render import barcode_image, png_bytes
from scanner._session import ItemIdentity, ScanSession
from scanner._wedge import DEFAULT_GS_STAND_INS, InputSource, WedgeInput, WedgeReader, parse_wedge

__all__ = [
    "BIN_TYPE_CODES",
    "DEFAULT_GS_STAND_INS",
    "BinType",
    "CheckDigitError",
    "Debouncer",
    "Decoder",
    "FrameSourceError",
    "InputSource",
    "ItemIdentity",
    "LatestFrame",
    "Point",
    "Read",
    "Scan",
    "ScanError",
    "ScanKind",
    "ScanSession",
    "Sighting",
    "Symbology",
    "UnknownFormatError",
    "UnreadableError",
    "WedgeInput",
    "WedgeReader",
    "barcode_image",
    "classify",
    "classify_read",
    "decode_image",
    "decode_image_bytes",
    "png_bytes",
    "gs1_check_digit",
    "open_video",
    "parse_wedge",
    "scan_video",
    "symbology_from_aim",
]
