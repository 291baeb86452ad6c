"""The page's keyboard hook: a scanner's burst is one scan wherever the focus is, and never text."""

from __future__ import annotations

from app.keys import KeyRouter, Typed, key_char


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def router() -> tuple[KeyRouter, list[str], Clock]:
    scans: list[str] = []
    clock = Clock()
    return KeyRouter(scans.append, clock), scans, clock


def press(keys: KeyRouter, clock: Clock, code: str, gap: float, field: Typed | None = None) -> None:
    """Type `code` as key events (labels upper case, as the browser reports them) and Enter; a focused
    field's text changes after each key, as in the browser."""
    for char in code:
        clock.now += gap
        keys.key(char.upper() if char.isalpha() else char, shift=char.isupper())
        if field is not None:
            keys.changed(field, field.text + char)
    clock.now += gap
    keys.key("Enter")


def test_a_burst_with_nothing_focused_is_one_scan_read_from_the_key_labels():
    keys, scans, clock = router()
    press(keys, clock, "LPN-0000000017", gap=0.004)
    assert scans == ["LPN-0000000017"]


def test_typing_at_a_persons_pace_is_not_a_scan():
    keys, scans, clock = router()
    press(keys, clock, "LPN-0000000017", gap=0.15)
    assert scans == []


def test_a_burst_into_a_note_is_taken_back_out_of_it_and_scanned_as_typed():
    keys, scans, clock = router()
    notes = Typed()
    press(keys, clock, "box was wet", gap=0.2, field=notes)
    clock.now += 2
    resets: list[str] = []
    notes.on_reset = resets.append
    press(keys, clock, "lpn-0000000017", gap=0.004, field=notes)
    assert scans == ["lpn-0000000017"]  # the field's text, case and all, not the keys' labels
    assert notes.text == "box was wet" and resets == ["box was wet"]


def test_the_fields_enter_after_a_burst_is_not_taken_again():
    keys, scans, clock = router()
    field = Typed()
    press(keys, clock, "RMA-26000015", gap=0.004, field=field)
    assert keys.submitted(field, field.text) is True
    assert scans == ["RMA-26000015"] and field.text == ""


def test_a_submit_that_comes_before_the_enter_key_is_one_scan():
    keys, scans, clock = router()
    field = Typed()
    for char in "BIN-RST-R01":
        clock.now += 0.004
        keys.key(char.upper(), shift=char.isupper())
        keys.changed(field, field.text + char)
    assert keys.submitted(field, field.text) is True
    keys.key("Enter")
    assert scans == ["BIN-RST-R01"] and field.text == ""


def test_a_code_a_person_typed_and_entered_is_the_fields_own():
    keys, scans, clock = router()
    field = Typed()
    press(keys, clock, "LPN-0000000017", gap=0.2, field=field)
    assert keys.submitted(field, field.text) is False and scans == []


def test_a_server_stall_in_the_middle_of_a_burst_still_gives_one_scan():
    keys, scans, clock = router()
    for index, char in enumerate("LPN-0000000017"):
        clock.now += 0.3 if index == 6 else 0.002  # the keys arrive in two bunches
        keys.key(char)
    keys.key("Enter")
    assert [scan.upper() for scan in scans] == ["LPN-0000000017"]


def test_keys_type_their_characters_on_a_us_layout():
    assert [key_char("A", False), key_char("A", True), key_char("9", True), key_char("-", False),
            key_char("Backspace", False), key_char("Space", False)] == ["a", "A", "(", "-", None, " "]


def test_fast_typing_that_is_not_a_code_stays_in_its_field():
    scans: list[str] = []
    clock = Clock()
    keys = KeyRouter(scans.append, clock, is_code=lambda text: text.upper().startswith("LPN-"))
    reason = Typed()
    press(keys, clock, "smells of smoke", gap=0.01, field=reason)
    assert keys.submitted(reason, reason.text) is False  # the field's own Enter: it holds the unit
    assert scans == [] and reason.text == "smells of smoke"


def test_a_bursts_text_that_reaches_its_field_after_the_scan_is_taken_back_out():
    """On a busy machine the browser's text changes lag its key events: all of a burst's text (or its
    end) and the field's submit may arrive after the scan was taken."""
    scans: list[str] = []
    entered: list[bool] = []
    clock = Clock()
    keys = KeyRouter(scans.append, clock, on_scanner_enter=lambda: entered.append(True))
    field, resets = Typed("box"), []
    field.on_reset = resets.append
    press(keys, clock, "RMA-26000121", gap=0.004)  # the keys only: their text has not come yet
    assert scans == ["RMA-26000121"]
    for end in (5, 12):
        clock.now += 0.4
        keys.changed(field, "box" + "RMA-26000121"[:end])
    assert field.text == "box" and resets == ["box", "box"]  # each time drawn again without it
    assert keys.submitted(field, "boxRMA-26000121") is True and entered == [True]
    assert scans == ["RMA-26000121"]


