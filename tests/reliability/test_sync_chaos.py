"""Chaos: the real central API and real handhelds, SIGKILLed at random moments, lose nothing.

`returnflow erp serve` (on PostgreSQL with two API workers, and on one SQLite file) and three device
processes (sync_device_worker.py: store commands in the foreground and the real sync engine on a
thread, as the app runs them) work on one site. A scheduler SIGKILLs a random device every 0.3-1.6 s
and restarts it at once, and SIGKILLs the API (its whole process group: every worker) 1-6 s after it
first answers (or, one run in seven, while it starts) and brings it back after up to 1.5 s; while it
is down and starting the devices work offline and catch up later. Kills land during start-up,
mid-command, mid-push (before and after the server's commit), mid-pull and while idle. The devices'
choices include steps on units other devices received, so the server's conflict rules run too.
Device set-up: the database is initialised and the device provisioned in this process, then
`returnflow device connect --secret-stdin` and `returnflow sync --once` run for real.

At the end the devices are killed once more, a clean API is started, and every device runs
`returnflow sync --once` until nothing is pending, then twice more (everyone pulls everyone's work;
the last round must bring nothing new). Then DESIGN.md's invariants must hold:

1. Exactly once: every event a worker reported saved is in its device's log as reported; every event
   of every log is on the server exactly once, under the same event_id, type and payload, and the
   server holds no other device event. Each event with a rule has exactly one audit entry.
2. Order: device_seq is gap-free on every device and the server's ledger ends at the device's last.
3. Nothing is pending in any outbox, and each device's recorded answer for every event is the
   server's outcome (a rejection or conflict reaches the device even when the push's answer was lost).
4. Convergence: every device holds exactly the server's units, field for field, with the server's
   version, and the server's bins' purpose, zone and owner, with no local reassignment left over.
5. Accountability: every conflict and rejection names its rule (and reason), has its audit entry,
   and every exception belongs to exactly the event that opened it.
6. Inventory: stock equals the units per (sku, bin, state), never negative; the received quantity of
   every RMA line grew by exactly the units received against it.

RETURNFLOW_CHAOS_SECONDS (default 25) lengthens the chaos, RETURNFLOW_CHAOS_KILLS (default 24) raises
the minimum number of kills per run, RETURNFLOW_CHAOS_SEED replays the scheduler's and the devices'
choices (the interleaving still depends on the machine).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from erp import tables as t
from erp.identity import provision_device
from erp.storage import make_engine
from local_db import DeviceStore
from local_db.replica import STATUS_OF_OUTCOME
from tests.erp.conftest import database_url, pg_admin_url  # noqa: F401  (fixtures: SQLite or PostgreSQL for the tests)
from tests.processes import RETURNFLOW, free_port
from tests.reliability.sync_device_worker import LPN_SPAN

ROOT = Path(__file__).resolve().parents[2]
DEVICES = 3
CHAOS_S = float(os.environ.get("RETURNFLOW_CHAOS_SECONDS", "25"))
MIN_KILLS = int(os.environ.get("RETURNFLOW_CHAOS_KILLS", "24"))
MIN_API_KILLS = max(3, MIN_KILLS // 8)
MIN_KILLS_PER_DEVICE = max(2, MIN_KILLS // 8)
MIN_SYNCS_PER_DEVICE = 2  # successful syncs during the chaos: it goes on until every device had them
OVERTIME_S = 60.0  # at most this long after CHAOS_S to reach the minimums
DEVICE_KILL_GAP_S = (0.3, 1.6)
# The API takes 2-4 s to answer after a start (5-6 s with two workers): it serves for a while
# before most kills, or the devices would hardly ever sync.
API_UPTIME_S = (1.0, 6.0)  # from its first answer to its kill
API_START_KILLS = 0.15  # share of API runs killed while starting, within API_START_S of the start
API_START_S = 2.0
DEVICE_START_KILLS = 0.3  # a device still starting is killed (again) only this often, else another one
API_DOWNTIME_S = (0.0, 1.5)
API_WORKERS = {"sqlite": 1, "postgresql": 2}  # several workers need PostgreSQL (SQLite has one writer)
START_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 120.0
UNIT_FIELDS = ("sku", "rma_id", "line_no", "serial", "lot", "expiry", "reason_code", "state", "held_from", "bin_code",
               "condition_codes", "grade", "disposition")


# --- processes ---------------------------------------------------------------------------------

@pytest.fixture
def reaper() -> Iterator[list[subprocess.Popen]]:
    """Every process the test starts; whatever still runs at the end, even after a failure, is
    SIGKILLed by its id (the API with its process group: its workers too)."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.returncode is None:  # not reaped yet: the id (and its group's id) is still this process's
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # each one leads its own session and process group
            except ProcessLookupError:
                pass
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def exited(proc: subprocess.Popen) -> bool:
    """Whether the process ended, without reaping it (its id stays reserved for a group kill)."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped by another thread this very moment
        return True


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no output)"


def cli(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(RETURNFLOW), *args], input=stdin, capture_output=True, text=True, cwd=cwd,
                          timeout=CLI_TIMEOUT_S)


def cli_ok(*args: str, stdin: str | None = None, cwd: Path) -> str:
    done = cli(*args, stdin=stdin, cwd=cwd)
    assert done.returncode == 0, f"returnflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done.stdout


class Api:
    """`returnflow erp serve` in its own process group, so that a kill takes its workers too."""

    def __init__(self, db_url: str, workers: int, log: Path, reaper: list[subprocess.Popen]) -> None:
        self.db_url, self.workers, self.log, self.reaper = db_url, workers, log, reaper
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.ready = threading.Event()
        self.started_at = 0.0
        self.starts = 0
        self.ready_after: list[float] = []  # seconds from each start to the first answer

    def start(self) -> None:
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(RETURNFLOW), "erp", "serve", "--db", self.db_url, "--port", str(self.port),
                 "--workers", str(self.workers)],
                cwd=self.log.parent, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        self.reaper.append(self.proc)
        self.starts += 1
        self.started_at = time.monotonic()
        self.ready = ready = threading.Event()
        threading.Thread(target=self._await_health, args=(self.proc, ready), daemon=True).start()

    def _await_health(self, proc: subprocess.Popen, ready: threading.Event) -> None:
        with httpx.Client(timeout=1.0) as client:
            while proc.returncode is None and not exited(proc):
                try:
                    if client.get(f"{self.url}/api/v1/health").status_code == 200:
                        self.ready_after.append(time.monotonic() - self.started_at)
                        ready.set()
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)

    def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ready.wait(0.1):
            self.check_alive()
            assert time.monotonic() < deadline, f"the API did not answer in {START_TIMEOUT_S} s:\n{tail(self.log)}"

    def check_alive(self) -> None:
        if self.proc is not None and exited(self.proc):
            self.kill()  # its workers, if any are left
            pytest.fail(f"the API exited by itself:\n{tail(self.log)}")

    def kill(self) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None
        # The workers hold the listening socket too: the port is free once the last one is gone.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.02)
        pytest.fail(f"port {self.port} still answers after the API's process group was killed")


@dataclass
class Ledger:
    """What a device's worker runs reported, across all kills: every "saved" is a promise."""

    saved: dict[int, str] = field(default_factory=dict)  # device_seq -> event_id
    reported_max: int = 0
    runs: int = 0
    refused: int = 0
    raced: int = 0
    syncs: Counter = field(default_factory=Counter)  # sync state -> times reported
    failures: Counter = field(default_factory=Counter)  # (state, message) of failed syncs -> times

    def record(self, lines: list[str]) -> None:
        self.runs += 1
        ready, saved = None, []
        for line in lines:
            word, _, rest = line.partition(" ")
            if word == "ready":
                ready = int(rest)
                assert ready >= self.reported_max, \
                    f"a restarted device's log ends at {ready}, but {self.reported_max} was reported saved"
            elif word == "saved":
                seq, event_id = rest.split()
                assert self.saved.setdefault(int(seq), event_id) == event_id, f"device_seq {seq} reported twice"
                saved.append(int(seq))
            elif word == "refused":
                self.refused += 1
            elif word == "raced":
                self.raced += 1
            elif word == "sync":
                state, _, message = rest.partition(" ")
                self.syncs[state] += 1
                if state != "online":
                    self.failures[(state, message.partition(" ")[2])] += 1
            else:
                assert word == "opening", f"unexpected worker line {line!r}"
        if saved:
            assert ready is not None
            assert saved == list(range(ready + 1, ready + 1 + len(saved))), \
                f"device_seqs handed out with a gap or out of order after {ready}: {saved}"
            self.reported_max = saved[-1]


