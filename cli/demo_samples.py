"""The demo's sample labels: every barcode that one RMA's journey through the warehouse needs.

The demo's first receivable RMA: its label, each line's item barcode, one LPN label per unit it
expects, and a bin of each type (receive at the dock, inspect, then put away into the bin that
fits the disposition: restock, quarantine, refurbish...). Each is a PNG with its text under the
bars, and one HTML sheet shows them all, to print or to show on a second screen and scan from.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import zxingcpp

from domain import labels
from domain.demo import DemoCatalogue, demo_catalogue
from scanner import barcode_image, png_bytes

SHEET = "sheet.html"
FIRST_LPN = 900_001  # far above what the handheld numbers on its own


@dataclass(frozen=True)
class Label:
    section: str
    file: str  # PNG name in the samples folder
    content: str
    symbology: zxingcpp.BarcodeFormat
    description: str


def write_samples(folder: Path) -> Path:
    """Write each label as a PNG and the sheet that shows them all; returns the sheet's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rma_id, sample = sample_labels(demo_catalogue(now=dt.datetime.now(dt.UTC)))
    for label in sample:
        (folder / label.file).write_bytes(png_bytes(barcode_image(label.content, label.symbology, text=True)))
    sheet = folder / SHEET
    sheet.write_text(_sheet_html(rma_id, sample), encoding="utf-8")
    return sheet


def sample_labels(catalogue: DemoCatalogue) -> tuple[str, list[Label]]:
    """The RMA the demo receives and, in the order a dock uses them, the labels its journey needs."""
    code128, ean13 = zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.EAN13
    rma = next(r for r in catalogue.rmas if r.state.value == "approved")
    items = {item.sku: item for item in catalogue.items}
    sample = [Label("Return authorization", "rma.png", rma.rma_id, code128,
                    f"{rma.rma_id}: {len(rma.lines)} line(s), order {rma.order_ref}")]
    for line in rma.lines:
        item = items[line.sku]
        sample.append(Label("Items", f"item-line-{line.line_no}.png", item.gtins[0][-13:], ean13,
                            f"line {line.line_no}: {item.name} ({item.sku}), {line.expected_qty} expected, "
                            f"reason {line.reason_code}"))
    units = sum(line.expected_qty for line in rma.lines)
    for n in range(units):
        code = labels.lpn(FIRST_LPN + n)
        sample.append(Label("License plates (one per unit)", f"lpn-{n + 1}.png", code, code128, code))
    first_bin_of_type = {}
    for bin_ in catalogue.bins:
        first_bin_of_type.setdefault(bin_.type, bin_)
    for bin_type, bin_ in first_bin_of_type.items():
        sample.append(Label("Bins", f"bin-{bin_type.value}.png", bin_.code, code128,
                            f"{bin_type.value.replace('_', ' ')} bin {bin_.code}"))
    return rma.rma_id, sample


def _sheet_html(rma_id: str, sample: list[Label]) -> str:
    sections: dict[str, list[Label]] = {}
    for label in sample:
        sections.setdefault(label.section, []).append(label)
    body = "".join(
        f"<h2>{html.escape(section)}</h2><div class=row>"
        + "".join(f'<figure><img src="{label.file}" alt="{html.escape(label.content)}">'
                  f"<figcaption>{html.escape(label.description)}</figcaption></figure>" for label in group)
        + "</div>"
        for section, group in sections.items())
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>returnflow demo labels: {rma_id}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
.row {{ display: flex; flex-wrap: wrap; gap: 1.5em; }}
figure {{ margin: 0; break-inside: avoid; }}
img {{ display: block; max-width: 100%; }}  /* at its own size: a camera reads it from a screen */
figcaption {{ font-size: 0.9em; max-width: 22em; }}
</style></head><body>
<h1>returnflow demo labels: {rma_id}</h1>
<p>Sign in on the handheld, open Receive, and scan from this page: the RMA, then for each unit its
item and an LPN label (a dock bin first, to receive into that bin). Inspect and grade each unit,
then put it away into the bin that fits its disposition.</p>
{body}
</body></html>
"""