def test_a_key_typed_after_a_burst_is_the_persons_own():
    keys, scans, clock = router()
    field = Typed()
    press(keys, clock, "RMA-26000121", gap=0.004)
    clock.now += 0.2
    keys.key("R", shift=True)
    keys.changed(field, "R")
    assert field.text == "R" and scans == ["RMA-26000121"]


def test_text_long_after_a_burst_is_not_taken_for_its_late_end():
    keys, _, clock = router()
    field = Typed()
    press(keys, clock, "RMA-26000121", gap=0.004)
    clock.now += 10
    keys.changed(field, "RMA")  # pasted, say: no key event
    assert field.text == "RMA"


def scans_of(*runs: tuple[float, str, float]) -> list[str]:
    """The scans of key runs, each (wait before it, its keys, the gap between them), then Enter, where
    a label or a run of digits (an item's GTIN) reads as a code."""
    scans: list[str] = []
    clock = Clock()
    keys = KeyRouter(scans.append, clock, is_code=lambda text: text.upper().startswith(("RMA-", "LPN-"))
                     or text.isdigit())
    for wait, chars, gap in runs:
        clock.now += wait - gap
        for char in chars:
            clock.now += gap
            keys.key(char)
    keys.key("Enter")
    return [scan.upper() for scan in scans]


def test_a_server_stall_longer_than_a_pause_inside_a_burst_still_gives_the_whole_code():
    assert scans_of((0, "RMA-", 0.003), (0.9, "26000084", 0.003)) == ["RMA-26000084"]


def test_a_server_stall_near_the_end_of_a_burst_still_gives_the_whole_code():
    """After the stall fewer keys come than a burst has at least: they end the burst before it."""
    assert scans_of((0, "RMA-26000", 0.003), (0.9, "138", 0.003)) == ["RMA-26000138"]


def test_a_long_server_stall_right_after_a_codes_prefix_still_gives_the_whole_code():
    """The digits of an RMA label are a valid GTIN-8 on their own: its prefix must not be lost."""
    assert scans_of((0, "RMA-", 0.003), (5.0, "26000046", 0.003)) == ["RMA-26000046"]


def test_keys_typed_at_a_persons_pace_before_a_gap_are_not_joined_to_the_burst_after_it():
    assert scans_of((0, "RMA-", 0.2), (5.0, "26000046", 0.003)) == ["26000046"]


def test_a_bursts_submit_that_comes_after_the_next_bursts_first_keys_is_not_a_scan_of_them():
    """The scan field's submit of one scan reaches the server late, once the next scan began."""
    scans: list[str] = []
    clock = Clock()
    keys = KeyRouter(scans.append, clock, is_code=lambda text: True)
    field = Typed()
    press(keys, clock, "RMA-26000084", gap=0.003)  # taken at its Enter key; its submit not yet seen
    for char in "LPN-00":
        clock.now += 0.003
        keys.key(char)
    assert keys.submitted(field, "RMA-26000084") is True  # the first scan's, taken already
    for char in "07000058":
        clock.now += 0.003
        keys.key(char)
    keys.key("Enter")
    assert [scan.upper() for scan in scans] == ["RMA-26000084", "LPN-0007000058"]


def test_a_few_keys_typed_after_a_pause_are_no_scan_however_fast():
    keys, scans, clock = router()
    for char in "12":
        clock.now += 0.3
        keys.key(char)
    clock.now += 1.0
    for char in "34":
        clock.now += 0.003
        keys.key(char)
    keys.key("Enter")
    assert scans == []


def test_a_burst_that_reaches_the_server_right_behind_a_note_is_a_scan_and_the_note_stays():
    scans: list[str] = []
    clock = Clock()
    keys = KeyRouter(scans.append, clock, is_code=lambda text: text.upper().startswith("LPN-"))
    notes = Typed()
    for char in "box was wet":  # typed at a person's pace, but the last keys queued behind a stall
        clock.now += 0.01
        keys.key(char.upper() if char.isalpha() else ("Space" if char == " " else char))
        keys.changed(notes, notes.text + char)
    press(keys, clock, "LPN-0000000017", gap=0.004, field=notes)
    assert scans == ["LPN-0000000017"] and notes.text == "box was wet"