class Device:
    """One handheld: its database file, and the worker process currently running on it."""

    def __init__(self, number: int, tmp: Path, api: Api, reaper: list[subprocess.Popen]) -> None:
        self.device_id = f"chaos-{number}"
        self.db = tmp / f"{self.device_id}.db"
        self.lpn_base = number * LPN_SPAN
        self.api, self.reaper = api, reaper
        self.stderr = tmp / f"{self.device_id}.stderr"
        self.ledger = Ledger()
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def set_up(self, tmp: Path, server: Engine) -> None:
        """Initialise and provision (in this process: a CLI start-up costs a second of CPU here), then
        connect and pull the master data with the real commands."""
        with DeviceStore.open(self.db) as store:
            store.initialize(self.device_id)
        with server.begin() as conn:
            secret = provision_device(conn, self.device_id, "DC1", dt.datetime.now(dt.UTC))
        cli_ok("device", "connect", "--db", str(self.db), "--secret-stdin", stdin=secret + "\n", cwd=tmp)
        self.api.ready.wait(START_TIMEOUT_S)
        cli_ok("sync", "--db", str(self.db), "--erp", self.api.url, "--once", cwd=tmp)

    def start(self, seed: int) -> None:
        with self.stderr.open("ab") as stderr:
            stderr.write(f"--- run {self.ledger.runs + 1}, seed {seed}\n".encode())
            stderr.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.sync_device_worker", str(self.db), self.api.url, str(seed),
                 str(self.lpn_base)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True)
        self.reaper.append(self.proc)
        self.lines = lines = []
        self._reader = threading.Thread(target=self._read, args=(self.proc, lines), daemon=True)
        self._reader.start()

    @staticmethod
    def _read(proc: subprocess.Popen, lines: list[str]) -> None:
        for raw in proc.stdout:
            lines.append(raw.decode().rstrip("\n"))

    @property
    def synced(self) -> int:
        """Successful syncs so far, the running worker's included."""
        return self.ledger.syncs["online"] + sum(line.startswith("sync online") for line in list(self.lines))

    @property
    def working(self) -> bool:
        return any(line.startswith("ready ") for line in self.lines)

    def check_alive(self) -> None:
        if self.proc is not None and exited(self.proc):
            self.proc.wait()
            pytest.fail(f"device {self.device_id} exited by itself ({self.proc.returncode}):\n{tail(self.stderr)}")

    def kill(self) -> None:
        assert self.proc is not None
        self.check_alive()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(10)
        self.proc.stdout.close()
        assert self.proc.returncode == -signal.SIGKILL
        self.proc = None
        self.ledger.record(self.lines)


