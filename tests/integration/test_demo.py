"""`returnflow demo` (what `make run` starts): both processes up, the device synced, the handheld
still serving while the central API is stopped and started again, Ctrl-C stops all; a busy port
is named in words; the sample labels cover the demo RMA's whole journey; no camera, no
OpenCV warnings in the terminal."""

from __future__ import annotations

import datetime as dt
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from cli.demo_samples import sample_labels, write_samples
from domain.demo import demo_catalogue
from scanner import decode_image_bytes
from tests.processes import RETURNFLOW, free_port, stop


class Output:
    """A process's output, read on a thread, so that a test waits for a line with a deadline."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process, self.lines, self._queue = process, [], queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            assert line is not None, f"the demo stopped before printing {text!r}: {''.join(self.lines)[-2000:]}"
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} within {timeout} s: {''.join(self.lines)[-2000:]}")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)


def test_the_handheld_keeps_serving_while_the_api_is_stopped_and_started_again(tmp_path):
    erp_port, app_port = free_port(), free_port()
    health, app_url = f"http://127.0.0.1:{erp_port}/api/v1/health", f"http://127.0.0.1:{app_port}/"
    demo = subprocess.Popen([str(RETURNFLOW), "demo", "--var", str(tmp_path / "demo"), "--erp-port", str(erp_port),
                             "--app-port", str(app_port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # read, all of it: a full pipe blocks its writer
    try:
        out = Output(demo)
        api_line = out.wait_for("/docs   (pid ")
        out.wait_for("Ctrl-C stops the demo")
        text = "".join(out.lines)
        assert f"http://127.0.0.1:{app_port}" in text and "alex (associate) PIN 2468" in text
        assert "pulled" in text  # the device was synced before the app started
        assert "Enter stops the central API" in text
        sheet = re.search(r"sample labels\s+(\S+)", text).group(1)
        assert sheet == str((tmp_path / "demo" / "samples" / "sheet.html").resolve()) and os.path.exists(sheet)
        assert answers(health) and answers(app_url)

        os.kill(int(re.search(r"\(pid (\d+)\)", api_line).group(1)), signal.SIGKILL)  # the API dies
        assert "killed by SIGKILL" in out.wait_for("central API stopped")
        assert not answers(health)
        assert answers(app_url) and demo.poll() is None

        demo.stdin.write("\n")  # Enter starts it again
        demo.stdin.flush()
        out.wait_for("central API started again")
        assert answers(health) and answers(app_url)

        demo.stdin.write("\n")  # and Enter stops it
        demo.stdin.flush()
        out.wait_for("central API stopped")
        until(lambda: not answers(health))
        assert answers(app_url)

        demo.send_signal(signal.SIGINT)
        out.wait_for("demo stopped")
        assert demo.wait(timeout=60) == 0
        for port in (erp_port, app_port):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                raise AssertionError(f"something still answers on port {port}")
            except httpx.TransportError:
                pass
    finally:
        stop(demo)  # SIGTERM: the demo stops its children by PID before it goes


def test_looking_for_a_camera_where_there_is_none_prints_no_opencv_warnings():
    # What the app does when its first screen opens; the demo's terminal shows the app's messages.
    probe = subprocess.run([sys.executable, "-c", "from app.camera import camera_source; camera_source(None)"],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and "VIDEOIO" not in probe.stderr, probe.stderr


@pytest.mark.parametrize("option", ["--erp-port", "--app-port"])
def test_a_port_in_use_is_named_in_words(tmp_path, option):
    ports = {"--erp-port": free_port(), "--app-port": free_port()}
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", ports[option]))
        other_program.listen()
        finished = subprocess.run([str(RETURNFLOW), "demo", "--var", str(tmp_path / "demo"),
                                   *(str(arg) for pair in ports.items() for arg in pair)],
                                  capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert finished.returncode == 1
    assert f"port {ports[option]} is in use by another program: stop it or pass {option}" in finished.stderr
    assert not (tmp_path / "demo").exists()  # refused before anything was made or started


def test_the_sample_labels_cover_every_line_and_unit_of_the_demo_rma_and_read_back(tmp_path):
    catalogue = demo_catalogue(now=dt.datetime.now(dt.UTC))
    rma_id, labels = sample_labels(catalogue)
    rma = next(r for r in catalogue.rmas if r.rma_id == rma_id)
    items = {item.sku: item for item in catalogue.items}
    contents = [label.content for label in labels]
    assert contents.count(rma_id) == 1
    for line in rma.lines:
        assert items[line.sku].gtins[0][-13:] in contents
    assert sum(content.startswith("LPN-") for content in contents) == sum(line.expected_qty for line in rma.lines)
    for bin_code in ("BIN-DCK-A01", "BIN-RST-R01", "BIN-QUA-Q01"):
        assert bin_code in contents

    sheet = write_samples(tmp_path)
    page = sheet.read_text()
    for label in labels:
        png = (tmp_path / label.file).read_bytes()
        assert [read.text for read in decode_image_bytes(png)] == [label.content]
        assert f'src="{label.file}"' in page
