"""Errors raised by the scanner package.

Every message is written for the associate holding the scanner: it says what
went wrong and what to do next, never a traceback or a library's wording.

    ScanError                     base: anything a scan can fail with
    ├── UnreadableError           no barcode could be read (or the image/video is unusable)
    ├── CheckDigitError           the code was read but its check digit is wrong
    ├── UnknownFormatError        the code was read but is no format we accept here
    └── FrameSourceError          the camera or video file cannot be opened
"""

from __future__ import annotations

__all__ = [
    "CheckDigitError",
    "FrameSourceError",
    "ScanError",
    "UnknownFormatError",
    "UnreadableError",
]


class ScanError(Exception):
    """Base class of every scanner error; `str(error)` is fit to show an associate."""

    def __init__(self, message: str, *, text: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The content that failed, when there was any, for logs and support.
        self.text = text


class UnreadableError(ScanError):
    """No barcode could be decoded, or the input is not an image at all."""


class CheckDigitError(ScanError):
    """A code whose check digit does not match its data: a misread or a bad label."""


class UnknownFormatError(ScanError):
    """Decoded content that is not a format the scanner knows or accepts."""


class FrameSourceError(ScanError):
    """A camera index or video file that cannot be opened or read."""