# --- the run -----------------------------------------------------------------------------------

@dataclass
class Kills:
    api: int = 0
    api_starting: int = 0
    devices: Counter = field(default_factory=Counter)
    devices_starting: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.api + sum(self.devices.values())


def chaos(api: Api, devices: list[Device], rng: random.Random) -> Kills:
    """Kill processes at random moments, again and again, and bring them back: a device every
    DEVICE_KILL_GAP_S, restarted at once; the API a random while after it answers (or now and then
    while it starts), brought back after a random outage. After CHAOS_S, only the kills still
    missing from the minimums are made, so that devices lagging behind can finish their syncs."""
    kills = Kills()
    begin = time.monotonic()
    deadline = begin + CHAOS_S
    next_device_kill = begin + rng.uniform(*DEVICE_KILL_GAP_S)
    api_kill_at: float | None = None  # when the running API dies; None: not decided yet
    api_back_at = 0.0

    def devices_killed_enough() -> bool:
        # The API kills still missing will come: they count towards MIN_KILLS too.
        return (sum(kills.devices.values()) + max(kills.api, MIN_API_KILLS) >= MIN_KILLS
                and all(kills.devices[d.device_id] >= MIN_KILLS_PER_DEVICE for d in devices))

    while True:
        now = time.monotonic()
        api.check_alive()
        for device in devices:
            device.check_alive()
        overtime = now >= deadline
        if (overtime and kills.api >= MIN_API_KILLS and devices_killed_enough()
                and all(d.synced >= MIN_SYNCS_PER_DEVICE for d in devices)):
            return kills
        assert now < deadline + OVERTIME_S, (
            f"the minimums not reached {OVERTIME_S:.0f} s after the chaos: {kills.total} kills, API {kills.api}, "
            f"devices {dict(kills.devices)}, successful syncs {[d.synced for d in devices]}; the devices' last lines:\n"
            + "\n".join(f"{d.device_id}: {d.lines[-8:]}" for d in devices) + f"\nAPI log:\n{tail(api.log, 1500)}")
        at = f"{now - begin:6.2f} s"
        if api.proc is None:
            if now >= api_back_at:
                api.start()
                # Now and then the API dies while it starts (migrating, importing, binding).
                api_kill_at = now + rng.uniform(0, API_START_S) if rng.random() < API_START_KILLS else None
        elif api_kill_at is None:
            if api.ready.is_set():
                api_kill_at = now + rng.uniform(*API_UPTIME_S)
        elif now >= api_kill_at and not (overtime and kills.api >= MIN_API_KILLS):
            up = now - api.started_at
            phase = "serving" if api.ready.is_set() else "starting"
            api.kill()
            kills.api += 1
            kills.api_starting += phase == "starting"
            down = rng.uniform(*API_DOWNTIME_S)
            api_back_at = time.monotonic() + down
            kills.log.append(f"{at} kill API ({phase}, up {up:.2f} s), down for {down:.2f} s")
        if now >= next_device_kill and not (overtime and devices_killed_enough()):
            device = rng.choice(devices)
            if not device.working and rng.random() >= DEVICE_START_KILLS:
                device = rng.choice([d for d in devices if d.working] or devices)
            phase = "working" if device.working else "starting"
            device.kill()
            kills.devices[device.device_id] += 1
            kills.devices_starting += phase == "starting"
            device.start(rng.randrange(2**32))
            kills.log.append(f"{at} kill {device.device_id} ({phase}, {device.ledger.reported_max} saved so far)")
            next_device_kill = time.monotonic() + rng.uniform(*DEVICE_KILL_GAP_S)
        time.sleep(0.01)


