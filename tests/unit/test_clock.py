"""The hybrid logical clock stays monotonic whatever the wall clock does; UUIDv7 ids."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import Hlc, HybridClock, InvalidInput, uuid7


def clock_reading(values):
    it = iter(values)
    return HybridClock(lambda: next(it))


def test_ticks_follow_a_moving_wall_clock():
    clock = clock_reading([1000, 2000])
    assert clock.now() == Hlc(1000, 0)
    assert clock.now() == Hlc(2000, 0)


def test_same_millisecond_counts_logically():
    clock = clock_reading([1000, 1000, 1000])
    assert [clock.now() for _ in range(3)] == [Hlc(1000, 0), Hlc(1000, 1), Hlc(1000, 2)]


def test_wall_clock_jumping_backwards_keeps_order():
    clock = clock_reading([5000, 1000, 1200, 6000])
    stamps = [clock.now() for _ in range(4)]
    assert stamps == [Hlc(5000, 0), Hlc(5000, 1), Hlc(5000, 2), Hlc(6000, 0)]


def test_observing_a_remote_clock_ahead_moves_past_it():
    clock = clock_reading([1000, 1000])
    assert clock.observe(Hlc(9000, 4)) == Hlc(9000, 5)
    assert clock.now() == Hlc(9000, 6)


def test_restart_from_last_stamp_stays_monotonic():
    clock = HybridClock(lambda: 10, last=Hlc(5000, 3))
    assert clock.now() == Hlc(5000, 4)


def test_logical_overflow_borrows_the_next_millisecond():
    clock = HybridClock(lambda: 10, last=Hlc(5000, 999_999))
    assert clock.now() == Hlc(5001, 0)


@given(st.lists(st.integers(min_value=0, max_value=2**45), min_size=1, max_size=200))
def test_any_wall_clock_sequence_gives_strictly_increasing_stamps(walls):
    clock = clock_reading(walls)
    stamps = [clock.now() for _ in walls]
    assert all(a < b for a, b in zip(stamps, stamps[1:]))
    texts = [str(s) for s in stamps]
    assert texts == sorted(texts) and len(set(texts)) == len(texts)
    assert [Hlc.parse(t) for t in texts] == stamps


@pytest.mark.parametrize("text", ["", "12.3", "000000000001000-000000", "x" * 22])
def test_malformed_hlc_text_is_refused(text):
    with pytest.raises(InvalidInput):
        Hlc.parse(text)


def test_uuid7_has_version_variant_and_time():
    value = uuid7(1_795_680_000_123, bytes(range(10)))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == 1_795_680_000_123


def test_uuid7_orders_by_millisecond():
    earlier = uuid7(1000, b"\xff" * 10)
    later = uuid7(1001, b"\x00" * 10)
    assert earlier < later


def test_uuid7_needs_ten_random_bytes():
    with pytest.raises(ValueError):
        uuid7(1000, b"short")
