"""The demo catalogue: one deterministic data set that seeds both a device and the central API."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from .codes import BinType, Channel, RmaState, Role
from .entities import Bin, Category, ChecklistQuestion, ConditionCode, Item, ReasonCode, Rma, RmaLine, User
from .gs1 import gs1_check_digit
from .labels import bin_code, rma_id
from .roles import hash_pin
from .rules import DEFAULT_RULES, DispositionRule

DEMO_PINS = {"alex": "2468", "sam": "1357"}


@dataclass(frozen=True)
class DemoCatalogue:
    categories: tuple[Category, ...]
    reason_codes: tuple[ReasonCode, ...]
    condition_codes: tuple[ConditionCode, ...]
    rules: tuple[DispositionRule, ...]
    items: tuple[Item, ...]
    bins: tuple[Bin, ...]
    rmas: tuple[Rma, ...]
    users: tuple[User, ...]


def _q(question_id: str, text: str) -> ChecklistQuestion:
    return ChecklistQuestion(question_id=question_id, text=text)


_COMMON = (_q("packaging_intact", "Original packaging intact?"), _q("all_parts", "All parts and accessories present?"))
CATEGORIES = (
    Category(code="electronics", name="Electronics", checklist=(
        *_COMMON, _q("powers_on", "Powers on?"), _q("screen_ok", "Screen free of cracks?"),
        _q("serial_matches", "Serial matches the label?"))),
    Category(code="apparel", name="Apparel", checklist=(
        *_COMMON, _q("tags_attached", "Tags attached?"), _q("unworn", "Unworn and unwashed?"))),
    Category(code="footwear", name="Footwear", checklist=(
        *_COMMON, _q("soles_clean", "Soles clean?"), _q("pair_matches", "Pair matches in size and model?"))),
    Category(code="home", name="Home & kitchen", checklist=(*_COMMON, _q("unused", "Unused?"))),
    Category(code="toys", name="Toys", checklist=(*_COMMON, _q("batteries_removed", "Batteries removed?"))),
    Category(code="health_beauty", name="Health & beauty", checklist=(
        _q("seal_intact", "Hygiene seal intact?"), _q("lot_readable", "Lot and expiry readable?"),
        _q("not_expired", "Not expired?"))),
)

REASON_CODES = tuple(ReasonCode(code=c, label=label) for c, label in (
    ("defective", "Defective or does not work"),
    ("damaged_in_transit", "Arrived damaged"),
    ("wrong_item", "Wrong item sent"),
    ("not_as_described", "Not as described"),
    ("size_fit", "Size or fit"),
    ("no_longer_needed", "No longer needed"),
    ("arrived_late", "Arrived too late"),
    ("unknown", "No reason given"),
))

CONDITION_CODES = tuple(ConditionCode(code=c, label=label) for c, label in (
    ("new_sealed", "New, factory sealed"),
    ("opened", "Opened, complete"),
    ("missing_parts", "Parts or accessories missing"),
    ("scratched", "Scratches or scuffs"),
    ("dented", "Dents or cracks"),
    ("stained", "Stained or soiled"),
    ("not_working", "Does not work"),
    ("water_damage", "Water damage"),
    ("empty_box", "Empty box"),
    ("wrong_item", "Different item than expected"),
))

# (category, names, price range in cents, serial tracked, lot tracked)
_ASSORTMENT = (
    ("electronics", ("Wireless Earbuds", "Bluetooth Speaker", "Smartwatch", "USB-C Charger", "Tablet 10in",
                     "Action Camera", "Noise-Cancelling Headphones", "E-Reader"), (1500, 45000), True, False),
    ("apparel", ("Rain Jacket", "Merino Sweater", "Chino Trousers", "Linen Shirt", "Down Vest", "Hoodie"),
     (1500, 18000), False, False),
    ("footwear", ("Trail Runner", "Leather Boot", "Canvas Sneaker", "Sandal"), (2500, 22000), False, False),
    ("home", ("Chef Knife", "Cast Iron Pan", "Desk Lamp", "Cotton Duvet", "Espresso Cups"), (900, 16000), False, False),
    ("toys", ("Building Set", "Plush Bear", "Puzzle 1000pc", "RC Car"), (800, 9000), False, False),
    ("health_beauty", ("Face Serum", "Electric Toothbrush Heads", "Sunscreen SPF50", "Vitamin D3"),
     (600, 6000), False, True),
)
_VARIANTS = ("Black", "White", "Navy", "Olive", "Sand", "Red", "Grey", "Blue", "S", "M", "L", "XL")
_GS1_COMPANY_PREFIX = "5901234"  # a GS1 example prefix: demo GTINs never clash with real products


def _gtin13(item_ref: int) -> str:
    body = f"{_GS1_COMPANY_PREFIX}{item_ref:05d}"
    return f"{body}{gs1_check_digit(body)}"


def _items(rng: random.Random, count: int) -> tuple[Item, ...]:
    items = []
    for n in range(count):
        category, names, (low, high), serial, lot = _ASSORTMENT[n % len(_ASSORTMENT)]
        name = f"{rng.choice(names)} {rng.choice(_VARIANTS)}"
        items.append(Item(
            sku=f"{category[:3].upper()}-{10000 + n}",
            name=name,
            category=category,
            gtins=(_gtin13(n + 1),),
            serial_tracked=serial,
            lot_tracked=lot,
            unit_value_cents=rng.randrange(low, high, 100),
        ))
    return tuple(items)


def _bins() -> tuple[Bin, ...]:
    layout = {  # bin type -> (zones, bins per zone)
        BinType.DOCK: ("A", 4),
        BinType.INSPECTION: ("B", 4),
        BinType.QUARANTINE: ("Q", 6),
        BinType.RESTOCK: ("R", 12),
        BinType.REFURBISH: ("F", 4),
        BinType.VENDOR_RETURN: ("V", 4),
        BinType.LIQUIDATION: ("L", 4),
        BinType.SCRAP: ("S", 2),
    }
    purposes = ("suspected fraud", "hazmat review", "awaiting vendor claim", "damaged in transit")
    bins = []
    for bin_type, (zone, count) in layout.items():
        for number in range(1, count + 1):
            quarantine = bin_type is BinType.QUARANTINE
            bins.append(Bin(
                code=bin_code(bin_type, zone, number),
                type=bin_type,
                zone=zone,
                purpose=purposes[(number - 1) % len(purposes)] if quarantine else None,
                owner="sam" if quarantine else None,
            ))
    return tuple(bins)


def _rmas(rng: random.Random, items: tuple[Item, ...], now: dt.datetime, count: int) -> tuple[Rma, ...]:
    reasons = [r.code for r in REASON_CODES if r.code != "unknown"]
    # Mostly receivable, a few that the dock must refuse or that are already done.
    states = [RmaState.APPROVED] * 5 + [RmaState.IN_TRANSIT] * 4 + [RmaState.REQUESTED, RmaState.REJECTED]
    rmas = []
    for n in range(count):
        lines = tuple(
            RmaLine(line_no=i + 1, sku=rng.choice(items).sku, expected_qty=rng.choice((1, 1, 1, 2, 3)),
                    reason_code=rng.choice(reasons))
            for i in range(rng.choice((1, 1, 2, 3)))
        )
        rmas.append(Rma(
            rma_id=rma_id(2_600_001 + n),
            state=states[n % len(states)],
            channel=list(Channel)[n % len(Channel)],
            order_ref=f"ORD-{rng.randrange(10**7, 10**8)}",
            created_at=now - dt.timedelta(days=rng.randrange(1, 30), minutes=rng.randrange(0, 1440)),
            lines=lines,
        ))
    return tuple(rmas)


def _users(rng: random.Random) -> tuple[User, ...]:
    return (
        User(user_id="alex", name="Alex Associate", role=Role.ASSOCIATE,
             pin_hash=hash_pin(DEMO_PINS["alex"], rng.randbytes(16))),
        User(user_id="sam", name="Sam Supervisor", role=Role.SUPERVISOR,
             pin_hash=hash_pin(DEMO_PINS["sam"], rng.randbytes(16))),
    )


def demo_catalogue(*, now: dt.datetime, seed: int = 2026, item_count: int = 520, rma_count: int = 50) -> DemoCatalogue:
    rng = random.Random(seed)
    items = _items(rng, item_count)
    return DemoCatalogue(
        categories=CATEGORIES,
        reason_codes=REASON_CODES,
        condition_codes=CONDITION_CODES,
        rules=DEFAULT_RULES,
        items=items,
        bins=_bins(),
        rmas=_rmas(rng, items, now, rma_count),
        users=_users(rng),
    )