def sync_once(device: Device, tmp: Path) -> tuple[bool, str]:
    done = cli("sync", "--db", str(device.db), "--erp", device.api.url, "--once", cwd=tmp)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def sync_until_nothing_pending(device: Device, tmp: Path) -> list[str]:
    outputs = []
    for _ in range(10):
        ok, output = sync_once(device, tmp)
        outputs.append(output)
        if ok and "pending 0," in output:
            return outputs
        time.sleep(0.5)
    pytest.fail(f"device {device.device_id} still has events pending after 10 syncs:\n" + "\n".join(outputs))


def converge(devices: list[Device], tmp: Path) -> list[str]:
    """Every device syncs until nothing is pending, then twice more: once to pull what the others
    pushed last, once to show that nothing new comes."""
    with ThreadPoolExecutor(len(devices)) as pool:
        first = list(pool.map(lambda d: sync_until_nothing_pending(d, tmp), devices))
        rounds = [list(pool.map(lambda d: sync_once(d, tmp), devices)) for _ in range(2)]
    for round_ in rounds:
        for device, (ok, output) in zip(devices, round_):
            assert ok and "pushed 0," in output and "pending 0," in output, f"{device.device_id}: {output}"
    for device, (_, output) in zip(devices, rounds[-1]):
        assert "pulled 0 " in output, f"{device.device_id} still pulled changes after quiescence: {output}"
    return [f"{d.device_id}: {len(outs)} sync(s) to empty the outbox, last: {outs[-1]}" for d, outs in zip(devices, first)]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_killed_api_and_devices_lose_nothing_apply_nothing_twice_and_converge(database_url, tmp_path, reaper):
    backend = database_url.split(":")[0]
    seed = int(os.environ.get("RETURNFLOW_CHAOS_SEED", random.randrange(2**32)))
    print(f"sync chaos on {backend}, seed {seed}: rerun with RETURNFLOW_CHAOS_SEED={seed}")
    rng = random.Random(seed)
    started = time.monotonic()

    cli_ok("erp", "demo-data", "--db", database_url, cwd=tmp_path)
    server = make_engine(database_url)
    try:
        with server.connect() as conn:
            received_before = {(r.rma_id, r.line_no): r.received_qty for r in conn.execute(select(t.rma_lines))}
        api = Api(database_url, API_WORKERS[backend], tmp_path / "api.log", reaper)
        devices = [Device(n, tmp_path, api, reaper) for n in range(1, DEVICES + 1)]
        api.start()
        with ThreadPoolExecutor(DEVICES) as pool:
            list(pool.map(lambda d: d.set_up(tmp_path, server), devices))
        for device in devices:
            device.start(rng.randrange(2**32))
        set_up_s = time.monotonic() - started

        kills = chaos(api, devices, rng)
        chaos_s = time.monotonic() - started - set_up_s
        for device in devices:  # the end of the run is one more kill, not a clean shutdown
            device.kill()
        if api.proc is not None:
            api.kill()
        api.start()
        api.wait_ready()
        final = converge(devices, tmp_path)
        api.kill()

        print(f"set-up {set_up_s:.1f} s, chaos {chaos_s:.1f} s, convergence {time.monotonic() - started - set_up_s - chaos_s:.1f} s")
        print(f"API answered {', '.join(f'{s:.1f}' for s in api.ready_after)} s after its starts")
        print(f"{kills.total} kills: API {kills.api} ({kills.api_starting} while starting), devices "
              f"{dict(kills.devices)} ({kills.devices_starting} while starting)")
        for device in devices:
            ledger = device.ledger
            print(f"{device.device_id}: {len(ledger.saved)} events reported saved in {ledger.runs} runs, "
                  f"{ledger.refused} refused, {ledger.raced} raced the sync worker, syncs {dict(ledger.syncs)}"
                  + "".join(f"\n  {n} x {state}: {message}" for (state, message), n in ledger.failures.most_common()))
        print("\n".join(final))
        print("\n".join(kills.log))

        check_invariants(server, devices, received_before)
    finally:
        server.dispose()
    for device in devices:  # the run exercised the devices, not only kills
        assert len(device.ledger.saved) >= 20, f"{device.device_id} saved only {len(device.ledger.saved)} events"


