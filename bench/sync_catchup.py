"""Sync catch-up: a device with a week's backlog (100,000 pending events) syncs to a fresh central API.

The backlog is made once through the device store's own commands (units received against RMA
lines or blind, inspected, graded A to X, given the suggested disposition and stored, as
bench/local_db.py plans them), and the device file is copied for each run, so every run starts
from the same events. Each run gets a fresh API database (SQLite, `returnflow erp serve` with
--workers processes) and runs the sync engine's own loop (`SyncEngine.run`, which retries with
jittered exponential backoff, here from --backoff 0.05 s up to --max-backoff 1 s, with --in-flight
batches on their way) on this process's main thread until one whole sync (push, then pull) has
succeeded:

  no faults  device -> API directly over loopback
  faults     through tests/faults.py's FaultProxy, in a process of its own: each HTTP request is
             dropped with probability --faults, half before the API sees it (drop_request), half
             after it applied it (drop_response: the device resends, the API answers duplicate)

Measured: seconds until every event is acknowledged (end of the push), events/s, the whole sync
with its pull; for the push and the whole sync, CPU seconds of the device (the engine's threads) and
of the API processes, and how long each waited for a core (Linux schedstat: other work on the
machine), time spent backing off; faults injected. Beside it the raw rate of inserting the same
event rows into SQLite (bench/ingest.py's baseline) and the ratio. Each run checks that the API
stored every event exactly once. Targets: >= 20,000 events/s without faults, >= 10,000 with them.
--profile N prints the top N functions of a cProfile of the device side of the no-faults run (its
timings are then inflated). Human-readable lines, then a JSON summary as the last line.

    .venv/bin/python bench/sync_catchup.py [--events 100000] [--faults 0.05] [--batch 500] [--in-flight 2]
        [--workers 2] [--seed 1] [--backoff 0.05] [--max-backoff 1] [--profile [N]]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from sqlalchemy import func, select

# Run by path, this file's folder comes first on sys.path and bench/local_db.py would shadow the
# local_db package; the repository root makes bench/ and tests/ importable instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from bench.ingest import NOW, cpu_seconds, prepare, process_tree, raw_insert_rate, serve  # noqa: E402
from bench.local_db import ASSOCIATE, plan_sequences  # noqa: E402
from domain.demo import demo_catalogue  # noqa: E402
from erp import tables as t  # noqa: E402
from erp.storage import open_database  # noqa: E402
from local_db import DeviceStore  # noqa: E402
from sync.credential import DeviceCredential  # noqa: E402
from sync.engine import SyncEngine, SyncState, SyncStatus  # noqa: E402
from tests.faults import Fault, FaultProxy  # noqa: E402
from tests.processes import stop  # noqa: E402

DEVICE_ID = "bench-000"  # the first device bench/ingest.py's prepare() provisions
TARGET_EVENTS_PER_S, TARGET_WITH_FAULTS = 20_000, 10_000
CORES = os.cpu_count() or 1


def make_backlog(path: Path, catalogue, events: int) -> None:
    """`events` real device events, each through a durable command."""
    store = DeviceStore.open(path)
    # Set-up only: the commands write the same rows, without an fsync per command (the runs reopen
    # the copies with the store's synchronous=FULL).
    store.db.execute("PRAGMA synchronous = OFF")
    try:
        store.initialize(DEVICE_ID)
        store.load_catalogue(catalogue)
        written = 0
        for plan in plan_sequences(catalogue, -(-events // 5)):
            lpn = plan.receive["lpn"]
            steps = ((store.receive, plan.receive), (store.inspect, {"lpn": lpn, "answers": plan.answers}),
                     (store.grade, {"lpn": lpn, "grade": plan.grade}),
                     (store.decide_disposition, {"lpn": lpn, "disposition": plan.disposition}),
                     (store.store, {"lpn": lpn, "bin_code": plan.bin_code}))
            for command, arguments in steps[: events - written]:
                command(ASSOCIATE, **arguments)
            written += min(5, events - written)
        assert store.sync_counts()["pending"] == events
    finally:
        store.close()  # the last connection checkpoints the WAL: the main file alone is the device


def runqueue_s(pid: int | None = None) -> float:
    """Seconds runnable but waiting for a core: this thread, or every thread of `pid` and its workers
    (Linux schedstat)."""
    if pid is None:
        paths = [Path("/proc/thread-self/schedstat")]
    else:
        paths = [path for p in process_tree(pid) for path in Path(f"/proc/{p}/task").glob("*/schedstat")]
    total = 0
    for path in paths:
        try:
            total += int(path.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            pass  # a thread that just ended
    return total / 1e9


def snapshot(api_pid: int, backoff_s: float = 0.0) -> dict[str, float]:
    """CPU seconds so far of the device (this process: the engine's thread and its senders) and of
    the API, and how long each waited for a core (the device: the engine's thread, on which this runs)."""
    return {"device_cpu_s": time.process_time(), "device_waiting_for_cpu_s": runqueue_s(),
            "api_cpu_s": cpu_seconds(api_pid) or 0.0, "api_waiting_for_cpu_s": runqueue_s(api_pid),
            "backoff_s": backoff_s}


def run_proxy(upstream_port: int, seed: int, faults: float, pipe: Connection) -> None:
    """The fault proxy in a process of its own, as a network between device and API would be: in
    the device's process it would take the device's GIL. Sends its URL; on any message, its fault
    counts and the CPU seconds it spent proxying (its start-up left out), and stops."""
    with FaultProxy(upstream_port, seed=seed) as proxy:
        proxy.set_faults({Fault.DROP_REQUEST: faults / 2, Fault.DROP_RESPONSE: faults / 2})
        started = time.process_time()
        pipe.send(proxy.url)
        pipe.recv()
        pipe.send(({str(f): n for f, n in proxy.counts.items() if n}, time.process_time() - started))


class ProxyProcess:
    """run_proxy() started in a fresh interpreter; stop() gives its fault counts and CPU seconds."""

    def __init__(self, upstream_port: int, seed: int, faults: float) -> None:
        self._pipe, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=run_proxy, args=(upstream_port, seed, faults, child), daemon=True)
        self._process.start()
        self.url: str = self._pipe.recv()

    def stop(self) -> tuple[dict[str, int], float]:
        self._pipe.send("stop")
        result = self._pipe.recv()
        self._process.join(timeout=10)
        return result


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: round(after[key] - before[key], 2) for key in before}


