"""Device store benchmark: durable command latency and item master load, each beside plain sqlite3.

Usage: python bench/local_db.py [--dir DIR] [--sequences N] [--items N] [--repeat N]

1. Command latency: N unit sequences (receive, inspect, grade, decide disposition, store) through
   DeviceStore on a file database, each command timed on its own and each sequence as a whole.
   Baseline: the same number of single-row durable INSERT transactions (BEGIN IMMEDIATE, INSERT
   into the store's own `events` table definition, COMMIT) with plain sqlite3, interleaved with the
   store's sequences so both see the same disk. Target: p99 command latency <= 2x baseline p99.
2. Item master load: DeviceStore.load_items with N generated items (valid GTIN-13s), against a
   plain executemany of the same rows into the store's own `items` and `item_gtins` definitions in
   one transaction. Best of --repeat runs each, alternating. Target: <= 2x the plain bulk insert.

Both sides use WAL, synchronous=FULL and foreign keys on. Databases go in a temporary directory
(under --dir when given) that is removed afterwards. The last printed line is the JSON summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Run by path, this file's folder comes first on sys.path, and this file would shadow the
# local_db package it measures.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from domain import (  # noqa: E402
    BIN_TYPE_FOR_DISPOSITION,
    RECEIVABLE_RMA_STATES,
    Actor,
    BinType,
    Disposition,
    Grade,
    Item,
    Role,
    gs1_check_digit,
    suggest,
)
from domain.demo import DemoCatalogue, demo_catalogue  # noqa: E402
from domain.labels import lpn as lpn_label  # noqa: E402
from local_db import DeviceStore  # noqa: E402

ASSOCIATE = Actor(user_id="alex", role=Role.ASSOCIATE)
COMMANDS = ("receive", "inspect", "grade", "decide_disposition", "store")
PRAGMAS = ("PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON")
NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
TARGET_RATIO = 2.0


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def figures(samples_ns: Sequence[int]) -> dict[str, float]:
    return {"p50_ms": round(percentile(samples_ns, 50) / 1e6, 4), "p99_ms": round(percentile(samples_ns, 99) / 1e6, 4)}


def plain_connection(path: Path, ddl_from: sqlite3.Connection, tables: Sequence[str]) -> sqlite3.Connection:
    """A plain sqlite3 file with the store's own definitions of `tables` (and their indexes)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    names = ", ".join("?" * len(tables))
    for (sql,) in ddl_from.execute(
        f"SELECT sql FROM sqlite_master WHERE tbl_name IN ({names}) AND sql IS NOT NULL ORDER BY type DESC", tables
    ):
        conn.execute(sql)
    return conn


def open_store(path: Path, catalogue: DemoCatalogue) -> DeviceStore:
    store = DeviceStore.open(path)
    store.initialize("bench-device-1")
    store.load_catalogue(catalogue)
    return store


# --- 1. command latency -------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One unit's way through the store, worked out before the clock starts."""

    receive: dict[str, object]
    answers: dict[str, bool]
    grade: Grade
    disposition: Disposition
    bin_code: str


