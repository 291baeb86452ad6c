"""Crash safety: a device process killed with SIGKILL at random moments loses nothing it reported saved.

A child process (crash_worker.py) issues a realistic mix of commands on one file database, which
keeps its state across kills. After every kill the test reopens the file as a restarting device
would and checks the invariants of DESIGN.md "Durability" and "Order". Set RETURNFLOW_CRASH_SEED to
replay a run's choices (kill timing still depends on the machine).
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from domain.demo import DemoCatalogue
from local_db import DeviceStore
from local_db.projection import PROJECTION_TABLES
from tests.conftest import open_device, snapshot

ROOT = Path(__file__).resolve().parents[2]
KILLS = 60
STARTUP_KILL_EVERY = 5  # every 5th kill lands while the worker opens the database
OPEN_WINDOW_S = 0.008  # DeviceStore.open plus the worker's set-up take 3-6 ms here: kills land before, in and after it
WORK_WINDOW_S = 0.25  # commands take ~1 ms: a window this long kills mid-command, idle and just after commit
FULL_REBUILD_EVERY = 10  # a replay of the whole log costs ~0.1 s per 1,000 events; counts are checked every time
MARKER_TIMEOUT_S = 30.0


@dataclass
class Ledger:
    """What the workers reported, across all kills: every line here is a promise the file must keep."""

    committed: dict[int, tuple[str, str]] = field(default_factory=dict)  # device_seq -> (event_id, type)
    max_seq: int = 0  # the log's last device_seq at the previous check
    refused: int = 0
    caught_after_commit: int = 0  # kills that landed between a commit and its report

    def record(self, lines: list[str]) -> list[int]:
        """Take one run's report; returns the device_seqs it reported committed, in order."""
        reported = []
        for line in lines:
            word, *rest = line.split()
            if word == "ready":
                assert int(rest[0]) == self.max_seq, f"the restarted worker saw the log end at {rest[0]}"
            elif word == "ok":
                seq, event_id, event_type = int(rest[0]), rest[1], rest[2]
                self.committed[seq] = (event_id, event_type)
                reported.append(seq)
            elif word == "refused":
                self.refused += 1
            else:
                assert word == "opening", f"unexpected worker line {line!r}"
        assert reported == list(range(self.max_seq + 1, self.max_seq + 1 + len(reported))), \
            f"device_seqs handed out with a gap or out of order: {reported}"
        return reported


def run_until_killed(db: Path, seed: int, marker: bytes, delay: float, stderr_path: Path) -> list[str]:
    """Start a worker and SIGKILL it `delay` seconds after its output contains `marker`; returns its lines."""
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.crash_worker", str(db), str(seed)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
        )
    try:
        fd = proc.stdout.fileno()
        out = bytearray()
        deadline, armed = time.monotonic() + MARKER_TIMEOUT_S, False
        # Read as it comes, so the worker never blocks on a full pipe and the marker arms the kill at once.
        while (remaining := deadline - time.monotonic()) > 0:
            if not select.select([fd], [], [], remaining)[0]:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                proc.wait(timeout=10)
                pytest.fail(f"worker exited by itself (code {proc.returncode}):\n{stderr_path.read_text()}")
            out += chunk
            if not armed and marker in out:
                deadline, armed = time.monotonic() + delay, True
        assert armed, f"worker did not say {marker!r} within {MARKER_TIMEOUT_S} s:\n{stderr_path.read_text()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        while chunk := os.read(fd, 65536):
            out += chunk
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, f"worker ended with {proc.returncode}:\n{stderr_path.read_text()}"
    return out.decode().splitlines()


