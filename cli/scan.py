"""`returnflow scan`: decode image and video files and print what they hold."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from scanner import Decoder, Read


@click.command("scan")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, one per line")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def scan(as_json: bool, paths: tuple[Path, ...]) -> None:
    """Decode barcodes in image and video files (PATH...).

    For a video, each distinct code is listed once, with the first frame it was
    seen in. Exit status 1 when a file could not be opened.
    """
    # Heavy imports (OpenCV, zxing-cpp, biip) here, so `returnflow --help` stays fast.
    from scanner import Decoder, ScanError

    decoder = Decoder()
    failed = False
    for path in paths:
        start = time.perf_counter()
        try:
            results = _scan_file(path, decoder)
            error = None
        except ScanError as exc:
            results, error = [], exc.message
            failed = True
        ms = round((time.perf_counter() - start) * 1000, 1)
        record: dict[str, Any] = {"file": str(path), "results": results, "ms": ms}
        if error is not None:
            record["error"] = error
        click.echo(json.dumps(record, ensure_ascii=False) if as_json else _human(record))
    if failed:
        raise SystemExit(1)


def _scan_file(path: Path, decoder: Decoder) -> list[dict[str, Any]]:
    import cv2
    import numpy as np

    from scanner import FrameSourceError, UnreadableError, decode_image, scan_video

    image = cv2.imdecode(np.frombuffer(path.read_bytes(), dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is not None:
        return [_result(read) for read in decode_image(image, decoder=decoder)]
    first_seen: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        for sighting in scan_video(path, decoder=decoder):
            key = (sighting.read.symbology.value, sighting.read.text)
            if key not in first_seen:
                first_seen[key] = {**_result(sighting.read), "frame": sighting.frame}
    except FrameSourceError as exc:
        raise UnreadableError("not a picture or video the scanner can open: check the file") from exc
    return list(first_seen.values())


def _result(read: Read) -> dict[str, Any]:
    from scanner import ScanError, classify_read

    result: dict[str, Any] = {
        "symbology": read.symbology.value,
        "text": read.text,
        "aim_id": read.aim_id,
        "position": [[p.x, p.y] for p in read.position],
        "decoder": read.decoder,
    }
    try:
        found = classify_read(read)
    except ScanError as exc:
        return {**result, "kind": "error", "error": exc.message, "gs1": {}}
    result.update(kind=found.kind.value, value=found.value, gs1=found.gs1)
    if found.bin_type is not None:
        result["bin_type"] = found.bin_type.value
    if found.carrier is not None:
        result["carrier"] = found.carrier
    return result


def _human(record: dict[str, Any]) -> str:
    if "error" in record:
        return f"{record['file']}: {record['error']}"
    if not record["results"]:
        return f"{record['file']}: no barcode found ({record['ms']} ms)"
    lines = [f"{record['file']}: {len(record['results'])} code(s) ({record['ms']} ms)"]
    for result in record["results"]:
        where = f" frame {result['frame']}" if "frame" in result else ""
        detail = result.get("error") or result.get("value", "")
        lines.append(f"  {result['kind']:<9} {result['symbology']:<16} {detail}{where}")
    return "\n".join(lines)
