"""Start the device app: the sync engine on its thread and the Flet UI served on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import flet as ft

from local_db import DeviceStore, NotInitialized
from sync.credential import credential_path, load_credential
from sync.engine import SyncEngine

from .camera import camera_source
from .views import Handheld

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def serve(db_path: Path, erp_url: str | None, port: int, *, camera: str | None = None, native: bool = False) -> None:
    """Serve the UI until the process is stopped. Without `erp_url` the device works offline only;
    `camera` is a camera index or a video file (default: camera 0 when there is one)."""
    with DeviceStore.open(db_path) as store:  # fail early, in words, on a bad or newer file
        if store.device_id is None:
            raise NotInitialized(str(db_path))
    engine = SyncEngine(db_path, erp_url, load_credential(credential_path(db_path))) if erp_url else None
    source = camera_source(camera)

    async def main(page: ft.Page) -> None:
        store = DeviceStore.open(db_path)  # one connection per browser session, used on its thread
        handheld = Handheld(page, store, engine, source)

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