# --- the invariants ----------------------------------------------------------------------------

def check_invariants(server, devices: list[Device], received_before: dict) -> None:
    with server.connect() as conn:
        events = {(r.device_id, r.device_seq): r for r in conn.execute(select(t.events))}
        per_seq = Counter((r.device_id, r.device_seq) for r in conn.execute(
            select(t.events.c.device_id, t.events.c.device_seq)))
        ledger = dict(conn.execute(select(t.ledger.c.device_id, t.ledger.c.last_seq)).all())
        units = {r.lpn: r._mapping for r in conn.execute(select(t.units))}
        bins = {r.code: (r.purpose, r.zone, r.owner) for r in conn.execute(select(t.bins))}
        stock = {(r.sku, r.bin_code, r.status): r.qty for r in conn.execute(select(t.stock))}
        audit = Counter((r.event_id, r.rule) for r in conn.execute(select(t.audit.c.event_id, t.audit.c.rule))
                        if r.event_id is not None)
        exceptions = {r.exception_id: r.event_id for r in conn.execute(select(t.exceptions))}
        received_after = {(r.rma_id, r.line_no): r.received_qty for r in conn.execute(select(t.rma_lines))}

    # 1 and 2: exactly once, in order, nothing lost.
    assert all(n == 1 for n in per_seq.values()), \
        f"device events stored more than once: {[k for k, n in per_seq.items() if n > 1][:10]}"
    server_devices = {device_id for device_id, _ in events}
    assert server_devices <= {d.device_id for d in devices}, f"events of unknown devices: {server_devices}"
    for device in devices:
        with DeviceStore.open(device.db) as store:
            conn = store.db.conn
            log = {seq: (event_id, type_, payload) for seq, event_id, type_, payload in conn.execute(
                "SELECT device_seq, event_id, type, payload FROM events ORDER BY device_seq")}
            assert list(log) == list(range(1, len(log) + 1)), f"{device.device_id}: device_seq has a gap"
            lost = {seq: event_id for seq, event_id in device.ledger.saved.items() if log.get(seq, (None,))[0] != event_id}
            assert not lost, f"{device.device_id}: reported saved but not in the log as reported: {lost}"
            # A worker is sequential: only the command in flight at a kill may have committed unreported.
            unreported = sorted(set(log) - set(device.ledger.saved))
            assert len(unreported) <= device.ledger.runs, \
                f"{device.device_id}: {len(unreported)} events never reported, in {device.ledger.runs} runs: {unreported[:20]}"
            on_server = {seq: r for (device_id, seq), r in events.items() if device_id == device.device_id}
            missing = sorted(set(log) - set(on_server))
            extra = sorted(set(on_server) - set(log))
            assert not missing and not extra, \
                f"{device.device_id}: events missing on the server {missing[:20]}, unknown to the device {extra[:20]}"
            differ = [seq for seq, (event_id, type_, payload) in log.items()
                      if (on_server[seq].event_id, on_server[seq].type, on_server[seq].payload)
                      != (event_id, type_, json.loads(payload))]
            assert not differ, f"{device.device_id}: the server holds other events under device_seqs {differ[:20]}"
            assert ledger.get(device.device_id, 0) == len(log), \
                f"{device.device_id}: server ledger at {ledger.get(device.device_id)}, device log at {len(log)}"

            # 3: nothing pending, and the device knows every outcome the server recorded.
            assert store.sync_counts()["pending"] == 0, f"{device.device_id}: {store.sync_counts()}"
            answers = dict(conn.execute("SELECT device_seq, status FROM sync_results"))
            lost_answers = conn.execute("SELECT COUNT(*) FROM sync_results WHERE rule = 'duplicate_event'").fetchone()[0]
            print(f"{device.device_id}: {len(log)} events, {lost_answers} of them answered only as duplicates "
                  "(the first answer was lost to a kill)")
            wrong = {seq: (answers.get(seq), on_server[seq].outcome) for seq in log
                     if answers.get(seq) != STATUS_OF_OUTCOME[on_server[seq].outcome]}
            assert not wrong, f"{device.device_id}: answers (device, server) differ: {dict(list(wrong.items())[:20])}"

            # 4: convergence.
            held = {r[0] for r in conn.execute("SELECT lpn FROM units")}
            assert held == set(units), (f"{device.device_id}: units only on the device {sorted(held - set(units))[:10]}, "
                                        f"only on the server {sorted(set(units) - held)[:10]}")
            diverged = {}
            for lpn in sorted(held):
                mine = store.unit(lpn).model_dump(mode="json")
                theirs = {f: units[lpn][f] for f in UNIT_FIELDS} | {"version": units[lpn]["version"]}
                ours = {f: mine[f] for f in UNIT_FIELDS} | {"version": mine["server_version"]}
                if ours != theirs:
                    diverged[lpn] = {f: (ours[f], theirs[f]) for f in ours if ours[f] != theirs[f]}
            assert not diverged, \
                f"{device.device_id}: {len(diverged)} units differ (device, server): {dict(list(diverged.items())[:5])}"
            assert conn.execute("SELECT COUNT(*) FROM bin_assignments").fetchone()[0] == 0, \
                f"{device.device_id}: a local bin reassignment outlived quiescence"
            device_bins = {code: (purpose, zone, owner) for code, purpose, zone, owner in
                           conn.execute("SELECT code, purpose, zone, owner FROM bins")}
            assert device_bins == bins, f"{device.device_id}: bins differ: " + str(
                {c: (device_bins.get(c), bins.get(c)) for c in device_bins.keys() | bins.keys()
                 if device_bins.get(c) != bins.get(c)})

    # 5: accountability.
    unaccounted = [(k, r.outcome, r.rule, r.reason) for k, r in events.items()
                   if r.outcome in ("conflict", "rejected") and (not r.rule or not r.reason)]
    assert not unaccounted, f"conflicts or rejections without a named rule and reason: {unaccounted[:10]}"
    audited = Counter({(r.event_id, r.rule): 1 for r in events.values() if r.rule})
    assert audit == audited, "audit trail differs from the events' rules: " + str(
        {k: (audit.get(k), audited.get(k)) for k in audit.keys() | audited.keys() if audit.get(k) != audited.get(k)})
    opened = {r.exception_id: r.event_id for r in events.values() if r.exception_id}
    assert exceptions == opened, "exceptions differ from the events that opened them"
    assert all(r.exception_id for r in events.values() if r.outcome == "conflict" and r.rule != "same_outcome_merged")

    # 6: inventory.
    assert all(qty > 0 for qty in stock.values()), f"stock not positive: {[k for k, q in stock.items() if q <= 0]}"
    expected_stock = Counter((u["sku"], u["bin_code"], u["state"]) for u in units.values())
    assert stock == dict(expected_stock), "stock differs from the units per (sku, bin, state)"
    by_line = Counter((u["rma_id"], u["line_no"]) for u in units.values() if u["rma_id"])
    grown = {k: received_after[k] - received_before[k] for k in received_after if received_after[k] != received_before[k]}
    assert grown == dict(by_line), "RMA received quantities differ from the units received against them"
    print(f"server: {len(events)} events ({dict(Counter(r.outcome for r in events.values()))}), {len(units)} units, "
          f"{len(exceptions)} exceptions, rules {dict(Counter(r.rule for r in events.values() if r.rule))}")
