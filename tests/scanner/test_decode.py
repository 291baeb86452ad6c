"""The decode pipeline on barcodes written by zxing-cpp and degraded like real photos."""

from __future__ import annotations

import numpy as np
import pytest

import scanner._decode as decode_module
from scanner import Decoder, Point, Read, Symbology, UnreadableError, decode_image, decode_image_bytes
from tests.scanner import render
from tests.scanner.render import F

GS = "\x1d"
GS1_TEXT = "(01)09506000134352(10)ABC123(17)261231(21)XYZ"
GS1_RAW = f"010950600013435210ABC123{GS}1726123121XYZ"
GS1_SHORT = "(01)09506000134352(10)ABC123(17)261231"
GS1_SHORT_RAW = f"010950600013435210ABC123{GS}17261231"

# content, zxing-cpp format, gs1 flag, expected symbology, expected text, expected AIM id
CASES = [
    ("4006381333931", F.EAN13, False, Symbology.EAN13, "4006381333931", "]E0"),
    ("96385074", F.EAN8, False, Symbology.EAN8, "96385074", "]E4"),
    ("BIN-QUA-A01", F.Code128, False, Symbology.CODE128, "BIN-QUA-A01", "]C0"),
    (GS1_TEXT, F.Code128, True, Symbology.CODE128, GS1_RAW, "]C1"),
    (GS1_SHORT, F.DataMatrix, True, Symbology.DATAMATRIX, GS1_SHORT_RAW, "]d2"),
    (GS1_TEXT, F.QRCode, True, Symbology.QR, GS1_RAW, "]Q3"),
    ("(01)09506000134352(10)ABC123", F.DataBarExp, True, Symbology.DATABAR_EXPANDED, "010950600013435210ABC123", "]e0"),
    ("00012345678905", F.ITF14, False, Symbology.ITF, "00012345678905", "]I1"),
    ("LPN-0000012348", F.Code39, False, Symbology.CODE39, "LPN-0000012348", "]A0"),
    ("RMA-12345670 returned to dock 3", F.PDF417, False, Symbology.PDF417, "RMA-12345670 returned to dock 3", None),
    # A rectangular GS1 DataMatrix: zxing-cpp's AIM modifier differs (]d8), the GS1 flag does not.
    (GS1_TEXT, F.DataMatrix, True, Symbology.DATAMATRIX, GS1_RAW, None),
]
IDS = [f"{case[3].value}-{i}" for i, case in enumerate(CASES)]


@pytest.mark.parametrize(("content", "fmt", "gs1", "symbology", "text", "aim_id"), CASES, ids=IDS)
def test_decodes_each_symbology_with_text_symbology_and_aim_id(content, fmt, gs1, symbology, text, aim_id):
    reads = decode_image(render.on_canvas(render.barcode(content, fmt, gs1=gs1)))

    assert len(reads) == 1
    read = reads[0]
    assert read.gs1 is gs1
    assert read.symbology is symbology
    assert read.text == text
    assert read.raw == text.encode()
    if aim_id is not None:
        assert read.aim_id == aim_id
    assert read.decoder == "zxing"


def test_gs1_reads_are_flagged_and_plain_code128_is_not():
    gs1 = decode_image(render.on_canvas(render.barcode(GS1_TEXT, F.Code128, gs1=True)))[0]
    plain = decode_image(render.on_canvas(render.barcode("BIN-QUA-A01", F.Code128)))[0]

    assert gs1.gs1 and GS in gs1.text and not gs1.text.startswith("]")
    assert not plain.gs1


def test_position_is_where_the_symbol_was_pasted():
    symbol = render.barcode("https://returnflow.example/r/42", F.QRCode, scale=4)
    read = decode_image(render.on_canvas(symbol, at=(100, 300)))[0]

    assert 300 <= read.center.x <= 300 + symbol.shape[1]
    assert 100 <= read.center.y <= 100 + symbol.shape[0]