def check_restart(db: Path, ledger: Ledger, reported: list[int], replica: Path | None) -> None:
    """Reopen the file after a kill and hold it to everything the workers reported."""
    with DeviceStore.open(db) as store:
        conn = store.db.conn
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        log = {seq: (event_id, event_type) for seq, event_id, event_type in
               conn.execute("SELECT device_seq, event_id, type FROM events ORDER BY device_seq")}
        assert list(log) == list(range(1, len(log) + 1)), "device_seq has a gap"
        lost = {seq: event for seq, event in ledger.committed.items() if log.get(seq) != event}
        assert not lost, f"reported as saved but not in the log as reported: {lost}"
        # The worker is sequential: only the command in flight at the kill may have committed unreported.
        last_reported = reported[-1] if reported else ledger.max_seq
        assert len(log) - last_reported in (0, 1), f"log ends at {len(log)}, last report {last_reported}"
        ledger.caught_after_commit += len(log) - last_reported
        ledger.max_seq = len(log)
        # Each restart reloads the hybrid logical clock from the log; it must never step back.
        assert conn.execute("""SELECT COUNT(*) FROM events a JOIN events b ON b.device_seq = a.device_seq + 1
                               WHERE b.hlc <= a.hlc""").fetchone()[0] == 0, "HLC went backwards in the log"

        outbox = conn.execute("SELECT device_seq, status FROM outbox ORDER BY device_seq").fetchall()
        assert outbox == [(seq, "pending") for seq in log], "outbox out of step with the event log"
        assert_projections_consistent(conn)
        if replica is not None:
            with closing(sqlite3.connect(replica)) as copy:
                conn.backup(copy)
            with DeviceStore.open(replica) as rebuilt:
                rebuilt.rebuild_projections()
                assert snapshot(rebuilt, PROJECTION_TABLES) == snapshot(store, PROJECTION_TABLES), \
                    "projections differ from a replay of the event log"


def assert_projections_consistent(conn: sqlite3.Connection) -> None:
    """Cheap cross-checks of the projections, run after every kill."""
    received = conn.execute(
        "SELECT COUNT(*) FROM events WHERE type IN ('rma_receipt', 'blind_receipt')").fetchone()[0]
    assert conn.execute("SELECT COUNT(*) FROM units").fetchone()[0] == received
    receipts = conn.execute("SELECT rma_id, line_no, received_qty FROM rma_receipts ORDER BY 1, 2").fetchall()
    in_log = conn.execute(
        """SELECT json_extract(payload, '$.rma_id'), json_extract(payload, '$.line_no'), COUNT(*) FROM events
           WHERE type = 'rma_receipt' GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
    assert receipts == in_log, "RMA received counts differ from the receipts in the event log"


@pytest.mark.slow
def test_store_keeps_every_reported_command_through_repeated_sigkill(tmp_path: Path, catalogue: DemoCatalogue):
    seed = int(os.environ.get("RETURNFLOW_CRASH_SEED", random.randrange(2**32)))
    print(f"crash safety seed {seed}: rerun with RETURNFLOW_CRASH_SEED={seed}")
    rng = random.Random(seed)
    db = tmp_path / "device.db"
    open_device(db, catalogue).close()
    ledger = Ledger()

    for kill in range(1, KILLS + 1):
        if kill % STARTUP_KILL_EVERY == 0:
            phase, marker, delay = "start-up", b"opening\n", rng.uniform(0, OPEN_WINDOW_S)
        else:
            phase, marker, delay = "working", b"\nready ", rng.uniform(0, WORK_WINDOW_S)
        lines = run_until_killed(db, rng.randrange(2**32), marker, delay, tmp_path / "worker.stderr")
        reported = ledger.record(lines)
        opened = any(line.startswith("ready") for line in lines)
        print(f"kill {kill}: {phase}, {delay * 1000:.1f} ms after {marker.strip().decode()!r}, "
              f"{'after' if opened else 'before'} the database was open, {len(reported)} commands reported saved")
        full = kill % FULL_REBUILD_EVERY == 0 or kill == KILLS
        check_restart(db, ledger, reported, tmp_path / f"replica-{kill}.db" if full else None)

    print(f"{ledger.max_seq} events, {ledger.refused} refused commands, "
          f"{ledger.caught_after_commit} kills between a commit and its report")
    # The run must have exercised the store, not only killed idle processes.
    assert ledger.max_seq >= KILLS and ledger.refused > 0
