"""One browser connection to the handheld: its keyboard hook, feedback banner, sounds and focus.

The work itself lives in the process's Workspace (app.workspace); this object is what a single
browser session needs on top of it: the observable state its components render, the scans its
keyboard hook recognises, and the screen navigation. Each handler runs on the page's event loop,
one at a time, so the device store is only ever used from that thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import flet as ft
import flet_audio as fta

from sync.engine import SyncStatus

from .i18n import translation
from .keys import KeyRouter
from .models.common import Feedback
from .models.words import refusal
from .workspace import Workspace


# Saved work leaves for the server this long after the screen was told of it: a push started at once
# would take the interpreter from the repaint that shows the answer (one core's worth, on a handheld).
SYNC_AFTER_SAVE_S = 0.3
# Screens that take scans as their main input: one scan field, the same control on each of them.
SCAN_SCREENS = frozenset({"home", "receive", "unit", "lookup", "count", "queue-received", "queue-inspected",
                          "queue-graded", "queue-dispositioned", "queue-quarantined"})


@ft.observable
@dataclass
class Banner:
    """The answer to the last scan or tap; `times` counts a message repeated, so it flashes again."""

    message: str = ""
    kind: str = "ok"  # ok, check or error: the colour and the sound
    times: int = 0


@ft.observable
@dataclass
class Badge:
    status: SyncStatus | None = None


@ft.observable
@dataclass
class Screen:
    """What the root renders: the screen's name, and a version bumped when its model changed."""

    name: str
    version: int = 0


