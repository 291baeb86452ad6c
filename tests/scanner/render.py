"""Barcode images for scanner tests: written by zxing-cpp, degraded with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp

from scanner import barcode_image, png_bytes  # noqa: F401 - re-exported for the tests

F = zxingcpp.BarcodeFormat


barcode = barcode_image  # a clean symbol, as the scanner package writes labels


def on_canvas(
    symbol: np.ndarray, *, width: int = 640, height: int = 480, at: tuple[int, int] | None = None
) -> np.ndarray:
    """Paste a symbol on a white page (a photo has more than the symbol in it).

    The page grows to fit a symbol larger than it."""
    width, height = max(width, symbol.shape[1] + 80), max(height, symbol.shape[0] + 80)
    canvas = np.full((height, width), 255, dtype=np.uint8)
    top, left = at if at is not None else ((height - symbol.shape[0]) // 2, (width - symbol.shape[1]) // 2)
    canvas[top : top + symbol.shape[0], left : left + symbol.shape[1]] = symbol
    return canvas


def blur(image: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def noise(image: np.ndarray, sigma: float = 25.0, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image.astype(np.float32) + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate on a canvas large enough to keep the whole page."""
    height, width = image.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[0, 2] += new_w / 2 - width / 2
    matrix[1, 2] += new_h / 2 - height / 2
    return cv2.warpAffine(image, matrix, (new_w, new_h), borderValue=255)


def perspective(image: np.ndarray, squeeze: float = 0.15) -> np.ndarray:
    """Tilt the page away from the camera: the far edge gets shorter."""
    height, width = image.shape
    inset = width * squeeze
    src = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    dst = np.float32([[inset, 0], [width - inset, 0], [width, height], [0, height]])
    return cv2.warpPerspective(image, cv2.getPerspectiveTransform(src, dst), (width, height), borderValue=255)


def low_contrast(image: np.ndarray, low: int = 110, high: int = 150) -> np.ndarray:
    """Grey bars on a grey label: the full range squeezed into [low, high]."""
    return (low + image.astype(np.float32) * (high - low) / 255).astype(np.uint8)
