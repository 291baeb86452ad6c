"""Entry point of the device bundle that `pyinstaller build.spec` builds: `returnflow-device`.

    returnflow-device --db PATH [--erp URL] [--port 8550] [--camera INDEX|VIDEO]
                                      serve the handheld app on 127.0.0.1
    returnflow-device --smoke-check   prove this build works, offline

The smoke check makes a temporary device database (initialised, demo catalogue loaded), decodes a
barcode it renders (OpenCV, zxing-cpp and zbar all load) and scans a video clip of a label (the
camera's stand-in), starts this same program serving that database on a free loopback port as its
own child, fetches the page and the Flet web client's files over HTTP, opens one UI session over
the websocket as a browser would, stops the child by its PID and prints one line of JSON. Exit
status 0 when every check passed, 1 otherwise. Nothing leaves 127.0.0.1. It also runs unfrozen
(`python -m app.bundle --smoke-check`), against the source tree.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PROG = "returnflow-device"
DEFAULT_PORT = 8550
STARTUP_TIMEOUT = 90.0  # s: a cold first start of a frozen bundle reads a few hundred MB
SESSION_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
SMOKE_DEVICE_ID = "smoke-check"


class SmokeCheckFailed(Exception):
    """One check of the smoke check did not pass; the message says which and why."""


def frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def bundle_root() -> Path:
    """Where the bundle's files are (PyInstaller's `_internal`), or the repository when unfrozen."""
    return Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))


def use_bundled_zbar() -> str | None:
    """Make pyzbar load the libzbar shipped in the bundle, not whatever the device has (or lacks).

    pyzbar looks the library up with `ctypes.util.find_library("zbar")`, which on Linux only asks
    the system's linker cache. Returns the path used, or None (unfrozen, or none in the bundle)."""
    if not frozen():
        return None
    shipped = sorted(bundle_root().glob("libzbar.so*"))
    if not shipped:
        return None
    from pyzbar import zbar_library

    system_lookup = zbar_library.find_library
    zbar_library.find_library = lambda name: str(shipped[0]) if name == "zbar" else system_lookup(name)
    return str(shipped[0])


def _self_command() -> list[str]:
    """How to start this program again: the bundle's executable, or this module."""
    return [sys.executable] if frozen() else [sys.executable, "-m", "app.bundle"]


# --- serving --------------------------------------------------------------------------------------

def serve_app(db_path: Path, erp_url: str | None, port: int, camera: str | None) -> int:
    use_bundled_zbar()
    from app.main import serve
    from domain import ReturnflowError

    print(f"handheld app on http://127.0.0.1:{port}" + (f", syncing with {erp_url}" if erp_url else ", offline"),
          flush=True)
    try:
        serve(db_path, erp_url, port, camera=camera)
    except ReturnflowError as exc:  # a missing, foreign or newer database: words, not a traceback
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0


# --- the smoke check ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_device_db(path: Path) -> dict[str, Any]:
    from domain.demo import demo_catalogue
    from local_db import DeviceStore

    catalogue = demo_catalogue(now=dt.datetime.now(dt.UTC))
    with DeviceStore.open(path) as store:
        store.initialize(SMOKE_DEVICE_ID)
        store.load_catalogue(catalogue)
        counts = store.summary().counts
    return {"device_id": SMOKE_DEVICE_ID, "items": counts.get("items"), "rmas": counts.get("rmas"),
            "users": [user.name for user in catalogue.users if user.active]}


def check_scanner() -> dict[str, Any]:
    """Render an EAN-13, then read it back with the app's decoder (OpenCV + zxing-cpp) and with zbar."""
    import zxingcpp
    from pyzbar import pyzbar

    from scanner import barcode_image, decode_image_bytes, png_bytes

    code = "4006381333931"
    image = barcode_image(code, zxingcpp.BarcodeFormat.EAN13)
    reads = [read.text for read in decode_image_bytes(png_bytes(image))]
    if code not in reads:
        raise SmokeCheckFailed(f"the decoder read {reads!r} from a rendered EAN-13 {code}")
    zbar_reads = [found.data.decode() for found in pyzbar.decode(image)]
    if code not in zbar_reads:
        raise SmokeCheckFailed(f"zbar read {zbar_reads!r} from a rendered EAN-13 {code}")
    from pyzbar import wrapper

    return {"decoded": code, "zbar": getattr(wrapper.LIBZBAR, "_name", None)}


