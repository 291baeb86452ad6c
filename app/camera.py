"""The camera view's engine: frames from OpenCV, each decoded, shown with its codes outlined.

A thread reads the newest frame (a camera drops what the decoder cannot keep up with; a video
file, the stand-in for a camera in tests and demos, is played at its own frame rate), decodes it,
draws a box around every code found, and hands the view a small JPEG a few times a second. A code
held in view is one scan, not one per frame (the scanner's debounce).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from scanner import Debouncer, Decoder, FrameSourceError, LatestFrame, Read, open_video, png_bytes

PREVIEW_WIDTH = 360  # px: a phone screen's width, and small enough to send 5 times a second
PREVIEW_EVERY_S = 0.2


def camera_source(option: str | None) -> int | str | None:
    """The camera to use: an index or a video file from `option`, else camera 0 when one opens."""
    if option:
        return int(option) if option.isdigit() else option
    # No camera is the usual case on a desk: OpenCV's warnings about failing to open one would only
    # alarm whoever reads the terminal, so its log is quiet for the probe and restored after.
    log_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    capture = cv2.VideoCapture(0)
    try:
        return 0 if capture.isOpened() else None
    finally:
        capture.release()
        cv2.utils.logging.setLogLevel(log_level)


def blank_png() -> bytes:
    """What the preview shows before its first frame: one white pixel."""
    return png_bytes(np.full((1, 1), 255, dtype=np.uint8))


def capture_still(source: int | str | Path) -> bytes:
    """One photo from the camera, as JPEG, for an inspection; FrameSourceError when it cannot."""
    capture = open_video(source)
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        raise FrameSourceError("the camera gave no picture: try again, or add a photo from the files")
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return encoded.tobytes()


class CameraFeed:
    def __init__(self, source: int | str | Path, *, on_preview: Callable[[bytes], None],
                 on_scan: Callable[[Read], None], on_error: Callable[[str], None]) -> None:
        self._source = source
        self._on_preview, self._on_scan, self._on_error = on_preview, on_scan, on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            capture = open_video(self._source)
        except FrameSourceError as failed:
            self._on_error(str(failed))
            return
        live = isinstance(self._source, int)
        decoder, debouncer = Decoder(retry=False), Debouncer(window=1.5)
        try:
            if live:
                with LatestFrame(capture) as latest:
                    self._watch(((frame, at) for _, at, frame in latest.frames()), decoder, debouncer)
            else:
                self._watch(_paced(capture, self._stop), decoder, debouncer)
        finally:
            capture.release()

    def _watch(self, frames, decoder: Decoder, debouncer: Debouncer) -> None:
        shown = 0.0
        for frame, at in frames:
            if self._stop.is_set():
                return
            reads = decoder.decode(frame)
            for read in reads:
                if debouncer.admit(f"{read.symbology}:{read.text}", at):
                    self._on_scan(read)
            if time.monotonic() - shown >= PREVIEW_EVERY_S or reads:
                shown = time.monotonic()
                self._on_preview(preview_jpeg(frame, reads))


def preview_jpeg(frame: np.ndarray, reads: list[Read]) -> bytes:
    """The frame scaled to the preview width, each decoded code outlined in green."""
    image = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    image = image.copy()
    for read in reads:
        points = np.array([[p.x, p.y] for p in read.position], dtype=np.int32)
        if len(points):
            cv2.polylines(image, [points], isClosed=True, color=(0, 200, 0), thickness=max(3, image.shape[1] // 160))
    scale = PREVIEW_WIDTH / image.shape[1]
    small = cv2.resize(image, (PREVIEW_WIDTH, max(1, int(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return encoded.tobytes() if ok else b""


def _paced(capture, stop: threading.Event):
    """A video file's frames at the file's own rate, looping, as a camera would deliver them."""
    fps = capture.get(cv2.CAP_PROP_FPS) or 15.0
    started, index = time.monotonic(), 0
    while not stop.is_set():
        ok, frame = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = capture.read()
            if not ok:
                return
        index += 1
        delay = started + index / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield frame, time.monotonic()
