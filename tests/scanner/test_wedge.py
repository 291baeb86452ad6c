"""Keyboard-wedge input: AIM prefixes, mangled GS separators, terminators, burst timing."""

from __future__ import annotations

import pytest

from scanner import InputSource, ScanKind, WedgeReader, classify, parse_wedge

GS = "\x1d"
GS1_LINE = f"010950600013435210ABC123{GS}17261231"


@pytest.mark.parametrize(
    ("typed", "aim_id", "text"),
    [
        (f"]C1{GS1_LINE}\r", "]C1", GS1_LINE),
        (f"{GS1_LINE}\n", None, GS1_LINE),
        ("]E04006381333931\t", "]E0", "4006381333931"),
        ("]Q3" + GS1_LINE + "\r\n", "]Q3", GS1_LINE),
        ("]d2010950600013435210ABC123<GS>17261231", "]d2", GS1_LINE),
        ("010950600013435210ABC123^]17261231\r", None, GS1_LINE),
        ("]C1010950600013435210ABC123{GS}17261231\r", "]C1", GS1_LINE),
        ("BIN-QUA-A01\r", None, "BIN-QUA-A01"),
    ],
)
def test_parse_wedge_line(typed, aim_id, text):
    parsed = parse_wedge(typed)

    assert (parsed.aim_id, parsed.text) == (aim_id, text)


def test_configurable_stand_in_for_a_driver_that_types_tilde():
    parsed = parse_wedge("]C1010950600013435210ABC123~17261231", gs_stand_ins=["~"])

    assert parsed.text == GS1_LINE
    assert classify(parsed.text, aim_id=parsed.aim_id).lot == "ABC123"


def test_leading_gs_from_a_scanner_without_aim_prefix_flags_gs1():
    parsed = parse_wedge(f"{GS}{GS1_LINE}\r")

    scan = classify(parsed.text, aim_id=parsed.aim_id)

    assert (scan.kind, scan.text, scan.lot) == (ScanKind.GS1, GS1_LINE, "ABC123")


def test_stand_ins_are_not_applied_when_configured_away():
    assert parse_wedge("A<GS>B", gs_stand_ins=()).text == "A<GS>B"


def test_wedge_lines_classify_like_decoded_barcodes():
    parsed = parse_wedge(f"]C1{GS1_LINE}\r")

    scan = classify(parsed.text, aim_id=parsed.aim_id)

    assert scan.kind is ScanKind.GS1
    assert scan.gs1 == {"01": "09506000134352", "10": "ABC123", "17": "261231"}


def test_reader_splits_lines_on_enter_and_tab_and_skips_empty_lines():
    reader = WedgeReader()

    lines = reader.feed("BIN-QUA-A01\r\n\r\nLPN-0000012348\t")

    assert [line.text for line in lines] == ["BIN-QUA-A01", "LPN-0000012348"]
    assert all(line.source is InputSource.UNKNOWN for line in lines)


def test_reader_keeps_a_partial_line_until_its_terminator():
    reader = WedgeReader()

    assert reader.feed("]E0400638") == []
    assert [(line.aim_id, line.text) for line in reader.feed("1333931\r")] == [("]E0", "4006381333931")]


def _typed(reader: WedgeReader, text: str, gap: float) -> list:
    lines = []
    for i, key in enumerate(text):
        lines += reader.feed(key, at=100.0 + i * gap)
    return lines


def test_scanner_burst_is_told_from_human_typing():
    reader = WedgeReader(max_scanner_gap=0.03)

    burst = _typed(reader, "4006381333931\r", gap=0.004)
    human = _typed(reader, "4006381333931\r", gap=0.18)

    assert burst[0].source is InputSource.SCANNER
    assert human[0].source is InputSource.KEYBOARD


def test_a_quick_double_tap_is_not_a_scanner_burst():
    reader = WedgeReader(min_scanner_keys=4)

    assert _typed(reader, "ab\r", gap=0.001)[0].source is InputSource.KEYBOARD