class Handheld:
    def __init__(self, page: ft.Page, workspace: Workspace) -> None:
        self.page = page
        self.workspace = workspace
        self.banner = Banner()
        self.badge = Badge(workspace.sync.status())
        self.screen = Screen(workspace.screen)
        self.router = KeyRouter(self._burst, time.monotonic, is_code=_reads_as_code,
                                on_scanner_enter=self._scanner_entered)
        self.scan_field: Any = None  # the ref of the screen's scan field, where the focus goes back to
        self.sounds = {name: fta.Audio(src=f"sounds/{name}.wav", release_mode=fta.ReleaseMode.STOP)
                       for name in ("ok", "check", "error")}
        self.picker = ft.FilePicker()
        self.feed: Any = None  # the camera's feed while its view is on

    @property
    def device(self):
        return self.workspace.device

    @property
    def store(self):
        return self.workspace.device.store

    def _(self, message: str) -> str:
        """`message` in the language the screens speak now (the signed-in person's)."""
        return translation(self.workspace.language).gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return translation(self.workspace.language).ngettext(singular, plural, count)

    @property
    def camera(self) -> int | str | None:
        """A camera index or a video file standing in for one; None: no camera. Asked when a screen
        needs to know, since probing for a camera loads OpenCV."""
        return self.device.find_camera()

    # --- input ------------------------------------------------------------------------

    async def on_key(self, event: ft.KeyboardEvent) -> None:
        self.workspace.touch()
        self.router.key(event.key, event.shift, event.ctrl or event.meta or event.alt)

    def run(self, handler: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run `handler` on the page's event loop, while a browser is connected. A screen that slept or
        reloaded leaves the session without a connection for a while: a sound, a refocus or a repaint
        is then moot, and Flet's run_task would raise in whatever asked for it (a scan's handler, the
        idle sign-out)."""
        session = self.page.session
        if session is not None and session.connection is not None:
            self.page.run_task(handler, *args)

    def _burst(self, code: str) -> None:
        self.run(self.scan, code)

    def _scanner_entered(self) -> None:
        self.run(self.park_focus, self.screen.name)

    async def scan(self, text: str) -> None:
        """A scan (or a code typed and entered) on the current screen."""
        self.workspace.touch()
        if not text.strip():
            return
        from .routing import route  # the scanner's libraries: loaded after sign-in (app.main)

        screen = self.screen.name
        feedback = route(self, text)
        if feedback is not None:
            self.flash(feedback)
        await self.park_focus(since=screen)

    async def park_focus(self, since: str | None = None) -> None:
        """Give the focus back to the scan field: after a tap or an Enter, a scanner's next Enter would
        otherwise press the button just tapped again, or reach nothing. Only while the field stays
        (`since`: the screen before the action): a field removed before the browser answers its
        focus() would end the connection; a new screen's scan field takes the focus on mount."""
        if self.screen.name not in SCAN_SCREENS or (since is not None and since not in SCAN_SCREENS):
            return
        field = self.scan_field.current if self.scan_field is not None else None
        if field is not None:
            await field.focus()

    def tap(self, action: Callable[[], Feedback | None]) -> Callable[[Any], Awaitable[None]]:
        """A button's handler: run the action, show its answer, repaint the screen, refocus."""
        async def tapped(_: Any = None) -> None:
            self.workspace.touch()
            screen = self.screen.name
            feedback = action()
            if feedback is not None:
                self.flash(feedback)
            self.changed()
            await self.park_focus(since=screen)
        return tapped

    # --- output -----------------------------------------------------------------------

    def flash(self, feedback: Feedback) -> None:
        banner = self.banner
        kind = feedback.sound
        banner.times = banner.times + 1 if (banner.message, banner.kind) == (feedback.message, kind) else 1
        banner.message, banner.kind = feedback.message, kind
        # Played as its own task: a browser holds sounds until the first tap or key, and the screen
        # must not wait for that.
        self.run(self._play, kind)
        self.badge.status = self.workspace.sync.status()
        if feedback.saved and self.device.engine is not None:
            self.run(self._sync_soon)
        self.changed()

    async def _play(self, kind: str) -> None:
        try:
            await self.sounds[kind].play()
        except (RuntimeError, TimeoutError):
            pass  # a browser that has not let the page play sound yet answers late or not at all: no sound

    async def _sync_soon(self) -> None:
        await asyncio.sleep(SYNC_AFTER_SAVE_S)
        self.device.engine.request_sync()

    def changed(self) -> None:
        """The screen's model changed: render the screen again (only the screen, not the bar)."""
        self.screen.version += 1

    def go(self, name: str) -> None:
        self.workspace.screen = name
        self.screen.name = name
        self.banner.message = ""

    def status_changed(self, _: SyncStatus) -> None:
        """From the sync engine's thread: the badge is repainted on the page's loop, alone."""
        self.run(self._repaint_badge)

    async def _repaint_badge(self) -> None:
        self.badge.status = self.workspace.sync.status()

    async def pick_photo(self) -> bytes | None:
        """A photo from the device: its camera app or its files (the browser's file chooser)."""
        files = await self.picker.pick_files(file_type=ft.FilePickerFileType.IMAGE, with_data=True)
        return files[0].bytes if files else None

    def open_unit(self, lpn: str) -> Feedback:
        feedback = self.workspace.flow.open(lpn)
        if feedback.ok:
            self.go("unit")
        return feedback

    # --- camera -----------------------------------------------------------------------

    def start_camera(self, *, on_preview: Callable[[bytes], None], on_error: Callable[[str], None]) -> None:
        from .camera import CameraFeed  # OpenCV: only where a camera is used

        self.feed = CameraFeed(self.camera, on_preview=on_preview, on_error=on_error,
                               on_scan=lambda read: self.run(self.scan, (read.aim_id or "") + read.text))
        self.feed.start()

    def stop_camera(self) -> None:
        if self.feed is not None:
            self.feed.stop()
            self.feed = None

    def snap(self, flow: Any) -> Feedback:
        """A photo for the unit in hand from the camera (the live view and the still share it)."""
        from scanner import ScanError

        from .camera import capture_still

        self.stop_camera()
        try:
            content = capture_still(self.camera)
        except ScanError as failed:
            return Feedback(False, refusal(failed, self.workspace.language))
        return flow.add_photo(content)

    def sign_out(self, words: str | None = None) -> None:
        """Sign the person out, saying so in their language (`words`, or plainly "signed out")."""
        words = words or self._("signed out")
        self.workspace.sign_out()
        self.go("sign_in")
        self.flash(Feedback(True, words))


def _reads_as_code(text: str) -> bool:
    """Whether text typed fast into a field is what a scanner prints: a label or a product code (a
    malformed one included, so that its scan is refused in words rather than kept as a note)."""
    from scanner import ScanError, ScanKind, classify

    try:
        return classify(text).kind is not ScanKind.UNKNOWN
    except ScanError:
        return True