class Watch:
    """Listens to the engine's status: when the push ended, failed attempts, time spent backing off."""

    def __init__(self, engine: SyncEngine, api_pid: int) -> None:
        self.engine, self.api_pid, self.started = engine, api_pid, time.perf_counter()
        self.push_done_s: float | None = None
        self.at_push_done: dict[str, float] = {}
        self.failures, self.backoff_s, self.pulled, self._attempt_pulled = 0, 0.0, 0, 0
        self.last_message: str | None = None
        self._failed_at: float | None = None

    def __call__(self, status: SyncStatus) -> None:
        now, progress = time.perf_counter(), status.progress
        if progress and progress.phase == "push" and progress.done >= progress.total and self.push_done_s is None:
            self.push_done_s = now - self.started
            self.at_push_done = snapshot(self.api_pid, self.backoff_s)
        if progress and progress.phase == "pull":  # counted per attempt: a retried pull resumes at its cursor
            self.pulled, self._attempt_pulled = self.pulled + progress.done - self._attempt_pulled, progress.done
        if status.state in (SyncState.OFFLINE, SyncState.ERROR) and status.message:
            self.failures, self._failed_at, self.last_message = self.failures + 1, now, status.message
        elif status.state is SyncState.SYNCING and progress is None:  # an attempt begins
            self._attempt_pulled = 0
            if self._failed_at is not None:
                self.backoff_s, self._failed_at = self.backoff_s + now - self._failed_at, None
        elif status.state is SyncState.ONLINE:
            self.engine.request_stop()  # one whole sync succeeded: run() returns


