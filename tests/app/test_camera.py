"""The camera view's engine on a video file standing in for a camera."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import zxingcpp

from app.camera import CameraFeed, camera_source, preview_jpeg
from scanner import Decoder, barcode_image


def label_video(path, text: str, seconds: float = 2.0, fps: int = 15) -> None:
    """A clip of a label held in front of the camera: the code on a page, with a little noise."""
    symbol = barcode_image(text, zxingcpp.BarcodeFormat.Code128, scale=3)
    page = np.full((480, 640), 255, dtype=np.uint8)
    top, left = (480 - symbol.shape[0]) // 2, (640 - symbol.shape[1]) // 2
    page[top:top + symbol.shape[0], left:left + symbol.shape[1]] = symbol
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    rng = np.random.default_rng(1)
    for _ in range(int(seconds * fps)):
        noisy = np.clip(page.astype(np.int16) + rng.integers(-12, 12, page.shape), 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR))
    writer.release()


def test_a_label_held_in_view_scans_once_and_the_preview_outlines_it(tmp_path):
    video = tmp_path / "camera.avi"
    label_video(video, "RMA-26000015")
    scans, previews, errors = [], [], []
    done = threading.Event()
    feed = CameraFeed(video, on_preview=previews.append, on_scan=lambda read: (scans.append(read.text), done.set()),
                      on_error=errors.append)
    feed.start()
    assert done.wait(10)
    threading.Event().wait(1.5)  # the clip loops: the label stays in view
    feed.stop()
    assert scans == ["RMA-26000015"] and not errors
    assert previews and all(p[:2] == b"\xff\xd8" for p in previews)  # JPEG frames for the view


def test_the_outline_is_drawn_in_green_on_the_code():
    frame = np.full((480, 640), 255, dtype=np.uint8)
    symbol = barcode_image("LPN-0000000017", zxingcpp.BarcodeFormat.Code128, scale=3)
    frame[100:100 + symbol.shape[0], 100:100 + symbol.shape[1]] = symbol
    [read] = Decoder().decode(frame)
    image = cv2.imdecode(np.frombuffer(preview_jpeg(frame, [read]), np.uint8), cv2.IMREAD_COLOR)
    green = (image[:, :, 1] > 150) & (image[:, :, 0] < 100) & (image[:, :, 2] < 100)
    assert image.shape[1] == 360 and green.sum() > 50


def test_a_missing_camera_is_reported_in_words(tmp_path):
    errors = []
    feed = CameraFeed(tmp_path / "nothing.avi", on_preview=lambda _: None, on_scan=lambda _: None,
                      on_error=errors.append)
    feed.start()
    feed.stop()
    assert errors and "cannot be opened" in errors[0]
    assert camera_source("2") == 2 and camera_source("clip.avi") == "clip.avi"
