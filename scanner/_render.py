"""Barcode images written by zxing-cpp: label sheets to print (LPN labels) and sample codes."""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp

__all__ = ["barcode_image", "png_bytes"]


def barcode_image(content: str, fmt: zxingcpp.BarcodeFormat, *, scale: int = 3, gs1: bool = False,
                  text: bool = False) -> np.ndarray:
    """A clean grayscale symbol with its quiet zones; with `text`, the content printed under the
    bars, for a person to read or type when the scanner cannot read the label."""
    created = zxingcpp.create_barcode(content, fmt, gs1=True) if gs1 else zxingcpp.create_barcode(content, fmt)
    symbol = np.array(zxingcpp.write_barcode_to_image(created, scale=scale))
    return _with_text_under(symbol, content, scale) if text else symbol


def _with_text_under(symbol: np.ndarray, text: str, scale: int) -> np.ndarray:
    # zxing-cpp's own human-readable text is a fixed small bitmap font; this one grows with the
    # symbol (about 7 px of letter height per unit of scale) and never overhangs the bars.
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, scale // 2)
    (width, height), _ = cv2.getTextSize(text, font, 1.0, thickness)
    size = min(0.9 * symbol.shape[1] / width, scale / 3)
    width, height = int(width * size), int(height * size)
    margin = 3 * scale
    band = np.full((height + 2 * margin, symbol.shape[1]), 255, dtype=np.uint8)
    cv2.putText(band, text, ((symbol.shape[1] - width) // 2, margin + height), font, size, 0, thickness, cv2.LINE_AA)
    return np.vstack([symbol, band])


def png_bytes(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("the image could not be encoded as PNG")
    return encoded.tobytes()
