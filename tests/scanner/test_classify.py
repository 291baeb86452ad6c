"""Classification of decoded content into scans, and the errors an associate sees."""

from __future__ import annotations

import datetime as dt

import pytest

from scanner import (
    BinType,
    CheckDigitError,
    ScanError,
    ScanKind,
    Symbology,
    UnknownFormatError,
    UnreadableError,
    classify,
    classify_read,
    decode_image,
    gs1_check_digit,
)
from tests.scanner import render
from tests.scanner.render import F

GS = "\x1d"


@pytest.mark.parametrize(
    ("text", "aim_id", "gtin14"),
    [
        ("4006381333931", "]E0", "04006381333931"),  # EAN-13
        ("96385074", "]E4", "00000096385074"),  # EAN-8
        ("036000291452", "]E0", "00036000291452"),  # UPC-A
        ("01234565", "]E0", "00012345000065"),  # UPC-E, expanded through UPC-A
        ("00012345678905", "]I1", "00012345678905"),  # ITF-14
        ("0109506000134352", "]e0", "09506000134352"),  # DataBar: GS1 data with only AI 01
        ("4006381333931", None, "04006381333931"),  # typed, no symbology known
    ],
)
def test_gtins_become_items_normalised_to_gtin14(text, aim_id, gtin14):
    scan = classify(text, aim_id=aim_id)

    assert scan.kind is ScanKind.ITEM
    assert scan.value == gtin14
    assert scan.gtin == gtin14


@pytest.mark.parametrize(
    ("text", "aim_id"),
    [
        ("4006381333932", "]E0"),
        ("96385075", "]E4"),
        ("00012345678906", "]I1"),
        ("4006381333932", None),
        ("376104250021234568", None),  # SSCC
        ("0109506000134353", "]C1"),  # GTIN inside GS1-128
        (f"00376104250021234568{GS}10LOT", "]C1"),  # SSCC inside GS1-128
        ("https://id.gs1.org/01/09506000134353/10/ABC", None),  # GTIN inside a Digital Link
    ],
)
def test_wrong_check_digit_is_a_check_digit_error_never_a_scan(text, aim_id):
    with pytest.raises(CheckDigitError) as caught:
        classify(text, aim_id=aim_id)

    assert "check digit wrong" in str(caught.value)
    assert "rescan or type the number" in str(caught.value)


def test_gs1_128_with_lot_expiry_serial_is_parsed_by_ai():
    scan = classify(f"010950600013435210ABC123{GS}1726123121XYZ", aim_id="]C1")

    assert scan.kind is ScanKind.GS1
    assert scan.gs1 == {"01": "09506000134352", "10": "ABC123", "17": "261231", "21": "XYZ"}
    assert (scan.gtin, scan.lot, scan.serial) == ("09506000134352", "ABC123", "XYZ")
    assert scan.expiry == dt.date(2026, 12, 31)
    assert scan.symbology is Symbology.CODE128


def test_gs1_best_before_gln_and_quantity_keep_their_ais():
    scan = classify(f"0109506000134352152705313710{GS}4109506000134352", aim_id="]d2")

    assert scan.gs1 == {"01": "09506000134352", "15": "270531", "37": "10", "410": "9506000134352"}
    assert scan.best_before == dt.date(2027, 5, 31)


def test_sscc_alone_is_an_sscc_scan():
    assert classify("00376104250021234569", aim_id="]C1").kind is ScanKind.SSCC
    bare = classify("376104250021234569")
    assert (bare.kind, bare.sscc) == (ScanKind.SSCC, "376104250021234569")


def test_gs1_digital_link_uri_is_parsed_into_ais():
    scan = classify("https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ", aim_id="]Q1")

    assert scan.kind is ScanKind.GS1
    assert scan.gs1 == {"01": "09506000134352", "10": "ABC123", "21": "XYZ"}


def test_gs1_data_without_fnc1_flag_is_still_recognised():
    # zbar reports GS1-128 as plain Code 128: the GS separators and AI 01 give it away.
    scan = classify(f"010950600013435210ABC123{GS}17261231", symbology=Symbology.CODE128)

    assert scan.kind is ScanKind.GS1
    assert scan.lot == "ABC123"


def test_broken_gs1_data_is_an_unknown_format():
    with pytest.raises(UnknownFormatError, match="GS1 label could not be read"):
        classify("99", aim_id="]C1")


