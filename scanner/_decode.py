"""One decoder interface over zxing-cpp and zbar (pyzbar).

The design, measured with ``bench/decode.py`` on the zxing-cpp sample corpus
(635 labelled images, 46 without barcode; one core):

* zxing-cpp reads the original image first. It reads every symbology we need,
  reports the AIM identifier and the GS1 flag (so GS1-128 is told from plain
  Code 128), and alone decodes 88.5 % at 3-4 ms per image; zbar alone 55.6 %.
* Only when nothing was read does the pipeline try more, in the order of
  ATTEMPTS, stopping at the first attempt that reads something: zxing-cpp on
  fixed images (2x upscale, then upscale + unsharp mask or + CLAHE for small
  images; unsharp mask; CLAHE; deskew), then zbar on the original and some
  fixes. Running zbar on every frame as well would add its own decode (median
  17.6 ms per 1280x720 frame against zxing-cpp's 14.2 ms in one run: over 2x
  in total); as a fallback it still adds the images only it reads. zxing-cpp's
  fixes go before zbar because zbar's EAN/UPC decoder misreads more on damaged
  images: with zbar straight after zxing-cpp the corpus gave 2 more wrong
  reads and 1 fewer decoded image.
* Linear symbols with a weak check (one mod-10 digit for EAN/UPC) or none
  (ITF, Code 39, Codabar) are where both libraries misread. A read is disputed
  when another content was read on the same bars, or when zbar reads another
  EAN/UPC on a crop of a zxing-cpp EAN/UPC read. A dispute is settled by a vote
  of every attempt on that spot; a content must lead by two votes, otherwise
  nothing is reported. A missed read costs a rescan; a wrong read puts a unit
  in the wrong bin. On the corpus this cuts wrong reads from 11 to 6 without
  losing a decoded image.
* EAN/UPC tell 1 from 7 and 2 from 8 by bar widths only; on a washed-out photo
  both libraries (and most retries) agree on the same wrong, valid code. Every
  EAN/UPC read (and vote winner) is re-read by zxing-cpp on its spot darkened
  (gamma 2); if that reads another EAN/UPC across the same bars, nothing is
  reported. This removed the 3 reads of one worn UPC-A, lost no decoded image
  and left the median frame time unchanged (1.13x zxing-cpp in one run, before
  and after). The 2 wrong reads left are label errors (scanner/LABELS.md).

Result: 95.9 % decoded, 0 false positives; per 1280x720 frame the median is
1.0-1.1x zxing-cpp alone (10-13 ms on this shared machine). Frames where
nothing is found pay for every attempt (p95 about 145 ms), so a live camera
decodes with ``Decoder(retry=False)`` (scan_video's default for cameras): the
next frame is the retry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.upc import Upc

from scanner._engines import ZBAR_RETAIL, zbar_reads, zxing_reads
from scanner._exceptions import UnreadableError
from scanner._image import Fixes, darken, map_back, to_gray
from scanner._models import Point, Read, Symbology

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Decoder", "decode_image", "decode_image_bytes"]

# Symbologies whose own check is weak (one mod-10 digit) or absent.
_WEAK_CHECK = frozenset(
    {
        Symbology.EAN13,
        Symbology.EAN8,
        Symbology.UPCA,
        Symbology.UPCE,
        Symbology.ITF,
        Symbology.CODE39,
        Symbology.CODABAR,
    }
)
_RETAIL = frozenset({Symbology.EAN13, Symbology.EAN8, Symbology.UPCA, Symbology.UPCE})

# The order of attempts, first hit wins. (image fix, library) pairs; a fix that
# does not apply to an image (upscaling a large one, deskewing an unskewed one)
# is skipped. zxing-cpp variants of a fix come before zbar: zbar's EAN/UPC
# decoder misreads more on damaged images (see bench/decode.py --show).
ATTEMPTS: tuple[tuple[str, str], ...] = (
    ("original", "zxing"),
    ("upscaled", "zxing"),
    ("upscaled_sharpened", "zxing"),
    ("upscaled_equalized", "zxing"),
    ("sharpened", "zxing"),
    ("equalized", "zxing"),
    ("deskewed", "zxing"),
    ("original", "zbar"),
    ("upscaled", "zbar"),
    ("equalized", "zbar"),
    ("deskewed", "zbar"),
)



@dataclass(frozen=True, slots=True, kw_only=True)
class Decoder:
    """Decode every barcode in a grayscale or BGR image.

    ``retry`` enables the attempts on fixed images when the original reads
    nothing; turn it off for a live camera that must keep pace with its frames.
    ``use_zbar`` enables zbar as fallback and as second opinion on EAN/UPC.
    """

    retry: bool = True
    use_zbar: bool = True

    def decode(self, image: np.ndarray) -> list[Read]:
        gray = to_gray(image)
        if gray.size == 0:
            return []
        fixes = Fixes(gray)
        for found in self._attempts(fixes):
            reads, disputed, unstable = self._settle(gray, found)
            if disputed or unstable:
                # A spot in dispute or read width-sensitively ends the search: later
                # attempts see the same bars and would only repeat the misread.
                settled = self._vote(gray, fixes, disputed) if disputed else []
                return reads + [w for w in settled if not any(_same_code(w, r) for r in reads)]
            if reads:
                return reads
        return []

    def _attempts(self, fixes: Fixes) -> Iterator[list[Read]]:
        """The reads of each attempt in ATTEMPTS order, in original coordinates."""
        for fix, library in ATTEMPTS:
            if (library == "zbar" and not self.use_zbar) or (fix != "original" and not self.retry):
                continue
            fixed = fixes.get(fix)
            if fixed is None:
                continue
            image_fixed, back = fixed
            found = zxing_reads(image_fixed) if library == "zxing" else zbar_reads(image_fixed)
            yield [map_back(read, back) for read in found]

    def _settle(self, gray: np.ndarray, reads: list[Read]) -> tuple[list[Read], list[Read], list[Read]]:
        """Split one attempt's reads into accepted, disputed and unstable ones.

        Drops duplicates and EAN/UPC reads failing their check digit. A weak-check
        read is disputed when another content was read on the same bars, or when
        zbar reads a different EAN/UPC on its spot, unless the other decoder
        confirms it. An EAN/UPC read whose content changes when the image is
        darkened is unstable: never reported (see _width_sensitive).
        """
        unique: list[Read] = []
        for read in reads:
            if read.symbology in _RETAIL and not _gtin_ok(read):
                continue
            if not any(_same_code(read, kept) for kept in unique):
                unique.append(read)
        accepted, disputed, unstable = [], [], []
        for read in unique:
            if read.symbology in _WEAK_CHECK and self._in_dispute(gray, read, unique):
                disputed.append(read)
            elif _width_sensitive(gray, read):
                unstable.append(read)
            else:
                accepted.append(read)
        return accepted, disputed, unstable

    def _in_dispute(self, gray: np.ndarray, read: Read, reads: list[Read]) -> bool:
        rivals = any(
            other.symbology in _WEAK_CHECK and _same_bars(read, other) and not _same_code(read, other)
            for other in reads
        )
        if rivals:
            return not self._confirmed(gray, read)
        return self.use_zbar and _contradicted(gray, read)

    def _confirmed(self, gray: np.ndarray, read: Read) -> bool:
        """Does the other decoder read the same content on a crop around `read`?"""
        crop = _crop_around(gray, read)
        second = zxing_reads(crop) if read.decoder == "zbar" else (zbar_reads(crop) if self.use_zbar else [])
        return any(_same_content(read, other) for other in second)

    def _vote(self, gray: np.ndarray, fixes: Fixes, disputed: list[Read]) -> list[Read]:
        """Settle a dispute by the reads of every attempt on the disputed spot.

        Each attempt gives one vote per content it reads there; a content must
        lead by two votes and be stable when darkened, otherwise nothing is
        reported (a rescan beats a misread).
        """
        region = _expanded_bbox(disputed)
        votes: Counter[str] = Counter()
        first_seen: dict[str, Read] = {}
        for found in self._attempts(fixes):
            keys = set()
            for read in found:
                if read.symbology in _WEAK_CHECK and _inside(read.center, region):
                    if read.symbology in _RETAIL and not _gtin_ok(read):
                        continue
                    key = _content_key(read)
                    keys.add(key)
                    first_seen.setdefault(key, read)
            votes.update(keys)
        ranked = votes.most_common(2)
        if not ranked:
            return []
        runner_up = ranked[1][1] if len(ranked) > 1 else 0
        if ranked[0][1] < runner_up + 2:
            return []
        winner = first_seen[ranked[0][0]]
        return [] if _width_sensitive(gray, winner) else [winner]


def _contradicted(gray: np.ndarray, read: Read) -> bool:
    """zbar reads a different EAN/UPC on the same spot as zxing-cpp's EAN/UPC read.

    Only retail codes: both libraries decode them identically, whereas for Code 39
    or ITF they may legitimately differ (Code 32, full ASCII, check characters).
    """
    if read.decoder == "zbar" or read.symbology not in _RETAIL:
        return False
    # Only the EAN/UPC decoders: less than half the time of a full zbar pass.
    others = zbar_reads(_crop_around(gray, read), symbols=ZBAR_RETAIL)
    return bool(others) and not any(_same_content(read, other) for other in others)


def _width_sensitive(gray: np.ndarray, read: Read) -> bool:
    """Does zxing-cpp read a different EAN/UPC on the spot of `read` once it is darkened?

    EAN/UPC tell 1 from 7 and 2 from 8 by bar widths alone (their edge-to-similar-edge
    distances are equal), and the one check digit cannot catch two such swaps. An
    over-exposed or blurred photo thins the bars, and then both libraries can agree
    on the same wrong, valid code, and most retries (sharpened, equalized, zbar)
    see the same thin bars, so a vote does not help. Darkening moves the bar edges
    back out: a true read does not change; one that does is not reported.
    On the zxing-cpp corpus, darkening changed no correct EAN/UPC read; brightening
    (the opposite check) changed eight, so only the darkened check is made.
    """
    if read.symbology not in _RETAIL:
        return False
    # zbar's box may cover only the half of an EAN/UPC it located: a wider crop.
    x0, y0, x1, y1 = _crop_box(gray, read, spread=1.0 if read.decoder == "zbar" else 0.2)
    back = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]])
    found = [
        map_back(other, back)
        for other in zxing_reads(darken(gray[y0:y1, x0:x1]))
        if other.symbology in _RETAIL and _gtin_ok(other)
    ]
    rivals = [other for other in found if not _same_content(read, other) and _same_bars(read, other)]
    if not rivals:
        return False
    # Still read as itself: a rival beside it (not across it) is a neighbouring symbol.
    return not any(_same_content(read, other) for other in found) or any(_overlap(read, r) for r in rivals)


_DEFAULT = Decoder()


def decode_image(image: np.ndarray, *, decoder: Decoder = _DEFAULT) -> list[Read]:
    """Decode a numpy image (grayscale or BGR) with the default pipeline."""
    return decoder.decode(image)


def decode_image_bytes(data: bytes, *, decoder: Decoder = _DEFAULT) -> list[Read]:
    """Decode the bytes of a photo (PNG, JPEG, WebP, ...).

    Raises UnreadableError when the bytes are no image OpenCV can open.
    """
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise UnreadableError("this file is not a picture the scanner can open: take a new photo")
    return decoder.decode(image)


# --- comparing reads --------------------------------------------------------------------


def _gtin_ok(read: Read) -> bool:
    """The GS1 check digit of an EAN/UPC read (UPC-E's 8-digit form via its UPC-A)."""
    text = read.text
    if not (text.isascii() and text.isdigit()) or len(text) not in (8, 12, 13, 14):
        return False
    if read.symbology is Symbology.UPCE and len(text) == 8:
        try:
            Upc.parse(text)
        except ParseError:
            return False
        return True
    return gs1_standard_check_digit(text[:-1]) == int(text[-1])


def _content_key(read: Read) -> str:
    """The same GTIN whatever length a library reports it in; other content as is."""
    if read.symbology in _RETAIL and read.text.isascii() and read.text.isdigit():
        if read.symbology is Symbology.UPCE and len(read.text) == 8:
            try:
                return Upc.parse(read.text).as_upc_a().zfill(14)
            except ParseError:
                return read.text
        return read.text.zfill(14)
    return read.text


def _same_content(a: Read, b: Read) -> bool:
    return _content_key(a) == _content_key(b)


def _same_code(a: Read, b: Read) -> bool:
    """The same symbol reported twice (by both libraries or by a retry)."""
    return _same_content(a, b) and (_comparable(a, b) or _overlap(a, b))


def _comparable(a: Read, b: Read) -> bool:
    return a.symbology == b.symbology or (a.symbology in _RETAIL and b.symbology in _RETAIL)


def _bbox(read: Read) -> tuple[int, int, int, int]:
    xs = [p.x for p in read.position]
    ys = [p.y for p in read.position]
    return min(xs), min(ys), max(xs), max(ys)


def _overlap(a: Read, b: Read) -> bool:
    ax0, ay0, ax1, ay1 = _bbox(a)
    bx0, by0, bx1, by1 = _bbox(b)
    return ax0 <= bx1 and bx0 <= ax1 and ay0 <= by1 and by0 <= ay1


def _scan_axis(read: Read) -> int:
    """0 when the symbol was read along x, 1 along y."""
    tl, tr = read.position[0], read.position[1]
    return 0 if abs(tr.x - tl.x) >= abs(tr.y - tl.y) else 1


def _same_bars(a: Read, b: Read) -> bool:
    """Two linear reads that lie on the same bars: same scan direction, and their
    extents along it overlap by more than half of the shorter one, close enough
    across to be one symbol (bars are at least ~15 % as tall as the symbol is long).
    """
    if not _comparable(a, b) or _scan_axis(a) != _scan_axis(b):
        return False
    axis = _scan_axis(a)
    a_box, b_box = _bbox(a), _bbox(b)
    a_lo, a_hi = a_box[axis], a_box[axis + 2]
    b_lo, b_hi = b_box[axis], b_box[axis + 2]
    along = min(a_hi, b_hi) - max(a_lo, b_lo)
    shorter = max(1, min(a_hi - a_lo, b_hi - b_lo))
    if along <= shorter // 2:
        return False
    across = 1 - axis
    gap = max(a_box[across], b_box[across]) - min(a_box[across + 2], b_box[across + 2])
    return gap <= max(a_hi - a_lo, b_hi - b_lo) // 2


def _expanded_bbox(reads: list[Read]) -> tuple[int, int, int, int]:
    boxes = [_bbox(read) for read in reads]
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    margin = max(x1 - x0, y1 - y0) // 2 + 8
    return x0 - margin, y0 - margin, x1 + margin, y1 + margin


def _inside(point: Point, box: tuple[int, int, int, int]) -> bool:
    return box[0] <= point.x <= box[2] and box[1] <= point.y <= box[3]


def _crop_around(gray: np.ndarray, read: Read) -> np.ndarray:
    x0, y0, x1, y1 = _crop_box(gray, read)
    return gray[y0:y1, x0:x1]


def _crop_box(gray: np.ndarray, read: Read, *, spread: float = 0.2) -> tuple[int, int, int, int]:
    """The box around `read` with a margin of `spread` times its longer side, in the image."""
    x0, y0, x1, y1 = _bbox(read)
    margin = int(max(x1 - x0, y1 - y0) * spread) + 8
    height, width = gray.shape[:2]
    return max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)
