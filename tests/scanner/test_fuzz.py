"""Property-based: arbitrary wedge input and content never crash the scanner.

The only exception the wedge parser and the classifier may raise is ScanError.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from scanner import ScanError, ScanKind, WedgeReader, classify, gs1_check_digit, parse_wedge

GS = "\x1d"
AIM_IDS = st.sampled_from([None, "]C0", "]C1", "]E0", "]E4", "]d1", "]d2", "]Q1", "]Q3", "]e0", "]I1", "]A0", "]zz"])
# Text biased towards what scanners send: digits, GS, label prefixes, URLs.
SCANNERISH = st.one_of(
    st.text(),
    st.text(alphabet="0123456789" + GS, max_size=60),
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from(["BIN-", "LPN-", "RMA-", "1Z", "]C1", "https://id.gs1.org/01/", "01", "00"]),
        st.text(alphabet="0123456789ABCDEFGHQRSUVXYZ-/" + GS, max_size=40),
    ),
)


def _classify_or_scan_error(text: str, aim_id: str | None, gs1: bool = False) -> None:
    try:
        scan = classify(text, aim_id=aim_id, gs1=gs1)
    except ScanError as error:
        assert error.message and "\n" not in error.message
    else:
        assert isinstance(scan.kind, ScanKind)


@settings(max_examples=400, deadline=None)
@given(SCANNERISH, AIM_IDS, st.booleans())
@example("0109506000134352", "]C1", False)
@example("https://id.gs1.org/01/0950600013435%", None, False)
@example("٠١٢٣٤٥٦٧٨٩٠١٢", None, False)  # Arabic-Indic digits: str.isdigit() says yes
@example("BIN-ǅǅǅ-A01", None, False)
@example("hello", None, True)  # a decoder's GS1 flag on content that is not GS1
def test_classifier_raises_only_scan_errors(text, aim_id, gs1):
    _classify_or_scan_error(text, aim_id, gs1)


@settings(max_examples=300, deadline=None)
@given(SCANNERISH, st.lists(st.text(max_size=4), max_size=3))
def test_wedge_parser_then_classifier_raise_only_scan_errors(typed, stand_ins):
    parsed = parse_wedge(typed, gs_stand_ins=stand_ins)
    assert parsed.aim_id is None or len(parsed.aim_id) == 3
    _classify_or_scan_error(parsed.text, parsed.aim_id)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), st.one_of(st.none(), st.floats(0, 1e6)))))
def test_wedge_reader_accepts_any_keystroke_stream(chunks):
    reader = WedgeReader()
    for keys, at in chunks:
        for line in reader.feed(keys, at):
            assert line.text or line.aim_id  # a line holds at least one key
            _classify_or_scan_error(line.text, line.aim_id)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_every_lpn_with_its_check_digit_is_a_license_plate(digits):
    scan = classify(f"LPN-{digits}{gs1_check_digit(digits)}")

    assert scan.kind is ScanKind.LPN