def check_camera_clip(path: Path) -> dict[str, Any]:
    """Write a short clip of a label (the camera's stand-in) and scan it: OpenCV's video I/O works."""
    import cv2
    import numpy as np
    import zxingcpp

    from scanner import barcode_image, scan_video

    code, fps, size = "LPN-SMOKE-0001", 10, (640, 480)
    symbol = barcode_image(code, zxingcpp.BarcodeFormat.Code128, scale=3)
    page = np.full((size[1], size[0]), 255, dtype=np.uint8)
    top, left = (size[1] - symbol.shape[0]) // 2, (size[0] - symbol.shape[1]) // 2
    page[top:top + symbol.shape[0], left:left + symbol.shape[1]] = symbol
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for _ in range(fps):
        writer.write(cv2.cvtColor(page, cv2.COLOR_GRAY2BGR))
    writer.release()
    seen = [sighting.read.text for sighting in scan_video(path)]
    if seen != [code]:
        raise SmokeCheckFailed(f"scanning a one-second clip of {code} gave {seen!r}")
    return {"clip": path.name, "scanned": code}


def _tail(path: Path, lines: int = 12) -> str:
    """The server's last words, for a failure message."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "(no output)"
    return "(no output)"


@contextlib.contextmanager
def running_server(db_path: Path, port: int, camera: Path, log_path: Path) -> Iterator[subprocess.Popen]:
    """This program serving `db_path` on 127.0.0.1:port as a child, stopped by its PID afterwards. Its
    camera is a clip, so that a smoke check never takes the device's camera."""
    with log_path.open("wb") as log:
        child = subprocess.Popen([*_self_command(), "--db", str(db_path), "--port", str(port), "--camera", str(camera)],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        stop_process(child)


def stop_process(child: subprocess.Popen) -> int | None:
    """SIGTERM, then SIGKILL if it is still there after STOP_TIMEOUT. Returns the exit status on SIGTERM."""
    if child.poll() is not None:
        return child.returncode
    child.send_signal(signal.SIGTERM)
    try:
        return child.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return None


def wait_until_serving(client: Any, base: str, child: subprocess.Popen, log_path: Path) -> float:
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < STARTUP_TIMEOUT:
        if child.poll() is not None:
            raise SmokeCheckFailed(f"the server exited with status {child.returncode} before serving; "
                                   f"its output ends with:\n{_tail(log_path)}")
        try:
            status = client.get(base + "/", timeout=2).status_code
        except httpx.TransportError:  # not listening yet
            time.sleep(0.2)
            continue
        if status != 200:
            raise SmokeCheckFailed(f"GET {base}/: HTTP {status}; the server's output ends with:\n{_tail(log_path)}")
        return time.monotonic() - started
    raise SmokeCheckFailed(f"nothing served on {base} within {STARTUP_TIMEOUT:.0f} s; the server's output ends "
                           f"with:\n{_tail(log_path)}")


def fetch(client: Any, url: str, *, expect: bytes | None = None, contains: tuple[str, ...] = ()) -> bytes:
    response = client.get(url, timeout=30)
    if response.status_code != 200:
        raise SmokeCheckFailed(f"GET {url}: HTTP {response.status_code}")
    body = response.content
    if expect is not None and body != expect:
        raise SmokeCheckFailed(f"GET {url}: {len(body)} bytes, not the {len(expect)} bytes of the bundled file")
    for text in contains:
        if text.encode() not in body:
            raise SmokeCheckFailed(f"GET {url}: no {text!r} in the response")
    return body


def check_web_client(client: Any, base: str) -> dict[str, Any]:
    """The page, patched to load nothing from a CDN, and the client's own files, byte for byte."""
    import flet_web

    from app.main import ASSETS

    web = Path(flet_web.get_package_web_dir())
    page = fetch(client, base + "/", contains=("flutter_bootstrap.js", "flet.noCdn=true",
                                               'flet.canvasKitBaseUrl="/canvaskit/"'))
    fetched = {"/": len(page)}
    client_files = {"flutter_bootstrap.js": ("main.dart.js",), "main.dart.js": (), "canvaskit/canvaskit.js": (),
                    "canvaskit/canvaskit.wasm": ()}
    for name, contains in client_files.items():
        body = fetch(client, f"{base}/{name}", expect=(web / name).read_bytes(), contains=contains)
        fetched["/" + name] = len(body)
    if not ASSETS.is_dir():
        raise SmokeCheckFailed(f"the app's assets folder is missing: {ASSETS}")
    assets = sorted(p for p in ASSETS.rglob("*") if p.is_file())
    for path in assets:
        name = path.relative_to(ASSETS).as_posix()
        fetch(client, f"{base}/{name}", expect=path.read_bytes())
    return {"fetched": fetched, "assets_served": len(assets)}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def check_session(port: int, user_names: list[str]) -> dict[str, Any]:
    """Register as a browser would over /ws; the app must draw its first screen from the device db."""
    import msgpack
    from websockets.sync.client import connect

    register = [1, {"session_id": "", "page_name": "", "page": {
        "route": "/", "width": 412, "height": 800, "platform": "linux", "web": True}}]
    seen: set[str] = set()
    messages = 0
    with connect(f"ws://127.0.0.1:{port}/ws", proxy=None, open_timeout=10, max_size=None) as ws:
        ws.send(b"\x00" + msgpack.packb(register))
        deadline = time.monotonic() + SESSION_TIMEOUT
        while time.monotonic() < deadline:
            try:
                frame = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if not isinstance(frame, bytes) or not frame or frame[0] != 0:
                continue
            action, body = msgpack.unpackb(frame[1:], strict_map_key=False)
            messages += 1
            if action == 6:  # SESSION_CRASHED
                raise SmokeCheckFailed(f"the app's session crashed: {body}")
            seen.update(_strings(body))
            text = "\n".join(seen)
            if "returnflow" in seen and any(name in text for name in user_names):
                return {"messages": messages, "title": "returnflow"}
    raise SmokeCheckFailed(f"the app drew no first screen with a demo user in {SESSION_TIMEOUT:.0f} s "
                           f"({messages} messages)")


def smoke_check() -> dict[str, Any]:
    import httpx

    started = time.monotonic()
    result: dict[str, Any] = {"frozen": frozen(), "zbar_bundled": use_bundled_zbar()}
    with tempfile.TemporaryDirectory(prefix="returnflow-smoke-") as tmp:
        db_path, log_path = Path(tmp) / "device.db", Path(tmp) / "server.log"
        db = make_device_db(db_path)
        result["db"] = {k: v for k, v in db.items() if k != "users"}
        result["scanner"] = check_scanner()
        clip = Path(tmp) / "camera.avi"
        result["camera"] = check_camera_clip(clip)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        result["port"] = port
        with running_server(db_path, port, clip, log_path) as child, httpx.Client(trust_env=False) as client:
            result["startup_s"] = round(wait_until_serving(client, base, child, log_path), 2)
            result["web"] = check_web_client(client, base)
            result["session"] = check_session(port, db["users"])
            status = stop_process(child)
        if status is None:
            raise SmokeCheckFailed(f"the server did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM")
        if status != 0:
            raise SmokeCheckFailed(f"the server exited with status {status} on SIGTERM; its output ends with:\n"
                                   f"{_tail(log_path)}")
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def run_smoke_check() -> int:
    try:
        result = smoke_check()
    except Exception as exc:  # every failure, expected or not, ends as one line a person can read
        reason = str(exc) if isinstance(exc, SmokeCheckFailed) else f"{type(exc).__name__}: {exc}"
        print(json.dumps({"ok": False, "check": "smoke", "error": reason}), flush=True)
        print(f"{PROG}: smoke check failed: {reason}", file=sys.stderr)
        return 1
    print(json.dumps({"ok": True, "check": "smoke", **result}), flush=True)
    return 0


# --- command line ---------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="The returnflow handheld app, served on "
                                "http://127.0.0.1:PORT for the device's browser.")
    p.add_argument("--db", type=Path, help="device database file (set up with `returnflow device init`)")
    p.add_argument("--erp", default=None, metavar="URL", help="the central API to sync with (none: offline only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument("--camera", default=None, metavar="INDEX|VIDEO",
                   help="camera index, or a video file standing in for a camera (default: camera 0 if there is one)")
    p.add_argument("--smoke-check", action="store_true",
                   help="check this build offline on a temporary database, print one JSON line, exit")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.smoke_check:
        if args.db is not None or args.erp is not None or args.camera is not None:
            p.error("--smoke-check makes its own database and camera clip and never syncs: "
                    "drop --db, --erp and --camera")
        return run_smoke_check()
    if args.db is None:
        p.error("--db is required")
    if not 0 < args.port < 65536:
        p.error(f"--port {args.port}: not a TCP port")
    return serve_app(args.db, args.erp, args.port, args.camera)


if __name__ == "__main__":
    raise SystemExit(main())
