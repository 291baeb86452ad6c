"""The supervisor's dashboard: one HTML page with charts drawn here as SVG (no scripts, no CDN)."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#111}
header{background:#12263a;color:#fff;padding:12px 20px}h1{font-size:1.3rem;margin:0}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px;padding:16px}
section{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px #0002}
h2{font-size:1rem;margin:0 0 10px}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #eee;font-size:.9rem}
.big{font-size:2rem;font-weight:700}.muted{color:#555;font-size:.85rem}
"""


def _bars(data: dict[str, float], *, unit: str = "", width: int = 300, colour: str = "#2f6fb0") -> str:
    """A horizontal bar chart as inline SVG, one labelled bar per key."""
    if not data:
        return '<p class="muted">nothing yet</p>'
    top = max(data.values()) or 1
    row, label_w = 22, 120
    parts = [f'<svg role="img" width="{width}" height="{row * len(data) + 4}" '
             f'viewBox="0 0 {width} {row * len(data) + 4}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(data.items()):
        y = i * row + 2
        bar = (width - label_w - 50) * value / top
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{escape(str(label))}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{bar:.1f}" height="15" fill="{colour}"/>'
                     f'<text x="{label_w + bar + 4:.1f}" y="{y + 15}" font-size="12">{value:g}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _format_hours(hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _duration(summary: dict[str, Any]) -> str:
    if not summary["count"]:
        return '<p class="muted">no data yet</p>'
    return (f'<p><span class="big">{_format_hours(summary["p50_hours"])}</span> median, '
            f'{_format_hours(summary["p90_hours"])} p90 <span class="muted">({summary["count"]} units)</span></p>')


def render(metrics: dict[str, Any], open_exceptions: list[dict[str, Any]]) -> str:
    waiting = metrics["waiting"]
    recovery = metrics["recovery_by_disposition"]
    reasons = metrics["reason_concentration"]
    variance = metrics["inventory_variance"]
    exception_rows = "".join(
        f'<tr><td>{escape(e["kind"])}</td><td>{escape(e["lpn"] or e["bin_code"] or "")}</td>'
        f'<td>{escape(e["device_id"] or "")}</td></tr>' for e in open_exceptions[:15]
    ) or '<tr><td colspan="3" class="muted">none open</td></tr>'
    rate = recovery["overall_rate"]
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>returnflow: returns dashboard</title>
<style>{_STYLE}</style></head><body>
<header><h1>returnflow returns dashboard</h1></header><main>
<section id="waiting"><h2>Where returns wait</h2>
<p><span class="big">{waiting["total"]}</span> units not yet put away</p>
{_bars(waiting["by_state"])}<h2>By age since receipt</h2>{_bars(waiting["by_age"], colour="#b0622f")}
<h2>Busiest bins</h2>{_bars(waiting["by_bin"], colour="#6b4fb0")}</section>
<section id="exceptions"><h2>Open exceptions: {len(open_exceptions)}</h2>
<table><tr><th>kind</th><th>unit / bin</th><th>device</th></tr>{exception_rows}</table></section>
<section id="cycle"><h2>Return cycle time (receipt to put-away)</h2>{_duration(metrics["cycle_time"])}
<h2>Time to reclassification</h2>{_duration(metrics["time_to_reclassification"])}
<h2>Refund latency</h2>{_duration(metrics["refund_latency"])}</section>
<section id="recovery"><h2>Recovery by disposition</h2>
<p><span class="big">{"-" if rate is None else f"{rate:.0%}"}</span> of returned value recovered</p>
{_bars({k: v["units"] for k, v in recovery["by_disposition"].items()}, unit=" u", colour="#2f8f5b")}</section>
<section id="reasons"><h2>Return reasons</h2>
{_bars({r["reason_code"]: round(100 * r["share"], 1) for r in reasons["by_reason"]}, unit="%")}
<p class="muted">concentration (HHI): {reasons["hhi"] if reasons["hhi"] is not None else "-"}</p></section>
<section id="variance"><h2>Inventory variance after returns</h2>
<p><span class="big">{variance["net_variance"]:+d}</span> units net,
{variance["absolute_variance"]} absolute, over {variance["lines_counted"]} counted bin lines</p></section>
</main></body></html>"""
