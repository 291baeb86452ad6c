"""GS1 check digits, returnflow label formats and the demo catalogue."""

from __future__ import annotations

import datetime as dt

import pytest

from domain import Bin, BinType, Channel, InvalidInput, Item, Role, build, normalize_gtin, verify_pin
from domain.bins import check_reassignment
from domain.demo import DEMO_PINS, demo_catalogue
from domain.labels import bin_code, bin_type_of, lpn, rma_id, validate_lpn, validate_rma_id

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


@pytest.mark.parametrize(("gtin", "gtin14"), [
    ("4006381333931", "04006381333931"),  # EAN-13
    ("036000291452", "00036000291452"),   # UPC-A
    ("96385074", "00000096385074"),       # EAN-8
    ("10614141000415", "10614141000415"),  # GTIN-14
])
def test_valid_gtins_normalise_to_14_digits(gtin, gtin14):
    assert normalize_gtin(gtin) == gtin14


@pytest.mark.parametrize(("gtin", "message"), [
    ("4006381333932", "check digit wrong"), ("40063813339", "not a GTIN"), ("40063813339a1", "not a GTIN"),
])
def test_invalid_gtins_are_refused(gtin, message):
    with pytest.raises(InvalidInput, match=message):
        normalize_gtin(gtin)


def test_labels_carry_a_check_digit_and_validate():
    assert lpn(1) == "LPN-0000000017"
    assert validate_lpn(lpn(123456789)) == lpn(123456789)
    assert validate_rma_id(rma_id(2600001)) == "RMA-26000015"
    with pytest.raises(InvalidInput, match="check digit wrong"):
        validate_lpn("LPN-0000000018")
    with pytest.raises(InvalidInput, match="not an RMA"):
        validate_rma_id("RMA-123")


@pytest.mark.parametrize("bin_type", list(BinType))
def test_bin_codes_name_their_type(bin_type):
    assert bin_type_of(bin_code(bin_type, "A", 7)) is bin_type


def test_a_bad_bin_label_is_refused():
    with pytest.raises(InvalidInput, match="not a bin label"):
        bin_type_of("BIN-XXX-A01")


def test_build_reports_the_field_in_one_typed_error():
    with pytest.raises(InvalidInput, match="gtins.0: GTIN 4006381333932: check digit wrong"):
        build(Item, sku="ELE-1", name="x", category="electronics", gtins=("4006381333932",), unit_value_cents=1)


def test_demo_catalogue_is_realistic_and_deterministic():
    cat = demo_catalogue(now=NOW)
    assert len(cat.items) >= 500
    gtins = [g for item in cat.items for g in item.gtins]
    assert len(set(gtins)) == len(gtins)
    assert all(normalize_gtin(g) == g for g in gtins)
    assert {b.type for b in cat.bins} == set(BinType)
    assert len(cat.rmas) == 50
    assert {r.channel for r in cat.rmas} == set(Channel)
    skus = {i.sku for i in cat.items}
    reasons = {r.code for r in cat.reason_codes}
    assert all(line.sku in skus and line.reason_code in reasons for r in cat.rmas for line in r.lines)
    assert {u.role for u in cat.users} == {Role.ASSOCIATE, Role.SUPERVISOR}
    assert all(verify_pin(DEMO_PINS[u.user_id], u.pin_hash) for u in cat.users)
    assert {c.code for c in cat.categories} == {i.category for i in cat.items}
    assert demo_catalogue(now=NOW) == cat


def test_only_quarantine_bins_are_repurposed_and_their_contents_stay_in_quarantine():
    quarantine = Bin(code="BIN-QUA-Q01", type=BinType.QUARANTINE, zone="Q")
    other = Bin(code="BIN-QUA-Q02", type=BinType.QUARANTINE, zone="Q")
    restock = Bin(code="BIN-RST-R01", type=BinType.RESTOCK, zone="R")
    check_reassignment(quarantine, None)
    check_reassignment(quarantine, other)
    for bin_, target, words in [(restock, None, "BIN-RST-R01 is not a quarantine bin"),
                                (quarantine, restock, "BIN-RST-R01 is not a quarantine bin"),
                                (quarantine, quarantine, "a different bin")]:
        with pytest.raises(InvalidInput, match=words):
            check_reassignment(bin_, target)
