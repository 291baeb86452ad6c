"""Decode benchmark: pyzbar alone, zxing-cpp alone and the scanner pipeline, side by side.

Usage: python bench/decode.py [--frames N] CORPUS_DIR...

A corpus dir holds images (png/jpg/webp) with the expected text in a same-stem
`.txt` (or the expected bytes in a `.bin`); images under a folder named
`falsepositives-*` hold no barcode. Images with neither are only timed.

Per decoder: share of labelled images whose expected content was read, images
with a wrong read (some content read that is not the label), images with a false
positive, and mean ms per image. A label names one symbol; an image may hold
more (a QR code printed inside another). A read that is not the label counts as
another symbol (``other_symbols``), not as wrong, only when it is an
error-corrected 2D symbol (QR, DataMatrix, Aztec, PDF417, MaxiCode: Reed-Solomon,
not a one-digit check) and lies clearly apart from a read of the label in the
same image (intersection over union of their boxes below 0.5): then it is no
misread of the labelled symbol. Every other read that is not the label is wrong.
Then median and p95 ms per 1280x720 frame (each corpus image placed on a blank
frame) for zxing-cpp alone and the pipeline, on one core. The last printed line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import zxingcpp
from biip import ParseError
from biip.gs1_messages import GS1Message
from biip.upc import Upc
from pyzbar import pyzbar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner import Decoder, Symbology  # noqa: E402

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
FRAME_W, FRAME_H = 1280, 720

# A decoder under test returns per barcode found: text, raw bytes, whether it is an
# error-corrected 2D symbol, and its box (x0, y0, x1, y1).
Box = tuple[int, int, int, int]
Found = list[tuple[str, bytes, bool, Box]]

ZXING_2D = {
    zxingcpp.BarcodeFormat.QRCode,
    zxingcpp.BarcodeFormat.MicroQRCode,
    zxingcpp.BarcodeFormat.RMQRCode,
    zxingcpp.BarcodeFormat.DataMatrix,
    zxingcpp.BarcodeFormat.Aztec,
    zxingcpp.BarcodeFormat.PDF417,
    zxingcpp.BarcodeFormat.MaxiCode,
}
ZBAR_2D = {"QRCODE", "PDF417"}
PIPELINE_2D = {
    Symbology.QR,
    Symbology.MICRO_QR,
    Symbology.RMQR,
    Symbology.DATAMATRIX,
    Symbology.AZTEC,
    Symbology.PDF417,
    Symbology.MICRO_PDF417,
    Symbology.MAXICODE,
}


@dataclass
class Sample:
    path: Path
    gray: np.ndarray | None
    expected_text: str | None
    expected_bytes: bytes | None
    negative: bool

    @property
    def labelled(self) -> bool:
        return self.expected_text is not None or self.expected_bytes is not None


@dataclass
class Tally:
    decoded: int = 0
    wrong: int = 0
    false_positive: int = 0
    other_symbols: int = 0
    seconds: float = 0.0
    wrong_files: list[str] = field(default_factory=list)
    fp_files: list[str] = field(default_factory=list)
    other_files: list[str] = field(default_factory=list)


def load(dirs: list[Path]) -> list[Sample]:
    samples = []
    for root in dirs:
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            text_file, bin_file = path.with_suffix(".txt"), path.with_suffix(".bin")
            expected_text = (
                text_file.read_text(encoding="utf-8", errors="surrogateescape") if text_file.exists() else None
            )
            expected_bytes = bin_file.read_bytes() if bin_file.exists() else None
            # None when OpenCV cannot open it (e.g. a 1x1 WebP): then nothing reads it.
            gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            negative = any(part.startswith("falsepositives") for part in path.parts)
            samples.append(Sample(path, gray, expected_text, expected_bytes, negative))
    return samples


def normal_forms(text: str) -> set[str]:
    """The fair comparison of the corpus README: same GTIN in any length, no AIM
    prefix, GS1 in bracketed or raw form, and line endings as in the label file."""
    text = text.replace("\r\n", "\n").strip("\n")
    forms = {text}
    if text.startswith("]") and len(text) >= 3:
        text = text[3:]
        forms.add(text)
    if text.startswith("("):
        try:
            forms.add(GS1Message.parse_hri(text).value)
        except ParseError:
            pass
    if text.isdigit():
        if len(text) in (8, 12, 13, 14):
            forms.add(text.zfill(14))
        if len(text) in (6, 7, 8):
            try:
                forms.add(Upc.parse(text).as_upc_a().zfill(14))
            except ParseError:
                pass
    return forms


def matches(sample: Sample, text: str, raw: bytes) -> bool:
    if sample.expected_bytes is not None and raw == sample.expected_bytes:
        return True
    return sample.expected_text is not None and bool(normal_forms(text) & normal_forms(sample.expected_text))


def box_of(points: list[tuple[int, int]]) -> Box:
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def overlap_share(a: Box, b: Box) -> float:
    """Intersection over union of two boxes: a symbol inside a larger one is far below 1."""
    both = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - both
    return both / max(1, union)


def run_pyzbar(gray: np.ndarray) -> Found:
    return [
        (
            d.data.decode("utf-8", "replace"),
            d.data,
            d.type in ZBAR_2D,
            (d.rect.left, d.rect.top, d.rect.left + d.rect.width, d.rect.top + d.rect.height),
        )
        for d in pyzbar.decode(gray)
    ]


def run_zxing(gray: np.ndarray) -> Found:
    found = []
    for b in zxingcpp.read_barcodes(gray, text_mode=zxingcpp.TextMode.Plain):
        p = b.position
        corners = [(p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y)]
        corners += [(p.bottom_right.x, p.bottom_right.y), (p.bottom_left.x, p.bottom_left.y)]
        found.append((b.text, bytes(b.bytes), b.format in ZXING_2D, box_of(corners)))
    return found


def make_pipeline(*, retry: bool = True) -> Callable[[np.ndarray], Found]:
    decoder = Decoder(retry=retry)
    return lambda gray: [
        (r.text, r.raw, r.symbology in PIPELINE_2D, box_of([(p.x, p.y) for p in r.position]))
        for r in decoder.decode(gray)
    ]


def score(samples: list[Sample], run: Callable[[np.ndarray], Found]) -> Tally:
    tally = Tally()
    for sample in samples:
        if sample.gray is None:
            continue
        start = time.perf_counter()
        found = run(sample.gray)
        tally.seconds += time.perf_counter() - start
        name = str(sample.path)
        if sample.negative:
            if found:
                tally.false_positive += 1
                tally.fp_files.append(name)
            continue
        if not sample.labelled:
            continue
        hits = [matches(sample, text, raw) for text, raw, _, _ in found]
        if any(hits):
            tally.decoded += 1
        label_boxes = [box for (_, _, _, box), hit in zip(found, hits, strict=True) if hit]
        others = [
            is_2d and bool(label_boxes) and all(overlap_share(box, label) < 0.5 for label in label_boxes)
            for (_, _, is_2d, box), hit in zip(found, hits, strict=True)
            if not hit
        ]
        if any(others):
            tally.other_symbols += 1
            tally.other_files.append(name)
        if not all(others):
            tally.wrong += 1
            tally.wrong_files.append(name)
    return tally


def frame_of(gray: np.ndarray) -> np.ndarray:
    """Place an image on a blank 1280x720 frame (shrunk to fit if larger)."""
    height, width = gray.shape
    scale = min(1.0, FRAME_W / width, FRAME_H / height)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, int(width * scale)), max(1, int(height * scale))), interpolation=cv2.INTER_AREA)
        height, width = gray.shape
    frame = np.full((FRAME_H, FRAME_W), int(np.median(gray)), dtype=np.uint8)
    top, left = (FRAME_H - height) // 2, (FRAME_W - width) // 2
    frame[top : top + height, left : left + width] = gray
    return frame


def frame_times(
    frames: list[np.ndarray], runs: dict[str, Callable[[np.ndarray], Found]], repeat: int
) -> dict[str, dict[str, float]]:
    """ms per frame for each decoder, interleaved frame by frame so that load from
    other processes hits all decoders alike; the best of `repeat` runs per frame."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for frame in frames:
        for name, run in runs.items():
            best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                run(frame)
                best = min(best, (time.perf_counter() - start) * 1000)
            times[name].append(best)
    result = {}
    for name, values in times.items():
        values.sort()
        result[name] = {
            "median_ms": round(statistics.median(values), 2),
            "p95_ms": round(values[min(len(values) - 1, int(0.95 * len(values)))], 2),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=200, help="1280x720 frames to time (evenly spread)")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per frame (the best counts)")
    parser.add_argument("--show", action="store_true", help="list files with wrong reads and false positives")
    args = parser.parse_args()

    # One core, as on a handheld: the figures must not depend on a second idle CPU.
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})

    samples = load(args.corpus)
    labelled = sum(1 for s in samples if s.labelled and not s.negative)
    negatives = sum(1 for s in samples if s.negative)
    readable = sum(1 for s in samples if s.gray is not None)

    pipeline = make_pipeline()
    decoders = {"pyzbar": run_pyzbar, "zxing-cpp": run_zxing, "pipeline": pipeline}
    summary: dict[str, object] = {
        "corpus": [str(d) for d in args.corpus],
        "labelled_images": labelled,
        "no_barcode_images": negatives,
        "core": core,
    }
    print(f"{labelled} labelled images, {negatives} without barcode, {len(samples) - readable} unreadable files")
    print(f"{'decoder':<10} {'decoded':>8} {'wrong':>6} {'false+':>7} {'ms/img':>7}")
    for name, run in decoders.items():
        tally = score(samples, run)
        share = tally.decoded / labelled if labelled else 0.0
        ms = tally.seconds * 1000 / max(1, readable)
        print(f"{name:<10} {share:>8.1%} {tally.wrong:>6} {tally.false_positive:>7} {ms:>7.2f}")
        if args.show:
            for path in tally.wrong_files:
                print(f"    wrong: {path}")
            for path in tally.other_files:
                print(f"    other symbol: {path}")
            for path in tally.fp_files:
                print(f"    false positive: {path}")
        summary[name] = {
            "decoded": round(share, 4),
            "decoded_images": tally.decoded,
            "wrong_reads": tally.wrong,
            "false_positives": tally.false_positive,
            "other_symbols": tally.other_symbols,
            "ms_per_image": round(ms, 2),
        }

    with_images = [s for s in samples if s.gray is not None and s.gray.size]
    step = max(1, len(with_images) // max(1, args.frames))
    frames = [frame_of(s.gray) for s in with_images[::step][: args.frames]]  # type: ignore[arg-type]
    # "camera": the pipeline as scan_video runs it on a live camera (no retries).
    runs = {"zxing-cpp": run_zxing, "pipeline": pipeline, "pipeline_camera": make_pipeline(retry=False)}
    timed = frame_times(frames, runs, args.repeat)
    zx, pipe = timed["zxing-cpp"], timed["pipeline"]
    print(f"per 1280x720 frame ({len(frames)} frames, core {core}): " + ", ".join(f"{k} {v}" for k, v in timed.items()))
    summary["frame_1280x720"] = {
        "frames": len(frames),
        **timed,
        "median_ratio": round(pipe["median_ms"] / zx["median_ms"], 2) if zx["median_ms"] else None,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
