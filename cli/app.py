"""`returnflow app`: the handheld UI on this machine."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("app")
@click.option("--db", "db_path", default=Path("var/device.db"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="device database file")
@click.option("--erp", "erp_url", default=None, help="the central API to sync with (none: offline only)")
@click.option("--port", default=8550, show_default=True, type=int)
@click.option("--camera", default=None,
              help="camera index, or a video file standing in for a camera (default: camera 0 if there is one)")
@click.option("--native", is_flag=True, help="open a native window (needs a Flet desktop client installed)")
@click.option("--idle-minutes", default=10.0, show_default=True, type=click.FloatRange(min=0.01),
              help="sign a person out after this long without a scan, tap or key")
def app(db_path: Path, erp_url: str | None, port: int, camera: str | None, native: bool, idle_minutes: float) -> None:
    """Serve the handheld app on http://127.0.0.1:PORT (a phone-sized browser window is the handheld)."""
    from app.main import serve

    click.echo(f"handheld app on http://127.0.0.1:{port}" + (f", syncing with {erp_url}" if erp_url else ", offline"))
    serve(db_path, erp_url, port, camera=camera, native=native, idle_minutes=idle_minutes)
