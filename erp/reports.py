"""Reconciliation and returns metrics, read from the central store.

Times are the physical times of each step (device clock corrected by its measured skew), so a
device that synced a week late does not inflate cycle times.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from domain import Disposition, UnitState

from . import tables as t

# Share of an item's value each disposition is expected to recover. Business assumptions, kept
# as data so finance can change them; the metric reports them beside the rate.
RECOVERY_FACTORS: dict[Disposition, float] = {
    Disposition.RESTOCK: 1.0,
    Disposition.REFURBISH: 0.7,
    Disposition.VENDOR_RETURN: 0.9,
    Disposition.LIQUIDATE: 0.25,
    Disposition.SCRAP: 0.0,
    Disposition.QUARANTINE: 0.0,
}
# Units in these states still wait for someone on the floor.
WAITING_STATES = (UnitState.RECEIVED, UnitState.INSPECTED, UnitState.GRADED, UnitState.DISPOSITIONED,
                  UnitState.QUARANTINED, UnitState.DISPUTED)
AGE_BUCKETS_HOURS = (4, 24, 72)


def _hours_between(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds() / 3600


def duration_summary(hours: Iterable[float | None]) -> dict[str, Any]:
    values = sorted(h for h in hours if h is not None)
    if not values:
        return {"count": 0, "p50_hours": None, "p90_hours": None, "mean_hours": None}
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
    return {"count": len(values), "p50_hours": round(statistics.median(values), 3), "p90_hours": round(p90, 3),
            "mean_hours": round(statistics.fmean(values), 3)}


def stock(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(t.stock.c.sku, t.stock.c.bin_code, t.stock.c.status, t.stock.c.qty)
                        .order_by(t.stock.c.sku, t.stock.c.bin_code, t.stock.c.status)).all()
    return [dict(r._mapping) for r in rows]


def rma_receipts(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(t.rma_lines.c.rma_id, t.rma_lines.c.line_no, t.rma_lines.c.sku,
                               t.rma_lines.c.expected_qty, t.rma_lines.c.received_qty, t.rmas.c.state)
                        .join(t.rmas, t.rmas.c.rma_id == t.rma_lines.c.rma_id)
                        .order_by(t.rma_lines.c.rma_id, t.rma_lines.c.line_no)).all()
    return [{**r._mapping, "variance": r.received_qty - r.expected_qty} for r in rows]


def inventory_variance(conn: Connection) -> list[dict[str, Any]]:
    """The latest count of each (bin, SKU): counted minus what the returns flow put there."""
    latest = (select(t.bin_counts.c.bin_code, t.bin_counts.c.sku, func.max(t.bin_counts.c.counted_at).label("at"))
              .group_by(t.bin_counts.c.bin_code, t.bin_counts.c.sku).subquery())
    rows = conn.execute(select(t.bin_counts.c.bin_code, t.bin_counts.c.sku, t.bin_counts.c.counted,
                               t.bin_counts.c.expected, t.bin_counts.c.counted_at)
                        .join(latest, (latest.c.bin_code == t.bin_counts.c.bin_code)
                              & (latest.c.sku == t.bin_counts.c.sku) & (latest.c.at == t.bin_counts.c.counted_at))
                        .order_by(t.bin_counts.c.bin_code, t.bin_counts.c.sku)).all()
    return [{**r._mapping, "variance": r.counted - r.expected} for r in rows]


def metrics(conn: Connection, now: dt.datetime) -> dict[str, Any]:
    units = conn.execute(select(t.units.c.lpn, t.units.c.state, t.units.c.bin_code, t.units.c.reason_code,
                                t.units.c.disposition, t.units.c.received_at, t.units.c.reclassified_at,
                                t.units.c.stored_at, t.items.c.unit_value_cents)
                         .join(t.items, t.items.c.sku == t.units.c.sku)
                         .where(t.units.c.state != UnitState.VOIDED)).all()  # a voided receipt is no return
    refunds = conn.execute(select(t.refunds.c.decided_at, t.rmas.c.first_received_at)
                           .join(t.rmas, t.rmas.c.rma_id == t.refunds.c.rma_id)).all()
    variance = inventory_variance(conn)
    return {
        "units": len(units),
        "cycle_time": duration_summary(_hours_between(u.received_at, u.stored_at) for u in units),
        "time_to_reclassification": duration_summary(_hours_between(u.received_at, u.reclassified_at) for u in units),
        "refund_latency": duration_summary(_hours_between(r.first_received_at, r.decided_at) for r in refunds),
        "recovery_by_disposition": _recovery(units),
        "reason_concentration": _reasons(units),
        "inventory_variance": {
            "lines_counted": len(variance),
            "units_expected": sum(v["expected"] for v in variance),
            "absolute_variance": sum(abs(v["variance"]) for v in variance),
            "net_variance": sum(v["variance"] for v in variance),
        },
        "waiting": _waiting(units, now),
    }


def _recovery(units: Sequence[Any]) -> dict[str, Any]:
    value: dict[str, int] = defaultdict(int)
    count: Counter[str] = Counter()
    for u in units:
        if u.disposition:
            value[u.disposition] += u.unit_value_cents
            count[u.disposition] += 1
    total = sum(value.values())
    result = {}
    for disposition in Disposition:
        key = disposition.value
        factor = RECOVERY_FACTORS[disposition]
        result[key] = {"units": count[key], "value_cents": value[key], "recovery_factor": factor,
                       "recovered_cents": round(value[key] * factor),
                       "share_of_value": round(value[key] / total, 4) if total else 0.0}
    recovered = sum(r["recovered_cents"] for r in result.values())
    return {"by_disposition": result, "overall_rate": round(recovered / total, 4) if total else None}


def _reasons(units: Sequence[Any]) -> dict[str, Any]:
    counts = Counter(u.reason_code for u in units)
    total = sum(counts.values())
    shares = {code: n / total for code, n in counts.items()} if total else {}
    return {
        "by_reason": [{"reason_code": code, "units": n, "share": round(shares[code], 4)}
                      for code, n in counts.most_common()],
        # Herfindahl-Hirschman index of reason shares: 1.0 means every return has the same reason.
        "hhi": round(sum(s * s for s in shares.values()), 4) if total else None,
    }


def _waiting(units: Sequence[Any], now: dt.datetime) -> dict[str, Any]:
    by_state: Counter[str] = Counter()
    by_bin: Counter[str] = Counter()
    ages: Counter[str] = Counter()
    for u in units:
        if u.state not in WAITING_STATES:
            continue
        by_state[u.state] += 1
        by_bin[u.bin_code] += 1
        age = _hours_between(u.received_at, now) or 0.0
        bucket = next((f"<{h}h" for h in AGE_BUCKETS_HOURS if age < h), f">={AGE_BUCKETS_HOURS[-1]}h")
        ages[bucket] += 1
    return {"total": sum(by_state.values()),
            "by_state": {s.value: by_state[s.value] for s in WAITING_STATES},
            "by_bin": dict(by_bin.most_common(10)),
            "by_age": {b: ages[b] for b in (*(f"<{h}h" for h in AGE_BUCKETS_HOURS), f">={AGE_BUCKETS_HOURS[-1]}h")}}


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