def test_every_barcode_in_a_frame_is_returned():
    page = np.full((480, 900), 255, dtype=np.uint8)
    ean = render.barcode("4006381333931", F.EAN13, scale=2)
    qr = render.barcode("BIN-RST-B07", F.QRCode, scale=4)
    page[40 : 40 + ean.shape[0], 40 : 40 + ean.shape[1]] = ean
    page[200 : 200 + qr.shape[0], 500 : 500 + qr.shape[1]] = qr

    texts = {read.text for read in decode_image(page)}

    assert texts == {"4006381333931", "BIN-RST-B07"}


def test_two_eans_stacked_on_one_label_are_both_read():
    # Same scan direction, same horizontal extent: not a conflict, two symbols.
    page = np.full((420, 500), 255, dtype=np.uint8)
    top = render.barcode("4006381333931", F.EAN13, scale=3)
    bottom = render.barcode("9780201379624", F.EAN13, scale=3)
    page[30 : 30 + top.shape[0], 40 : 40 + top.shape[1]] = top
    page[230 : 230 + bottom.shape[0], 40 : 40 + bottom.shape[1]] = bottom

    assert sorted(read.text for read in decode_image(page)) == ["4006381333931", "9780201379624"]


DEGRADATIONS = {
    "blur": render.blur,
    "noise": render.noise,
    "rotate-17": lambda image: render.rotate(image, 17),
    "rotate-90": lambda image: render.rotate(image, 90),
    "perspective": render.perspective,
    "low-contrast": render.low_contrast,
}
DEGRADED_CASES = [
    ("4006381333931", F.EAN13, False, "4006381333931"),
    (GS1_TEXT, F.Code128, True, GS1_RAW),
    (GS1_TEXT, F.DataMatrix, True, GS1_RAW),
    ("LPN-0000012348", F.QRCode, False, "LPN-0000012348"),
]


@pytest.mark.parametrize("degrade", DEGRADATIONS.values(), ids=DEGRADATIONS.keys())
@pytest.mark.parametrize(("content", "fmt", "gs1", "text"), DEGRADED_CASES, ids=["ean13", "gs1-128", "gs1-dm", "qr"])
def test_degraded_photos_still_decode(content, fmt, gs1, text, degrade):
    image = degrade(render.on_canvas(render.barcode(content, fmt, gs1=gs1, scale=3), width=720, height=720))

    assert [read.text for read in decode_image(image)] == [text]


def test_small_blurred_symbol_is_read_by_the_retry_ladder():
    # 1-pixel modules blurred: the first pass reads nothing, the 2x upscale does.
    tiny = render.blur(render.on_canvas(render.barcode("4006381333931", F.EAN13, scale=1), width=200, height=120), 0.8)
    assert Decoder(retry=False, use_zbar=False).decode(tiny) == []

    assert [read.text for read in decode_image(tiny)] == ["4006381333931"]


def test_blank_and_noise_images_give_no_reads():
    rng = np.random.default_rng(3)
    assert decode_image(np.full((720, 1280), 255, dtype=np.uint8)) == []
    assert decode_image(rng.integers(0, 256, (480, 640), dtype=np.uint8)) == []
    assert decode_image(np.zeros((0, 0), dtype=np.uint8)) == []


def test_colour_photo_bytes_decode():
    gray = render.on_canvas(render.barcode("4006381333931", F.EAN13))
    colour = np.dstack([gray, gray, gray])

    assert [read.text for read in decode_image_bytes(render.png_bytes(colour))] == ["4006381333931"]


def test_bytes_that_are_no_picture_are_unreadable():
    with pytest.raises(UnreadableError, match="take a new photo"):
        decode_image_bytes(b"this is not a picture")


