"""Central API ingest over loopback HTTP: 100,000 events from 100 simulated devices.

For SQLite (--sqlite-workers API processes sharing the file, four by default) and PostgreSQL (two
API processes): events/s end to end and p50/p99 batch latency, beside the raw rate of inserting the
same event rows into the same engine without the API. Prints human-readable lines, then a JSON summary as the last line.

    .venv/bin/python bench/ingest.py [--events 100000] [--devices 100] [--batch 500]
        [--senders 4] [--sqlite-workers 4] [--pg postgresql://postgres@127.0.0.1:5432/test] [--skip-pg]
        [--skip-sqlite]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import orjson
import psycopg
from sqlalchemy import insert

from domain import (
    BlindReceipt,
    Disposition,
    DispositionDecided,
    DispositionDecision,
    Event,
    Grade,
    Inspection,
    InspectionRecorded,
    Role,
    UnitGraded,
    UnitStored,
    uuid7,
)
from domain.demo import demo_catalogue
from domain.labels import lpn
from erp import tables as t
from erp.identity import provision_device
from erp.masterdata import load_catalogue
from erp.storage import open_database

ROOT = Path(__file__).resolve().parent.parent
RETURNFLOW = Path(sys.executable).with_name("returnflow")
NOW = dt.datetime.now(dt.UTC)


def device_log(device_no: int, count: int, catalogue) -> list[Event]:
    """`count` events of one device: units received blind, inspected, graded A, restocked, stored."""
    items = [i for i in catalogue.items if not (i.serial_tracked or i.lot_tracked)]
    checklists = {c.code: {q.question_id: True for q in c.checklist} for c in catalogue.categories}
    device_id = f"bench-{device_no:03d}"
    events: list[Event] = []
    unit_no = 0
    while len(events) < count:
        unit_no += 1
        item = items[(device_no * 7 + unit_no) % len(items)]
        code = lpn(device_no * 1_000_000 + unit_no)
        bin_code = f"BIN-RST-R{1 + unit_no % 12:02d}"
        steps = [
            BlindReceipt(lpn=code, sku=item.sku, bin_code="BIN-DCK-A01", reason_code="size_fit"),
            InspectionRecorded(lpn=code, inspection=Inspection(answers=checklists[item.category])),
            UnitGraded(lpn=code, grade=Grade.A),
            DispositionDecided(lpn=code, decision=DispositionDecision(
                disposition=Disposition.RESTOCK, suggested=Disposition.RESTOCK, rule_id="grade_a_restock")),
            UnitStored(lpn=code, bin_code=bin_code),
        ]
        for payload in steps[: count - len(events)]:
            seq = len(events) + 1
            at = NOW + dt.timedelta(milliseconds=seq)
            millis = int(at.timestamp() * 1000)
            events.append(Event(event_id=uuid7(millis, os.urandom(10)), device_id=device_id, device_seq=seq,
                                hlc=f"{millis:015d}.000000", actor="alex", role=Role.ASSOCIATE, occurred_at=at,
                                type=payload.type, payload=payload))
    return events


def prepare(url: str, devices: int, catalogue) -> dict[str, str]:
    engine = open_database(url)
    secrets = {}
    with engine.begin() as conn:
        load_catalogue(conn, catalogue)
        for d in range(devices):
            device_id = f"bench-{d:03d}"
            secrets[device_id] = provision_device(conn, device_id, "DC1", NOW)
    engine.dispose()
    return secrets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([str(RETURNFLOW), "erp", "serve", "--db", url, "--port", str(port),
                                "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"API did not start: {process.stderr.read().decode()[-2000:]}")


def push_all(port: int, logs: dict[str, list[Event]], secrets: dict[str, str], batch: int,
             senders: int) -> tuple[float, list[float]]:
    """Every device's log in batches, devices spread over `senders` threads; returns seconds and latencies."""
    bodies = {
        device_id: [orjson.dumps({"device_id": device_id, "sent_at": NOW.isoformat(),
                                  "events": [e.model_dump(mode="json") for e in log[i:i + batch]]})
                    for i in range(0, len(log), batch)]
        for device_id, log in logs.items()
    }
    latencies: list[float] = []
    lock = threading.Lock()
    device_ids = sorted(bodies)

    def sender(worker: int) -> None:
        mine = device_ids[worker::senders]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            # Round-robin over this sender's devices, so batches of many devices are in flight.
            for round_no in range(max(len(bodies[d]) for d in mine)):
                for device_id in mine:
                    if round_no >= len(bodies[device_id]):
                        continue
                    headers = {"X-Returnflow-Device": device_id, "Authorization": f"Bearer {secrets[device_id]}",
                               "Content-Type": "application/json"}
                    started = time.perf_counter()
                    response = client.post("/api/v1/sync/push", content=bodies[device_id][round_no], headers=headers)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise SystemExit(f"push failed: {response.status_code} {response.text[:500]}")
                    with lock:
                        latencies.append(elapsed)

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def cpu_seconds(root_pid: int | None = None) -> float | None:
    """CPU time (user + system) of this process, or of `root_pid` and its descendants (Linux /proc)."""
    if root_pid is None:
        return time.process_time()
    stats = _proc_stats()
    if stats is None:
        return None
    return sum(stats[pid][1] for pid in process_tree(root_pid, stats)) / os.sysconf("SC_CLK_TCK")


