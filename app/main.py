"""Start the device app: the sync engine on its thread and the Flet UI served on 127.0.0.1.

The sign-in screen needs neither the scanner's libraries (OpenCV, zxing-cpp, zbar, biip) nor the
camera, so they load on a thread while the associate signs in, not before the first screen.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import flet as ft

from local_db import DeviceStore, NotInitialized
from sync.credential import credential_path, load_credential
from sync.engine import SyncEngine

from .views import Handheld, preload

ASSETS = Path(__file__).resolve().parent.parent / "assets"
# The browser is still drawing the first screen this long after it went out; on a 2-core handheld
# the scanner's imports would take a core from it.
WARM_UP_AFTER_S = 1.0


def serve(db_path: Path, erp_url: str | None, port: int, *, camera: str | None = None, native: bool = False) -> None:
    """Serve the UI until the process is stopped. Without `erp_url` the device works offline only;
    `camera` is a camera index or a video file (default: camera 0 when there is one)."""
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

    def warm_up() -> None:  # after the first session, a no-op: the imports and the probe are done
        preload()
        source()

    async def main(page: ft.Page) -> None:
        store = DeviceStore.open(db_path)  # one connection per browser session, used on its thread
        handheld = Handheld(page, store, engine, source)
        asyncio.get_running_loop().call_later(
            WARM_UP_AFTER_S, lambda: threading.Thread(target=warm_up, name="warm-up", daemon=True).start())

        def closed(_: object) -> None:
            handheld.unsubscribe()
            handheld.stop_camera()
            store.close()  # closing twice (disconnect, then close) is harmless

        page.on_close = page.on_disconnect = closed

    if engine is not None:
        engine.start()
    try:
        ft.run(main, view=ft.AppView.FLET_APP if native else ft.AppView.WEB_BROWSER, host="127.0.0.1", port=port,
               assets_dir=str(ASSETS), no_cdn=True)
    finally:
        if engine is not None:
            engine.stop()