@pytest.mark.parametrize(
    ("text", "bin_type", "zone"),
    [
        ("BIN-QUA-A01", BinType.QUARANTINE, "A"),
        ("BIN-DCK-Z99", BinType.DOCK, "Z"),
        ("BIN-INS-B02", BinType.INSPECTION, "B"),
        ("BIN-RST-C03", BinType.RESTOCK, "C"),
        ("BIN-RFB-D04", BinType.REFURBISH, "D"),
        ("BIN-VND-E05", BinType.VENDOR_RETURN, "E"),
        ("BIN-LIQ-F06", BinType.LIQUIDATION, "F"),
        ("bin-scr-g07", BinType.SCRAP, "G"),  # caps lock off on a wedge
    ],
)
def test_bin_labels_carry_type_and_zone(text, bin_type, zone):
    scan = classify(text)

    assert (scan.kind, scan.bin_type, scan.bin_zone) == (ScanKind.BIN, bin_type, zone)
    assert scan.value == text.upper()


def test_unknown_bin_type_is_refused():
    with pytest.raises(UnknownFormatError, match="unknown bin type XYZ"):
        classify("BIN-XYZ-A01")
    with pytest.raises(UnknownFormatError, match="not a bin label"):
        classify("BIN-QUA-A1")


def test_lpn_and_rma_labels_with_their_check_digits():
    lpn = "LPN-000001234" + str(gs1_check_digit("000001234"))
    rma = "RMA-1234567" + str(gs1_check_digit("1234567"))

    assert (classify(lpn).kind, classify(lpn).value) == (ScanKind.LPN, "LPN-0000012348")
    assert (classify(rma).kind, classify(rma).value) == (ScanKind.RMA, "RMA-12345670")


def test_lpn_and_rma_with_wrong_check_digit_are_errors():
    with pytest.raises(CheckDigitError, match="license plate check digit wrong: rescan or type the number"):
        classify("LPN-0000012343")
    with pytest.raises(CheckDigitError, match="RMA check digit wrong"):
        classify("RMA-12345671")
    with pytest.raises(UnknownFormatError, match="not a valid license plate label"):
        classify("LPN-12345")


def test_ups_tracking_number_with_its_check_digit():
    ups = classify("1Z999AA10123456784", symbology=Symbology.CODE128)

    assert (ups.kind, ups.carrier) == (ScanKind.TRACKING, "ups")
    assert classify("1Z999AA10123456785").kind is ScanKind.UNKNOWN  # check digit wrong: not UPS


def test_usps_tracking_number_with_valid_check_digit():
    body = "940011189922319742849"
    number = body + str(gs1_check_digit(body))

    scan = classify(number)

    assert (scan.kind, scan.carrier, scan.value) == (ScanKind.TRACKING, "usps", number)


def test_other_content_is_unknown_not_an_error():
    assert classify("MEBKM:URL:http\\://example.com;;", aim_id="]Q1").kind is ScanKind.UNKNOWN
    assert classify("https://example.com/manual").kind is ScanKind.UNKNOWN
    assert classify("SN-77-ALPHA", symbology=Symbology.CODE39).kind is ScanKind.UNKNOWN


def test_aim_prefix_in_typed_text_is_honoured():
    scan = classify(f"]C1010950600013435210ABC123{GS}17261231")

    assert (scan.kind, scan.aim_id, scan.text) == (ScanKind.GS1, "]C1", f"010950600013435210ABC123{GS}17261231")


def test_empty_scan_is_unreadable():
    with pytest.raises(UnreadableError, match="nothing was scanned"):
        classify("  \r\n")


def test_every_scan_error_is_a_scan_error_with_a_plain_message():
    for bad in ("LPN-0000012343", "BIN-XYZ-A01", "", "4006381333932"):
        with pytest.raises(ScanError) as caught:
            classify(bad)
        assert ":" in caught.value.message and "Error" not in caught.value.message


def test_decoded_gs1_datamatrix_classifies_end_to_end():
    image = render.on_canvas(render.barcode("(01)09506000134352(17)261231(10)L0T-7", F.DataMatrix, gs1=True, scale=4))

    scan = classify_read(decode_image(image)[0])

    assert scan.kind is ScanKind.GS1
    assert (scan.gtin, scan.lot, scan.expiry) == ("09506000134352", "L0T-7", dt.date(2026, 12, 31))