def process_tree(root_pid: int, stats: dict[int, tuple[int, int]] | None = None) -> set[int]:
    """`root_pid` and its descendants (an API's uvicorn workers), as far as /proc shows them."""
    stats = stats if stats is not None else (_proc_stats() or {})
    tree, changed = {root_pid}, True
    while changed:
        changed = False
        for pid, (ppid, _) in stats.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return {pid for pid in tree if pid in stats}


def _proc_stats() -> dict[int, tuple[int, int]] | None:
    """pid -> (parent pid, CPU clock ticks) of every process."""
    stats = {}
    try:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, utime + stime
    except OSError:
        return None
    return stats


def raw_insert_rate(url: str, logs: dict[str, list[Event]], batch: int) -> float:
    """The limit: the same event rows inserted straight into a fresh database of the same engine."""
    engine = open_database(url)
    rows = [[{"event_id": str(e.event_id), "device_id": e.device_id, "device_seq": e.device_seq,
              "type": e.type.value, "hlc": e.hlc, "actor": e.actor, "role": e.role.value,
              "occurred_at": e.occurred_at, "received_at": NOW, "schema_version": 1, "base_version": 0,
              "payload": e.payload.model_dump(mode="json"), "outcome": "applied", "rule": None,
              "exception_id": None, "reason": None} for e in log[i:i + batch]]
            for log in logs.values() for i in range(0, len(log), batch)]
    started = time.perf_counter()
    for chunk in rows:
        with engine.begin() as conn:
            conn.execute(insert(t.events), chunk)
    seconds = time.perf_counter() - started
    engine.dispose()
    return sum(len(c) for c in rows) / seconds


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 2)


def pg_database(admin_url: str) -> tuple[str, str]:
    name = f"returnflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_pg(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_engine(label: str, url: str, raw_url: str, workers: int, logs, catalogue, args) -> dict:
    secrets = prepare(url, args.devices, catalogue)
    process, port = serve(url, workers)
    try:
        server_cpu, client_cpu = cpu_seconds(process.pid), cpu_seconds()
        seconds, latencies = push_all(port, logs, secrets, args.batch, args.senders)
        server_cpu, client_cpu = _spent(server_cpu, cpu_seconds(process.pid)), _spent(client_cpu, cpu_seconds())
    finally:
        process.terminate()
        process.wait(timeout=30)
    total = sum(len(log) for log in logs.values())
    raw = raw_insert_rate(raw_url, logs, args.batch)
    latencies.sort()
    result = {
        "api_processes": workers,
        "events": total,
        "seconds": round(seconds, 2),
        "events_per_s": round(total / seconds),
        "batch_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "batch_p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 1),
        "raw_insert_events_per_s": round(raw),
    }
    result["ratio_to_raw"] = round(result["events_per_s"] / raw, 3)
    # Where the CPU went while pushing (the client and the API share this machine's cores; the
    # database server's own processes are not counted).
    result["client_cpu_s"], result["api_cpu_s"] = client_cpu, server_cpu
    print(f"{label}: {result['events_per_s']} events/s end to end ({workers} API process(es)), "
          f"batch p50 {result['batch_p50_ms']} ms p99 {result['batch_p99_ms']} ms; "
          f"raw insert {result['raw_insert_events_per_s']} events/s; ratio {result['ratio_to_raw']}; "
          f"CPU: client {client_cpu} s, API {server_cpu} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    # Four senders keep one API process (SQLite) or two (PostgreSQL) busy: eight gave no more
    # events/s on this 2-core machine, spent more of its CPU in the client's own threads and only
    # doubled the time each batch waited in the server's queue.
    parser.add_argument("--senders", type=int, default=4, help="concurrent client threads (connections)")
    parser.add_argument("--pg", default=os.environ.get("RETURNFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--sqlite-workers", type=int, default=4, help="API processes sharing the SQLite file")
    args = parser.parse_args()

    catalogue = demo_catalogue(now=NOW)
    per_device = args.events // args.devices
    logs = {f"bench-{d:03d}": device_log(d, per_device, catalogue) for d in range(args.devices)}
    summary: dict = {"events": per_device * args.devices, "devices": args.devices, "batch": args.batch,
                     "senders": args.senders}
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="returnflow-ingest-") as tmp:
            summary["sqlite"] = run_engine("sqlite", f"sqlite:///{tmp}/api.db", f"sqlite:///{tmp}/raw.db",
                                           args.sqlite_workers, logs, catalogue, args)
    if not args.skip_pg:
        url, name = pg_database(args.pg)
        raw_url, raw_name = pg_database(args.pg)
        try:
            summary["postgresql"] = run_engine("postgresql", url, raw_url, 2, logs, catalogue, args)
        finally:
            drop_pg(args.pg, name)
            drop_pg(args.pg, raw_name)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