def catch_up(label: str, template: Path, workdir: Path, catalogue, events: int, faults: float, args) -> dict:
    name = "faults" if faults else "clean"
    device = workdir / f"device-{name}.db"
    shutil.copy(template, device)
    url = f"sqlite:///{workdir}/api-{name}.db"
    secret = prepare(url, 1, catalogue)[DEVICE_ID]
    process, port = serve(url, args.workers)
    proxy, injected, proxy_cpu_s = None, {}, 0.0
    try:
        if faults:
            proxy = ProxyProcess(port, args.seed, faults)
        engine = SyncEngine(device, proxy.url if proxy else f"http://127.0.0.1:{port}",
                            DeviceCredential(DEVICE_ID, secret), batch_size=args.batch, in_flight=args.in_flight,
                            interval_s=3600, backoff_s=args.backoff, max_backoff_s=args.max_backoff)
        watch = Watch(engine, process.pid)
        engine.subscribe(watch)
        deadline = threading.Timer(args.timeout, engine.request_stop)  # no endless retrying on a real failure
        deadline.start()
        profile = cProfile.Profile() if args.profile and not faults else None
        before = snapshot(process.pid)
        watch.started = time.perf_counter()
        try:
            if profile:
                profile.enable()
            engine.run()  # the app's sync loop, on this thread: cProfile sees the whole device side
        finally:
            if profile:
                profile.disable()
            total_s = time.perf_counter() - watch.started
            after = snapshot(process.pid, watch.backoff_s)
            deadline.cancel()
            engine.stop()
    finally:
        if proxy:
            injected, proxy_cpu_s = proxy.stop()
        stop(process)
    with DeviceStore.open(device) as store:
        counts = store.sync_counts()
    if counts["pending"] or watch.push_done_s is None:
        raise SystemExit(f"{label}: {counts['pending']} events still pending: {watch.last_message}")
    api_db = open_database(url)
    with api_db.connect() as conn:  # exactly once, resent batches included
        stored = conn.execute(select(func.count()).select_from(t.events)).scalar_one()
    api_db.dispose()
    if stored != events:
        raise SystemExit(f"{label}: the API stored {stored} events, not {events}")
    push_s, push, whole = watch.push_done_s, spent(before, watch.at_push_done), spent(before, after)
    result = {
        "seconds_to_acknowledged": round(push_s, 2), "events_per_s": round(events / push_s),
        "total_sync_s": round(total_s, 2), "pull_s": round(total_s - push_s, 2),
        "pull_share": round((total_s - push_s) / total_s, 3), "pulled_changes": watch.pulled,
        "conflicts": counts["conflict"], "rejected": counts["rejected"],
        "failed_attempts": watch.failures, "faults_injected": injected,
        # Device and API work side by side (batches in flight, API workers): at best their CPU
        # seconds spread over every core of the machine.
        "cpu_bound_events_per_s": round(events * CORES / (push["device_cpu_s"] + push["api_cpu_s"])),
        "push": push, "whole_sync": whole, "proxy_cpu_s": round(proxy_cpu_s, 2),
        "profiled": profile is not None,
    }
    print(f"{label}: {events} events acknowledged in {push_s:.2f} s = {result['events_per_s']} events/s; "
          f"whole sync {total_s:.2f} s, pull of {watch.pulled} changes {result['pull_s']} s ({result['pull_share']:.0%}); "
          f"{counts['conflict']} conflicts, {counts['rejected']} rejected")
    # Where the time went (seconds; not a partition: the API's threads may overlap, and the rest of
    # the wall time is fsync, the network and the proxy).
    for phase, figures in (("push", push), ("whole sync", whole)):
        print(f"  {phase}: " + ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v}" for k, v in figures.items()))
    print(f"  device + API CPU on {CORES} cores would allow at most {result['cpu_bound_events_per_s']} events/s")
    if proxy:
        print(f"  faults injected {injected}; {watch.failures} failed sync attempts; "
              f"fault proxy CPU {result['proxy_cpu_s']} s")
    if profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.profile)
        print("  device profile (tottime; timings of this run are inflated by cProfile):")
        print("\n".join("    " + line for line in out.getvalue().splitlines() if line.strip()))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--faults", type=float, default=0.05, help="share of HTTP requests dropped (0 skips the run)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=2, help="batches on their way at a time (the engine's default)")
    parser.add_argument("--workers", type=int, default=2, help="API processes sharing the SQLite file")
    parser.add_argument("--seed", type=int, default=1, help="the fault proxy's seed")
    parser.add_argument("--backoff", type=float, default=0.05, help="the engine's backoff_s (its default: 0.5)")
    parser.add_argument("--max-backoff", type=float, default=1.0, help="the engine's max_backoff_s (its default: 30)")
    parser.add_argument("--timeout", type=float, default=1800, help="give up a run after this many seconds")
    parser.add_argument("--profile", type=int, nargs="?", const=20, default=0, metavar="TOP",
                        help="cProfile the device side of the no-faults run; print the TOP functions")
    args = parser.parse_args()

    catalogue = demo_catalogue(now=NOW)
    summary: dict = {"bench": "sync_catchup", "events": args.events, "batch": args.batch, "faults": args.faults,
                     "api": f"sqlite, {args.workers} process(es)", "in_flight": args.in_flight,
                     "backoff_s": args.backoff, "max_backoff_s": args.max_backoff}
    summary["load_avg_1min"] = os.getloadavg()[0]  # other work on this machine moves the wall-clock figures
    with tempfile.TemporaryDirectory(prefix="returnflow-catchup-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        make_backlog(workdir / "template.db", catalogue, args.events)
        summary["setup_s"] = round(time.perf_counter() - started, 1)
        print(f"backlog: {args.events} device events through the store's commands in {summary['setup_s']} s")
        summary["no_faults"] = catch_up("no faults", workdir / "template.db", workdir, catalogue, args.events, 0, args)
        if args.faults:
            summary["with_faults"] = catch_up(f"{args.faults:.0%} dropped", workdir / "template.db", workdir,
                                              catalogue, args.events, args.faults, args)
        # Read back only now: 100,000 event models held through the runs would make every full
        # collection of the device's garbage collector walk them.
        with DeviceStore.open(workdir / "template.db") as store:
            backlog = store.events()
        raw = raw_insert_rate(f"sqlite:///{workdir}/raw.db", {DEVICE_ID: backlog}, args.batch)
    summary["raw_insert_events_per_s"] = round(raw)
    runs = [r for r in (summary["no_faults"], summary.get("with_faults")) if r]
    for run in runs:
        run["ratio_to_raw"] = round(run["events_per_s"] / raw, 3)
    print(f"raw insert of the same rows into SQLite: {round(raw)} events/s; sync / raw: "
          + ", ".join(str(r["ratio_to_raw"]) for r in runs))
    summary["targets_met"] = {"no_faults_20k_per_s": summary["no_faults"]["events_per_s"] >= TARGET_EVENTS_PER_S}
    if args.faults:
        summary["targets_met"]["with_faults_10k_per_s"] = summary["with_faults"]["events_per_s"] >= TARGET_WITH_FAULTS
    print(f"targets: {summary['targets_met']}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
