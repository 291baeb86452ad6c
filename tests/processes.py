"""Real processes for the tests: free loopback ports and `returnflow erp serve` started and awaited."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

from cli.demo import stop_process as stop  # noqa: F401 - the tests stop their processes the same way

RETURNFLOW = Path(sys.executable).with_name("returnflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(url: str, port: int, timeout: float = 30) -> subprocess.Popen:
    """`returnflow erp serve` on 127.0.0.1:port, returned once its health check answers."""
    # Its messages go to a file: a pipe nobody reads blocks the API once it is full.
    messages = tempfile.TemporaryFile()
    process = subprocess.Popen([str(RETURNFLOW), "erp", "serve", "--db", url, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=messages)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    messages.seek(0)
    raise AssertionError(f"API on port {port} did not start: {messages.read().decode()[-2000:]}")


@contextlib.contextmanager
def fresh_pg_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server at admin_url, dropped afterwards."""
    name = f"returnflow_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