def test_ean_with_wrong_check_digit_is_never_a_read():
    # Draw a valid EAN-13, then repaint its last digit's bars as another digit's
    # valid bars (the right-hand R pattern of 2 instead of 1): a misprint whose
    # check digit no longer matches. Every decoder must refuse it.
    good = render.barcode("4006381333931", F.EAN13, scale=1)
    other = render.barcode("4006381333924", F.EAN13, scale=1)
    # Modules of the 13th digit: right guard starts 3 modules from the end of the
    # data; the last digit is 7 modules before it. Quiet zone is part of the image.
    right_guard_end = good.shape[1] - 1 - np.argmax(good[good.shape[0] // 2, ::-1] == 0)
    last_digit = slice(right_guard_end - 2 - 7, right_guard_end - 2)
    misprint = good.copy()
    misprint[:, last_digit] = other[:, last_digit]
    scaled = np.repeat(np.repeat(misprint, 3, axis=0), 3, axis=1)

    assert decode_image(render.on_canvas(scaled)) == []


def _ean_read(text: str, y: int, decoder: str = "zxing", x: int = 100) -> Read:
    """An EAN-13 read along a horizontal line from (x, y), 200 px long."""
    return Read(
        symbology=Symbology.EAN13,
        text=text,
        raw=text.encode(),
        aim_id="]E0",
        gs1=False,
        position=(Point(x, y), Point(x + 200, y), Point(x + 200, y + 2), Point(x, y + 2)),
        decoder=decoder,
    )


def test_two_contents_on_the_same_bars_without_a_clear_majority_give_no_read(monkeypatch):
    # A library that reads two different valid EANs on the same bars, every time.
    conflicting = [_ean_read("4006381333931", 100), _ean_read("9780201379624", 110)]
    monkeypatch.setattr(decode_module, "zxing_reads", lambda gray: list(conflicting))
    monkeypatch.setattr(decode_module, "zbar_reads", lambda gray, symbols=None: [])

    assert decode_image(np.full((300, 400), 255, dtype=np.uint8)) == []


def test_a_dispute_is_settled_by_the_content_most_attempts_read(monkeypatch):
    # The first attempt reads a rival on the same bars; the fixed images agree on one content.
    attempts = iter([[_ean_read("4006381333931", 100), _ean_read("9780201379624", 110)]])
    monkeypatch.setattr(decode_module, "zxing_reads", lambda gray: next(attempts, [_ean_read("4006381333931", 100)]))
    monkeypatch.setattr(decode_module, "zbar_reads", lambda gray, symbols=None: [])

    assert [read.text for read in decode_image(np.full((300, 400), 255, dtype=np.uint8))] == ["4006381333931"]


def _centred_ean(text: str, gray: np.ndarray, decoder: str = "zxing") -> Read:
    """An EAN-13 read along the middle row of `gray`, 200 px long (wherever it was cropped)."""
    height, width = gray.shape[:2]
    return _ean_read(text, height // 2, decoder, x=width // 2 - 100)


def _thin_bars_photo(monkeypatch, *, darkened_text: str) -> np.ndarray:
    """Both libraries agree on 4006381333931 (as on a washed-out photo, where thin
    bars turn a 1 into a 7); zxing-cpp reads `darkened_text` once the image is darkened."""
    grey = np.full((300, 400), 180, dtype=np.uint8)  # gamma 2 makes it 127

    def zxing(gray):
        return [_centred_ean("4006381333931" if gray.mean() > 150 else darkened_text, gray)]

    monkeypatch.setattr(decode_module, "zxing_reads", zxing)
    monkeypatch.setattr(decode_module, "zbar_reads", lambda gray, symbols=None: [_centred_ean("4006381333931", gray, "zbar")])
    return grey


def test_an_ean_read_that_changes_when_the_image_is_darkened_is_not_reported(monkeypatch):
    image = _thin_bars_photo(monkeypatch, darkened_text="4006387333935")

    assert decode_image(image) == []


def test_an_ean_read_that_darkening_does_not_change_is_reported(monkeypatch):
    image = _thin_bars_photo(monkeypatch, darkened_text="4006381333931")

    assert [read.text for read in decode_image(image)] == ["4006381333931"]


def test_a_vote_winner_that_changes_when_darkened_is_not_reported(monkeypatch):
    # Rival reads on the same bars at first; every other attempt reads one content,
    # but zxing-cpp on the darkened spot reads another: no read.
    first = iter([[_ean_read("4006381333931", 100), _ean_read("9780201379624", 110)]])

    def zxing(gray):
        if gray.mean() <= 150:
            return [_centred_ean("4006387333935", gray)]
        return next(first, [_ean_read("4006381333931", 100)])

    monkeypatch.setattr(decode_module, "zxing_reads", zxing)
    monkeypatch.setattr(decode_module, "zbar_reads", lambda gray, symbols=None: [])

    assert decode_image(np.full((300, 400), 180, dtype=np.uint8)) == []
