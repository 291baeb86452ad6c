"""Barcode images written by zxing-cpp: label sheets to print (LPN labels) and sample codes."""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp

__all__ = ["barcode_image", "png_bytes"]


def barcode_image(content: str, fmt: zxingcpp.BarcodeFormat, *, scale: int = 3, gs1: bool = False) -> np.ndarray:
    """A clean grayscale symbol with its quiet zones."""
    created = zxingcpp.create_barcode(content, fmt, gs1=True) if gs1 else zxingcpp.create_barcode(content, fmt)
    return np.array(zxingcpp.write_barcode_to_image(created, scale=scale))


def png_bytes(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("the image could not be encoded as PNG")
    return encoded.tobytes()
