"""Two-barcode items: GTIN and lot/expiry from separate labels combine in one session."""

from __future__ import annotations

import datetime as dt

from scanner import ScanSession, classify

GS = "\x1d"


def test_gtin_then_lot_and_expiry_label_combine():
    session = ScanSession()

    session.add(classify("4006381333931", aim_id="]E0"))
    item = session.add(classify(f"10LOT42{GS}17270131", aim_id="]C1"))

    assert (item.gtin, item.lot, item.expiry) == ("04006381333931", "LOT42", dt.date(2027, 1, 31))
    assert item.gs1["17"] == "270131"
    assert len(item.scans) == 2


def test_lot_label_first_then_gtin_also_combines():
    session = ScanSession()

    session.add(classify("21SER-9", aim_id="]d2"))
    item = session.add(classify("4006381333931", aim_id="]E0"))

    assert (item.gtin, item.serial) == ("04006381333931", "SER-9")


def test_a_field_is_never_overwritten_by_a_blank():
    session = ScanSession()
    session.add(classify(f"0104006381333931{GS}10LOT42", aim_id="]C1"))

    session.add(classify(f"17270131{GS}10LOT42", aim_id="]C1"))

    # The same GTIN scanned again as EAN-13 brings no lot or expiry: both stay.
    item = session.add(classify("4006381333931", aim_id="]E0"))

    assert (item.lot, item.expiry) == ("LOT42", dt.date(2027, 1, 31))


def test_a_different_gtin_starts_a_new_item():
    session = ScanSession()
    session.add(classify(f"0104006381333931{GS}10LOT42", aim_id="]C1"))

    item = session.add(classify("96385074", aim_id="]E4"))

    assert (item.gtin, item.lot) == ("00000096385074", None)


def test_bin_and_lpn_scans_leave_the_item_alone():
    session = ScanSession()
    session.add(classify("4006381333931", aim_id="]E0"))

    session.add(classify("BIN-QUA-A01"))
    item = session.add(classify("LPN-0000012348"))

    assert item.gtin == "04006381333931"
    assert len(item.scans) == 1


def test_clear_forgets_the_item():
    session = ScanSession()
    session.add(classify("4006381333931", aim_id="]E0"))

    session.clear()

    assert session.current.gtin is None
