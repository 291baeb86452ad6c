"""Video files and cameras: debounce of a code seen in consecutive frames, and frame dropping."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from scanner import Debouncer, FrameSourceError, LatestFrame, open_video, scan_video
from tests.scanner import render
from tests.scanner.render import F

FPS = 10
SIZE = (640, 480)


def _frame(symbol: np.ndarray | None) -> np.ndarray:
    blank = np.full((SIZE[1], SIZE[0]), 255, dtype=np.uint8)
    return blank if symbol is None else render.on_canvas(symbol, width=SIZE[0], height=SIZE[1])


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """10 fps: blank 0-4, bin label 5-14, blank 15-19, bin label 20-24, EAN-13 25-29."""
    bin_label = render.barcode("BIN-QUA-A01", F.QRCode, scale=8)
    ean = render.barcode("4006381333931", F.EAN13, scale=3)
    timeline = [None] * 5 + [bin_label] * 10 + [None] * 5 + [bin_label] * 5 + [ean] * 5
    path = tmp_path_factory.mktemp("video") / "dock.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE, False)
    assert writer.isOpened()
    for symbol in timeline:
        writer.write(_frame(symbol))
    writer.release()
    return path


def test_code_in_consecutive_frames_is_one_scan(video):
    sightings = list(scan_video(video, window=2.0))

    assert [(s.read.text, s.frame) for s in sightings] == [("BIN-QUA-A01", 5), ("4006381333931", 25)]


def test_code_seen_again_after_the_window_scans_again(video):
    # Out of view from frame 15 to 19 (0.6 s): longer than a 0.3 s window.
    sightings = list(scan_video(video, window=0.3))

    assert [(s.read.text, s.frame) for s in sightings] == [
        ("BIN-QUA-A01", 5),
        ("BIN-QUA-A01", 20),
        ("4006381333931", 25),
    ]
    assert sightings[1].at == pytest.approx(2.0)


def test_debouncer_window_restarts_on_every_sighting():
    debouncer = Debouncer(window=1.0)

    seen = [debouncer.admit("A", at) for at in (0.0, 0.5, 1.2, 1.9, 3.5)]

    assert seen == [True, False, False, False, True]


def test_debouncer_memory_stays_bounded():
    debouncer = Debouncer(window=1.0)
    for i in range(10_000):
        debouncer.admit(f"code-{i}", at=float(i))

    assert len(debouncer) <= 257


class _FastCamera:
    """A capture that produces frames as fast as it is read, like a camera at high fps."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.index = 0
        self.lock = threading.Lock()

    def read(self) -> tuple[bool, np.ndarray | None]:
        with self.lock:
            if self.index >= self.count:
                return False, None
            self.index += 1
        time.sleep(0.001)
        return True, np.full((4, 4), self.index, dtype=np.uint8)


def test_slow_decoding_drops_frames_instead_of_queueing_them():
    camera = _FastCamera(200)
    delivered = []

    with LatestFrame(camera) as latest:
        for index, _at, frame in latest.frames():
            delivered.append(index)
            assert int(frame[0, 0]) == index + 1
            time.sleep(0.01)  # a decoder ten times slower than the camera

    assert latest.dropped > 0
    assert len(delivered) + latest.dropped == 200
    assert delivered == sorted(delivered)
    assert delivered[-1] == 199  # the newest frame is never lost


def test_latest_frame_reads_a_real_video_file(video):
    capture = open_video(video)
    try:
        with LatestFrame(capture) as latest:
            indexes = [index for index, _at, _frame in latest.frames()]
    finally:
        capture.release()

    assert indexes[-1] == 29
    assert len(indexes) + latest.dropped == 30


def test_missing_video_is_a_frame_source_error(tmp_path):
    with pytest.raises(FrameSourceError, match="cannot be opened"):
        open_video(tmp_path / "no-such-video.avi")