def plan_sequences(catalogue: DemoCatalogue, count: int) -> list[Plan]:
    checklists = {c.code: [q.question_id for q in c.checklist] for c in catalogue.categories}
    bins = {t: [b.code for b in catalogue.bins if b.type is t] for t in BinType}
    items = {i.sku: i for i in catalogue.items}
    rma_lines = [(r.rma_id, line) for r in catalogue.rmas if r.state in RECEIVABLE_RMA_STATES for line in r.lines]
    # A dock's spread of grades; every unit takes the suggested disposition (X means a quarantine bin).
    grades = (Grade.A, Grade.A, Grade.A, Grade.B, Grade.B, Grade.C, Grade.D, Grade.X)
    plans = []
    for n in range(count):
        if n % 2 == 0:  # half against RMA lines, half blind returns, as at a real dock
            rma_id, line = rma_lines[n // 2 % len(rma_lines)]
            item, reason = items[line.sku], line.reason_code
            against: dict[str, object] = {"rma_id": rma_id, "line_no": line.line_no}
        else:
            item, reason = catalogue.items[n % len(catalogue.items)], "no_longer_needed"
            against = {"reason_code": reason}
        grade = grades[n % len(grades)]
        rule = suggest(catalogue.rules, category=item.category, grade=grade, reason_code=reason, condition_codes=())
        bin_type = BIN_TYPE_FOR_DISPOSITION[rule.disposition]
        plans.append(Plan(
            receive={
                "lpn": lpn_label(n + 1), "sku": item.sku, "bin_code": bins[BinType.DOCK][n % len(bins[BinType.DOCK])],
                "serial": f"SN{n:09d}" if item.serial_tracked else None,
                "lot": "LOT042" if item.lot_tracked else None,
                "expiry": dt.date(2027, 6, 30) if item.lot_tracked else None,
                **against,
            },
            answers={q: True for q in checklists[item.category]},
            grade=grade,
            disposition=rule.disposition,
            bin_code=bins[bin_type][n % len(bins[bin_type])],
        ))
    return plans


def bench_commands(workdir: Path, catalogue: DemoCatalogue, sequences: int) -> dict[str, object]:
    plans = plan_sequences(catalogue, sequences)
    store = open_store(workdir / "commands.db", catalogue)
    plain = plain_connection(workdir / "plain-commands.db", store.db.conn, ("events",))
    # A row the size of a typical event: the baseline writes as many bytes per transaction.
    payload = json.dumps({"lpn": lpn_label(1), "inspection": {"answers": {f"q{i}": True for i in range(6)}}})
    samples: dict[str, list[int]] = {name: [] for name in COMMANDS}
    whole, baseline = [], []
    clock = time.perf_counter_ns
    seq = 0
    try:
        for plan in plans:
            lpn = plan.receive["lpn"]
            steps: tuple[tuple[str, Callable[..., object], dict[str, object]], ...] = (
                ("receive", store.receive, plan.receive),
                ("inspect", store.inspect, {"lpn": lpn, "answers": plan.answers}),
                ("grade", store.grade, {"lpn": lpn, "grade": plan.grade}),
                ("decide_disposition", store.decide_disposition, {"lpn": lpn, "disposition": plan.disposition}),
                ("store", store.store, {"lpn": lpn, "bin_code": plan.bin_code}),
            )
            began = clock()
            for name, command, arguments in steps:
                start = clock()
                command(ASSOCIATE, **arguments)
                samples[name].append(clock() - start)
            whole.append(clock() - began)
            for _ in COMMANDS:
                seq += 1
                start = clock()
                plain.execute("BEGIN IMMEDIATE")
                plain.execute(
                    """INSERT INTO events (device_seq, event_id, type, hlc, actor, role, occurred_at,
                       schema_version, base_version, payload)
                       VALUES (?, ?, 'inspection_recorded', ?, 'alex', 'associate', ?, 1, 0, ?)""",
                    (seq, f"bench-{seq}", f"{seq:016d}", NOW.isoformat(), payload),
                )
                plain.execute("COMMIT")
                baseline.append(clock() - start)
    finally:
        store.close()
        plain.close()
    pooled = figures([s for name in COMMANDS for s in samples[name]])
    base = figures(baseline)
    per_command = {name: figures(samples[name]) for name in COMMANDS}
    return {
        "sequences": sequences,
        "commands": per_command,
        "all_commands": pooled,
        "sequence": figures(whole),
        "plain_txn": base,
        "p99_ratio": round(pooled["p99_ms"] / base["p99_ms"], 2),
        # Not a target, but the baseline's p99 is mostly disk jitter: the p50 ratio shows the store's own cost.
        "p50_ratio": round(pooled["p50_ms"] / base["p50_ms"], 2),
        "p99_ratio_by_command": {name: round(f["p99_ms"] / base["p99_ms"], 2) for name, f in per_command.items()},
    }


# --- 2. item master load ------------------------------------------------------------------------


def generated_items(catalogue: DemoCatalogue, count: int) -> list[Item]:
    categories = [c.code for c in catalogue.categories]
    items = []
    for n in range(count):
        body = f"40{n:010d}"  # outside the demo catalogue's GS1 prefix, so no GTIN clashes
        items.append(Item(
            sku=f"BEN-{n:07d}", name=f"Bench item {n}", category=categories[n % len(categories)],
            gtins=(f"{body}{gs1_check_digit(body)}",), serial_tracked=n % 7 == 0, lot_tracked=n % 11 == 0,
            unit_value_cents=100 + n % 50_000,
        ))
    return items


def bench_load(workdir: Path, catalogue: DemoCatalogue, count: int, repeat: int) -> dict[str, object]:
    items = generated_items(catalogue, count)
    rows = [(i.sku, i.name, i.category, i.serial_tracked, i.lot_tracked, i.unit_value_cents) for i in items]
    gtins = [(i.gtins[0], i.sku) for i in items]
    store_times, plain_times = [], []
    for run in range(repeat):
        with open_store(workdir / f"load-{run}.db", catalogue) as store:
            start = time.perf_counter()
            store.load_items(items)
            store_times.append(time.perf_counter() - start)
            plain = plain_connection(workdir / f"plain-load-{run}.db", store.db.conn,
                                     ("categories", "items", "item_gtins"))
        try:
            plain.executemany("INSERT INTO categories (code, name, checklist) VALUES (?, ?, '[]')",
                              [(c.code, c.name) for c in catalogue.categories])
            start = time.perf_counter()
            plain.execute("BEGIN IMMEDIATE")
            plain.executemany("""INSERT INTO items (sku, name, category, serial_tracked, lot_tracked, unit_value_cents)
                                 VALUES (?, ?, ?, ?, ?, ?)""", rows)
            plain.executemany("INSERT INTO item_gtins (gtin, sku) VALUES (?, ?)", gtins)
            plain.execute("COMMIT")
            plain_times.append(time.perf_counter() - start)
        finally:
            plain.close()
    store_s, plain_s = min(store_times), min(plain_times)
    return {"items": count, "store_s": round(store_s, 4), "plain_s": round(plain_s, 4),
            "ratio": round(store_s / plain_s, 2), "repeat": repeat}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where to create the temporary directory (default: system temp)")
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="item loads per side; the best one counts")
    args = parser.parse_args(argv)

    catalogue = demo_catalogue(now=NOW)
    workdir = Path(tempfile.mkdtemp(prefix="returnflow-bench-", dir=args.dir))
    try:
        commands = bench_commands(workdir, catalogue, args.sequences)
        load = bench_load(workdir, catalogue, args.items, args.repeat)
    finally:
        shutil.rmtree(workdir)

    print(f"durable commands, {commands['sequences']} sequences (file database, WAL, synchronous=FULL):")
    for name, f in {**commands["commands"], "all commands": commands["all_commands"],
                    "whole sequence": commands["sequence"], "plain sqlite3 txn": commands["plain_txn"]}.items():
        print(f"  {name:<20} p50 {f['p50_ms']:8.3f} ms   p99 {f['p99_ms']:8.3f} ms")
    print(f"  p99 all commands / plain txn: {commands['p99_ratio']}x (target <= {TARGET_RATIO}x); by command: "
          + ", ".join(f"{k} {v}x" for k, v in commands["p99_ratio_by_command"].items()))
    print(f"  p50 all commands / plain txn: {commands['p50_ratio']}x")
    print(f"item master load, {load['items']} items (best of {load['repeat']}): store {load['store_s']:.3f} s, "
          f"plain executemany {load['plain_s']:.3f} s, ratio {load['ratio']}x (target <= {TARGET_RATIO}x)")
    targets = {
        "command_p99_within_2x": commands["p99_ratio"] <= TARGET_RATIO,
        "every_command_p99_within_2x": max(commands["p99_ratio_by_command"].values()) <= TARGET_RATIO,
        "item_load_within_2x": load["ratio"] <= TARGET_RATIO,
    }
    print(json.dumps({"bench": "local_db", "commands": commands, "item_load": load, "targets_met": targets}))


if __name__ == "__main__":
    main()
