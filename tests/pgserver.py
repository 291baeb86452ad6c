"""A PostgreSQL server for the tests: the machine's own if one answers, else a throwaway cluster
started from the installed binaries in a temporary directory and removed afterwards."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import psycopg

from tests.processes import free_port


def _answers(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except psycopg.OperationalError:
        return False


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: drop to the postgres account the package created.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_server(preferred_url: str) -> Iterator[str]:
    """Yield an admin URL of a reachable server, starting a throwaway one when needed."""
    if _answers(preferred_url):
        yield preferred_url
        return
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        raise RuntimeError(f"no PostgreSQL at {preferred_url} and none installed: run scripts/bootstrap.sh")
    bin_dir = binaries[-1]
    root = tempfile.mkdtemp(prefix="returnflow-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = free_port()
    subprocess.run(_as_postgres([f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([f"{bin_dir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(root, "log"), "-o",
                                 f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=on", "start"]),
                   check=True, capture_output=True)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while not _answers(url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"throwaway PostgreSQL did not start; see {root}/log")
            time.sleep(0.2)
        yield url
    finally:
        subprocess.run(_as_postgres([f"{bin_dir}/pg_ctl", "-D", data, "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
