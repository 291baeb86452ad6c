"""Start the device app: the sync engine on its thread and the Flet UI served on 127.0.0.1.

The device store and each browser's workspace belong to the process (app.workspace), so a reload, a
screen that slept or a second tab finds the work where it was. The sign-in screen needs neither the
scanner's libraries (OpenCV, zxing-cpp, zbar, biip) nor the camera, so they load on a thread while
the associate signs in, not before the first screen.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import flet as ft

from local_db import DeviceStore, NotInitialized
from sync.credential import credential_path, load_credential
from sync.engine import SyncEngine

from . import flet_shims
from .handheld import Handheld
from .screens import App
from .workspace import Device

ASSETS = Path(__file__).resolve().parent.parent / "assets"
# The browser is still drawing the first screen this long after it went out; on a 2-core handheld
# the scanner's imports would take a core from it.
WARM_UP_AFTER_S = 1.0
TOKEN_KEY = "returnflow.workspace"
TOKEN_WAIT_S = 3.0  # a browser answers in milliseconds
IDLE_CHECK_S = 1.0
T = TypeVar("T")


def preload() -> None:
    """Import what the scan screens and the camera need, off the event loop."""
    from . import camera, routing  # noqa: F401
    from .models import lookup, receive, supervisor, unit_steps  # noqa: F401


def serve(db_path: Path, erp_url: str | None, port: int, *, camera: str | None = None, native: bool = False,
          idle_minutes: float = 10.0) -> None:
    """Serve the UI until the process is stopped. Without `erp_url` the device works offline only;
    `camera` is a camera index or a video file (default: camera 0 when there is one); a person idle
    for `idle_minutes` is signed out."""
    with DeviceStore.open(db_path) as store:  # fail early, in words, on a bad or newer file
        if store.device_id is None:
            raise NotInitialized(str(db_path))
    engine = SyncEngine(db_path, erp_url, load_credential(credential_path(db_path))) if erp_url else None
    probe_lock, probed = threading.Lock(), []

    def source() -> int | str | None:
        """The camera, found once, when a screen first asks (probing loads OpenCV)."""
        with probe_lock:
            if not probed:
                from .camera import camera_source

                probed.append(camera_source(camera))
            return probed[0]

    device = Device(db_path, engine, source, idle_minutes * 60)

    def warm_up() -> None:  # after the first session, a no-op: the imports and the probe are done
        preload()
        source()

    async def main(page: ft.Page) -> None:
        page.title = "returnflow"
        page.padding = 12
        page.theme_mode = ft.ThemeMode.LIGHT
        page.bgcolor = "#FFFFFF"
        preferences = ft.SharedPreferences()
        token = await _asked(preferences.get(TOKEN_KEY))
        workspace = device.workspace(token if isinstance(token, str) else None)
        if workspace.token != token:
            await _asked(preferences.set(TOKEN_KEY, workspace.token))
        handheld = Handheld(page, workspace)
        page.on_keyboard_event = handheld.on_key
        if engine is not None:
            engine.subscribe(handheld.status_changed)
        asyncio.get_running_loop().call_later(
            WARM_UP_AFTER_S, lambda: threading.Thread(target=warm_up, name="warm-up", daemon=True).start())
        watch = asyncio.create_task(_sign_out_when_idle(handheld))

        def closed(_: object) -> None:  # the session is gone (not a reload, which keeps it)
            watch.cancel()
            handheld.stop_camera()
            if engine is not None:
                engine.unsubscribe(handheld.status_changed)

        page.on_close = closed
        page.render(App, handheld)

    if engine is not None:
        engine.start()
    try:
        flet_shims.install()
        ft.run(main, view=ft.AppView.FLET_APP if native else ft.AppView.WEB_BROWSER, host="127.0.0.1", port=port,
               assets_dir=str(ASSETS), no_cdn=True)
    finally:
        if engine is not None:
            engine.stop()
        device.close()


async def _asked(call: Awaitable[T]) -> T | None:
    """The browser's answer about its local storage; None from a client that does not answer (a
    bare websocket client, the bundle's smoke check): it then starts with a new workspace."""
    try:
        return await asyncio.wait_for(call, TOKEN_WAIT_S)
    except (TimeoutError, RuntimeError):
        return None


async def _sign_out_when_idle(handheld: Handheld) -> None:
    """A shared handheld left alone signs its person out."""
    while True:
        await asyncio.sleep(IDLE_CHECK_S)
        if handheld.workspace.idle_too_long():
            minutes = handheld.device.idle_signout_s / 60
            handheld.sign_out(handheld._("signed out after {minutes} minutes without use").format(minutes=f"{minutes:g}"))
