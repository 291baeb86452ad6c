"""Frame sources (camera or video file through OpenCV) and debounce.

A camera delivers frames at its own pace. When decoding is slower, a reader
thread keeps only the newest frame in a one-slot buffer and counts the ones it
overwrote: the scanner works on what the camera sees now, and memory stays flat.
A video file is read frame by frame, since nothing is lost by waiting for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from scanner._decode import Decoder
from scanner._exceptions import FrameSourceError
from scanner._models import Read

__all__ = ["Debouncer", "LatestFrame", "Sighting", "open_video", "scan_video"]


@dataclass(frozen=True, slots=True)
class Sighting:
    """A code seen for the first time in the debounce window."""

    read: Read
    frame: int  # index of the frame in the source (0-based)
    at: float  # seconds: video time for a file, clock time for a camera


class Debouncer:
    """The same code seen again within `window` seconds of its last sighting is one scan.

    Every sighting restarts the window, so a code held in view for minutes still
    gives one scan; it scans again once it has been out of view for `window`.
    """

    def __init__(self, *, window: float = 1.0) -> None:
        self._window = window
        self._last: dict[str, float] = {}

    def __len__(self) -> int:
        """How many codes are remembered (bounded: old ones are forgotten)."""
        return len(self._last)

    def admit(self, key: str, at: float) -> bool:
        """True when `key` at time `at` is a new scan."""
        last = self._last.get(key)
        self._last[key] = at
        if len(self._last) > 256:
            # Forget codes out of view for longer than the window: memory stays bounded.
            self._last = {k: t for k, t in self._last.items() if at - t <= self._window}
        return last is None or at - last > self._window


def open_video(source: int | str | Path) -> Any:
    """Open a camera index or a video file with OpenCV; FrameSourceError if it will not open."""
    capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    if not capture.isOpened():
        capture.release()
        what = f"camera {source}" if isinstance(source, int) else f"video {source}"
        raise FrameSourceError(f"{what} cannot be opened: check the camera or the file")
    return capture


class LatestFrame:
    """Read frames on a thread into a one-slot buffer; the consumer always gets the newest.

    Use as a context manager; iterate `frames()` for (index, time, frame).
    """

    def __init__(self, capture: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._capture = capture
        self._clock = clock
        self._slot: tuple[int, float, np.ndarray] | None = None
        self._changed = threading.Condition()
        self._finished = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scanner-frames", daemon=True)
        self.dropped = 0

    def __enter__(self) -> LatestFrame:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            ok, frame = self._capture.read()
            with self._changed:
                if not ok:
                    self._finished = True
                    self._changed.notify_all()
                    return
                if self._slot is not None:
                    self.dropped += 1
                self._slot = (index, self._clock(), frame)
                self._changed.notify_all()
            index += 1

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        while True:
            with self._changed:
                while self._slot is None and not self._finished:
                    self._changed.wait()
                if self._slot is None:
                    return
                item, self._slot = self._slot, None
            yield item


def scan_video(
    source: int | str | Path,
    *,
    decoder: Decoder | None = None,
    window: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Sighting]:
    """Decode a camera (int index) or a video file, yielding each code once per window.

    A camera drops frames while the decoder is busy (see LatestFrame); a file is
    decoded frame by frame with its own timestamps, so results do not depend on
    the speed of the machine. The default decoder skips the retries on a camera:
    the next frame is the retry, and an empty frame then costs one decode, not all.
    """
    live = isinstance(source, int)
    decoder = decoder or Decoder(retry=not live)
    debouncer = Debouncer(window=window)
    capture = open_video(source)
    try:
        if live:
            with LatestFrame(capture, clock=clock) as latest:
                yield from _sightings(latest.frames(), decoder, debouncer)
        else:
            yield from _sightings(_file_frames(capture), decoder, debouncer)
    finally:
        capture.release()


def _file_frames(capture: Any) -> Iterator[tuple[int, float, np.ndarray]]:
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield index, index / fps, frame
        index += 1


def _sightings(
    frames: Iterator[tuple[int, float, np.ndarray]], decoder: Decoder, debouncer: Debouncer
) -> Iterator[Sighting]:
    for index, at, frame in frames:
        for read in decoder.decode(frame):
            if debouncer.admit(f"{read.symbology}:{read.text}", at):
                yield Sighting(read=read, frame=index, at=at)
