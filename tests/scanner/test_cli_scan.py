"""`returnflow scan --json PATH...`: one JSON object per file, one per line."""

from __future__ import annotations

import json

import cv2
import numpy as np
from click.testing import CliRunner

from cli.main import cli
from tests.scanner import render
from tests.scanner.render import F

GS = "\x1d"


def _run(*args: str):
    return CliRunner().invoke(cli, ["scan", *args])


def test_image_files_give_one_json_line_each(tmp_path):
    label = tmp_path / "label.png"
    symbol = render.barcode("(01)09506000134352(10)ABC123(17)261231", F.Code128, gs1=True)
    label.write_bytes(render.png_bytes(render.on_canvas(symbol)))
    empty = tmp_path / "empty.png"
    empty.write_bytes(render.png_bytes(np.full((200, 200), 255, dtype=np.uint8)))

    result = _run("--json", str(label), str(empty))

    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert first["file"] == str(label)
    assert isinstance(first["ms"], float)
    [code] = first["results"]
    assert code["symbology"] == "code128"
    assert code["text"] == f"010950600013435210ABC123{GS}17261231"
    assert code["aim_id"] == "]C1"
    assert code["kind"] == "gs1"
    assert code["gs1"] == {"01": "09506000134352", "10": "ABC123", "17": "261231"}
    assert len(code["position"]) == 4
    assert second["results"] == []


def test_bad_check_digit_label_is_reported_as_an_error_result(tmp_path):
    path = tmp_path / "lpn.png"
    path.write_bytes(render.png_bytes(render.on_canvas(render.barcode("LPN-0000012343", F.Code128))))

    [code] = json.loads(_run("--json", str(path)).output)["results"]

    assert code["kind"] == "error"
    assert code["error"] == "license plate check digit wrong: rescan or type the number"


def test_video_lists_each_distinct_code_with_its_first_frame(tmp_path):
    path = tmp_path / "dock.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480), False)
    blank = np.full((480, 640), 255, dtype=np.uint8)
    qr = render.on_canvas(render.barcode("BIN-RST-B07", F.QRCode, scale=8))
    # The bin label leaves the view for 1.5 s and comes back: still one distinct code.
    for frame in [blank] * 3 + [qr] * 6 + [blank] * 15 + [qr] * 3:
        writer.write(frame)
    writer.release()

    record = json.loads(_run("--json", str(path)).output)

    assert [(r["text"], r["kind"], r["frame"]) for r in record["results"]] == [("BIN-RST-B07", "bin", 3)]


def test_file_that_is_neither_image_nor_video_fails_with_status_1(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a picture")

    result = _run("--json", str(path))

    assert result.exit_code == 1
    record = json.loads(result.output.splitlines()[0])
    assert record["results"] == []
    assert record["error"] == "not a picture or video the scanner can open: check the file"


def test_human_output_names_kind_and_value(tmp_path):
    path = tmp_path / "bin.png"
    path.write_bytes(render.png_bytes(render.on_canvas(render.barcode("BIN-QUA-A01", F.Code128))))

    result = _run(str(path))

    assert result.exit_code == 0
    assert "bin" in result.output and "BIN-QUA-A01" in result.output
