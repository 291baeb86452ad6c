"""`returnflow demo` (what `make run` starts): both processes up, the device synced, Ctrl-C stops all."""

from __future__ import annotations

import signal
import subprocess

import httpx

from tests.processes import RETURNFLOW, free_port


def test_the_demo_serves_api_and_app_and_stops_cleanly_on_ctrl_c(tmp_path):
    erp_port, app_port = free_port(), free_port()
    demo = subprocess.Popen([str(RETURNFLOW), "demo", "--var", str(tmp_path / "demo"), "--erp-port", str(erp_port),
                             "--app-port", str(app_port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or "Ctrl-C stops the demo" not in lines[-1]:
            line = demo.stdout.readline()
            assert line, f"the demo stopped early: {demo.stderr.read()[-2000:]}"
            lines.append(line)
        text = "".join(lines)
        assert f"http://127.0.0.1:{app_port}" in text and "alex (associate) PIN 2468" in text
        assert "pulled" in text  # the device was synced before the app started
        assert httpx.get(f"http://127.0.0.1:{erp_port}/api/v1/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{app_port}/").status_code == 200
        assert len(list((tmp_path / "demo" / "samples").glob("*.png"))) == 6
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        assert "demo stopped" in demo.stdout.read()
        for port in (erp_port, app_port):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                raise AssertionError(f"something still answers on port {port}")
            except httpx.TransportError:
                pass
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
