"""The camera view: a live preview with each decoded code outlined; a code held in view scans once.

The preview is a component of its own over an observable frame, so the frames (five a second) repaint
only the picture, never the screen around it."""

from __future__ import annotations

from dataclasses import dataclass

import flet as ft

from ..handheld import Handheld
from ..models.common import Feedback
from .widgets import big_button


@ft.observable
@dataclass
class Frame:
    jpeg: bytes | None = None


@ft.component
def Preview(frame: Frame) -> ft.Control:
    # Hidden by its Semantics wrapper until the first frame: Flet refuses an Image without a source.
    return ft.Semantics(identifier="camera-preview", visible=frame.jpeg is not None, content=ft.Image(
        src=frame.jpeg or b"", width=360, fit=ft.BoxFit.CONTAIN))


@ft.component
def CameraPanel(handheld: Handheld) -> ft.Control:
    frame, _ = ft.use_state(Frame)

    async def show(jpeg: bytes) -> None:
        frame.jpeg = jpeg

    async def failed(message: str) -> None:
        handheld.stop_camera()
        frame.jpeg = None
        handheld.flash(Feedback(False, handheld._(message)))  # the camera's fixed words, as the catalogue has them

    async def toggle(_: object) -> None:
        if handheld.feed is not None:
            handheld.stop_camera()
            frame.jpeg = None
        else:
            handheld.start_camera(on_preview=lambda jpeg: handheld.run(show, jpeg),
                                  on_error=lambda message: handheld.run(failed, message))
        await handheld.park_focus()

    ft.on_unmounted(handheld.stop_camera)
    return ft.Column([big_button(handheld._("Camera on / off"), toggle, key="camera"), Preview(frame)])
