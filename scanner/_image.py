"""Image fixes the decoder retries with when nothing was read: grey, upscaled, sharpened,
equalised, deskewed, darkened; each fixed image carries the matrix that maps its reads back."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from scanner._models import Point, Read


# Below this longer side, modules are often 1-2 pixels and a 2x upscale helps.
_UPSCALE_MAX_SIDE = 800
# Deskew only a clear single direction, off the axes by more than decoders tolerate.
_MIN_COHERENCE = 0.3
_MIN_SKEW_DEGREES = 4.0


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class Fixes:
    """Fixed versions of one image, computed on first use, each with the affine
    matrix that maps its points back to the original."""

    def __init__(self, gray: np.ndarray) -> None:
        self._gray = gray
        self._done: dict[str, tuple[np.ndarray, np.ndarray] | None] = {"original": (gray, _IDENTITY)}

    def get(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        if name not in self._done:
            self._done[name] = getattr(self, f"_{name}")()
        return self._done[name]

    def _upscaled(self) -> tuple[np.ndarray, np.ndarray] | None:
        if max(self._gray.shape[:2]) > _UPSCALE_MAX_SIDE:
            return None
        big = cv2.resize(self._gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        return big, np.array([[0.5, 0, 0], [0, 0.5, 0]])

    def _upscaled_sharpened(self) -> tuple[np.ndarray, np.ndarray] | None:
        upscaled = self.get("upscaled")
        return None if upscaled is None else (_sharpen(upscaled[0]), upscaled[1])

    def _upscaled_equalized(self) -> tuple[np.ndarray, np.ndarray] | None:
        upscaled = self.get("upscaled")
        return None if upscaled is None else (_equalize(upscaled[0]), upscaled[1])

    def _sharpened(self) -> tuple[np.ndarray, np.ndarray] | None:
        return _sharpen(self._gray), _IDENTITY

    def _equalized(self) -> tuple[np.ndarray, np.ndarray] | None:
        return _equalize(self._gray), _IDENTITY

    def _deskewed(self) -> tuple[np.ndarray, np.ndarray] | None:
        angle = _skew_angle(self._gray)
        return None if angle is None else _rotated(self._gray, angle)


def _sharpen(gray: np.ndarray) -> np.ndarray:
    """Unsharp mask: restores edges of a slightly out-of-focus symbol."""
    return cv2.addWeighted(gray, 2.0, cv2.GaussianBlur(gray, (0, 0), 2), -1.0, 0)


def _equalize(gray: np.ndarray) -> np.ndarray:
    """CLAHE: stretches local contrast of faded print or a label in shadow."""
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)


# gamma 2: mid grey 128 becomes 64, so the 50 % edge of a blurred bar moves into the space.
_DARKEN_LUT = (255 * (np.arange(256) / 255.0) ** 2).astype(np.uint8)


def darken(gray: np.ndarray) -> np.ndarray:
    """Gamma 2: widens bars that over-exposure or blur has thinned (and fades glare)."""
    return cv2.LUT(gray, _DARKEN_LUT)


def _skew_angle(gray: np.ndarray) -> float | None:
    """The angle (degrees) of a dominant bar direction that is neither horizontal nor
    vertical, or None. Linear decoders scan rows and columns and lose a 1D symbol
    tilted by more than a few degrees; a photo of a carton often is.

    Uses the magnitude-weighted mean of doubled gradient angles (a structure tensor
    over the image): bars give one strong direction, clutter averages out.
    """
    small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) if max(gray.shape) > 600 else gray
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    weight = gx * gx + gy * gy
    total = float(weight.sum())
    if total == 0.0:
        return None
    c = float((weight * np.cos(2 * np.arctan2(gy, gx))).sum())
    s = float((weight * np.sin(2 * np.arctan2(gy, gx))).sum())
    if np.hypot(c, s) / total < _MIN_COHERENCE:
        return None
    angle = float(np.degrees(0.5 * np.arctan2(s, c)))
    off_axis = abs(((angle + 45) % 90) - 45)
    return angle if off_axis >= _MIN_SKEW_DEGREES else None


def _rotated(gray: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate so the dominant gradient is horizontal (bars vertical), on a canvas large
    enough to keep the corners; returns the image and the matrix back to `gray`."""
    height, width = gray.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[0, 2] += new_w / 2 - width / 2
    matrix[1, 2] += new_h / 2 - height / 2
    border = int(cv2.mean(gray)[0])
    rotated = cv2.warpAffine(gray, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=border)
    return rotated, cv2.invertAffineTransform(matrix)


def map_back(read: Read, matrix: np.ndarray) -> Read:
    """Positions found on a fixed image, in the coordinates of the original."""
    position = tuple(
        Point(
            int(matrix[0][0] * p.x + matrix[0][1] * p.y + matrix[0][2]),
            int(matrix[1][0] * p.x + matrix[1][1] * p.y + matrix[1][2]),
        )
        for p in read.position
    )
    return replace(read, position=position)
