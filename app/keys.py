"""One keyboard hook for the whole page: a hardware scanner's burst is a scan wherever the focus is.

A keyboard-wedge scanner types a code and Enter faster than anyone types. The page's keyboard hook
sees every key (on a switch, a checkbox, a button, inside a text field), so bursts are recognised
here and handed to the screen as scans. What a burst typed into a focused text field is taken back
out of it, and the field's own Enter (its submit) is not taken a second time.

The order of messages from the browser is what makes this exact: for every key, its key event
arrives before the text change it causes, and a field's submit comes after the Enter's key event
or (where the browser sends it first) before it; either way one burst gives one scan. On a busy
machine the browser's text channel lags its key channel: a burst's last text changes (even all of
them) and its field's submit may arrive after the scan was taken. Those are taken back out too.

Plain Python, no Flet: the screens feed it key events and text changes, and it calls `on_scan`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

# A US keyboard layout: a shifted key's character. A scanner types through the same layer.
_SHIFTED = dict(zip("1234567890-=[]\\;',./`", '!@#$%^&*()_+{}|:"<>?~', strict=True))
_TERMINATORS = {"Enter", "Numpad Enter", "Tab"}
_MODIFIERS = {"Shift", "Shift Left", "Shift Right", "Control Left", "Control Right", "Alt Left", "Alt Right",
              "Meta Left", "Meta Right", "Caps Lock"}
MIN_BURST_KEYS = 6
# Median time between keys (s) at or below which keys are a scanner's: scanners type a key every few
# ms, people 120 ms or more. The median, not the largest gap: a busy server that stalls once in the
# middle of a burst receives its keys in two bunches, and still sees a burst.
MAX_MEDIAN_GAP_S = 0.08
PAUSE_S = 0.5  # a pause this long ends whatever was typed before: a burst starts after it
# How long after a burst its text may still reach a field (the browser's text channel lagging its
# key channel on a busy machine). Any key typed meanwhile ends it: its text is the person's.
LATE_S = 3.0
# The longest stall of the server's inside a burst that still joins its parts. A scanner never
# pauses inside a code, and a person does not type at its pace, so a gap between two runs of keys
# that each came at a scanner's pace is the server's, however long (a loaded machine stalls for
# seconds); the bound only keeps keys from another minute apart.
STALL_S = 30.0
_KEPT_KEYS = 400


def key_char(key: str, shift: bool) -> str | None:
    """The character a key types, from its label and Shift; None for a key that types none."""
    if len(key) != 1:
        return " " if key == "Space" else None
    if key.isalpha():
        return key.upper() if shift else key.lower()
    return _SHIFTED.get(key, key) if shift else key


@dataclass
class Typed:
    """The text of one field, as the person typed it; `reset` puts other text in its place."""

    text: str = ""
    on_reset: Callable[[str], None] | None = None

    def reset(self, text: str = "") -> None:
        self.text = text
        if self.on_reset is not None:
            self.on_reset(text)


class KeyRouter:
    """Tells scanner bursts from typing and hands each burst to `on_scan` once."""

    def __init__(self, on_scan: Callable[[str], None], clock: Callable[[], float],
                 is_code: Callable[[str], bool] = lambda _: True,
                 on_scanner_enter: Callable[[], None] = lambda: None) -> None:
        self._on_scan = on_scan
        self._clock = clock
        # A field's submit from a scanner's Enter: the browser takes the focus out of the field then,
        # possibly after the scan's own refocus when its text channel lags, so the focus is given back.
        self._on_scanner_enter = on_scanner_enter
        # Fast typing ending in Enter inside a text field stays the field's unless it reads as a code
        # a scanner prints (a label, a GTIN): a quick typist's note is never taken for a scan.
        self._is_code = is_code
        self._keys: list[str] = []
        self._times: list[float] = []
        # (keys seen when the change came, the field, its text before the change)
        self._changes: list[tuple[int, Typed, str]] = []
        self._submit_taken = False  # the burst ended by its Enter key: its field's submit is not a scan
        self._late: tuple[str, float] | None = None  # the last burst taken and when: its text may come late
        # The last burst taken by its Enter key and when, until its field's submit comes: that submit
        # may come late, after the next burst's first keys.
        self._unsubmitted: tuple[str, float] | None = None

    def key(self, key: str, shift: bool = False, ctrl: bool = False) -> None:
        """A key went down somewhere on the page."""
        if key in _MODIFIERS:
            return
        if key in _TERMINATORS:
            start = self._burst_start()
            self._submit_taken = start is not None and self._finish(start, typed_text=None)
            self._unsubmitted = self._late if self._submit_taken else None
            self._clear()
            return
        self._late = None
        char = None if ctrl else key_char(key, shift)
        if char is None:  # an arrow, Backspace, a shortcut: whatever came before was not a scan
            self._clear()
            return
        self._submit_taken = False
        if len(self._keys) >= _KEPT_KEYS:
            self._clear()
        self._keys.append(char)
        self._times.append(self._clock())

    def changed(self, typed: Typed, text: str) -> None:
        """A field's text changed as the person (or a scanner) typed."""
        if self._keys:
            self._changes.append((len(self._keys), typed, typed.text))
        elif self._arrived_late(typed, text):
            typed.reset(typed.text)
            return
        typed.text = text

    def submitted(self, typed: Typed, text: str) -> bool:
        """A field's Enter. True when it was a scanner's (taken as a scan here or already taken):
        the field then does nothing with it; False when a person typed it and it is the field's."""
        if self._submit_taken or self._late_submit(text):
            self._submit_taken, self._unsubmitted = False, None
            self._on_scanner_enter()
            return True
        start = self._burst_start()  # not None: the submit came before the Enter's key event
        if start is not None and self._finish(start, typed_text=(typed, text)):
            self._on_scanner_enter()
            return True
        return False

    def _late_submit(self, text: str) -> bool:
        """Whether this submit is the one of the last burst taken, reaching the server after keys
        typed since (the next scan's first keys, which are not this field's)."""
        if self._unsubmitted is None or self._clock() - self._unsubmitted[1] > LATE_S:
            return False
        return self._unsubmitted[0].casefold() in text.casefold()

    def _arrived_late(self, typed: Typed, text: str) -> bool:
        """Whether this change, with no key typed since the last burst, types part of that burst."""
        if self._late is None or self._clock() - self._late[1] > LATE_S:
            return False
        inserted = _inserted(typed.text, text)
        return bool(inserted) and inserted.casefold() in self._late[0].casefold()

    def _burst_start(self) -> int | None:
        """Where the keys typed before this Enter begin, if they are a scanner's burst."""
        end = len(self._keys)
        start = self._run_start(end)
        burst = start if self._fast(start, end) else None
        # A pause inside a burst is the server's (a stall while the keys queued), not the scanner's:
        # the keys before it belong to the burst when together they came fast and read as a code,
        # also when too few keys came after the stall to be a burst of their own.
        while start > 0 and self._times[start] - self._times[start - 1] <= STALL_S:
            earlier = self._run_start(start)
            if not (self._paced(earlier, start) and self._fast(earlier, end)
                    and self._is_code("".join(self._keys[earlier:]))):
                break
            burst = start = earlier
        return burst

    def _run_start(self, end: int) -> int:
        """Where the keys before `end` begin, back to the last pause."""
        start = end - 1
        while start > 0 and self._times[start] - self._times[start - 1] <= PAUSE_S:
            start -= 1
        return max(start, 0)

    def _fast(self, start: int, end: int) -> bool:
        """Whether keys start..end are enough and came at a scanner's pace."""
        return end - start >= MIN_BURST_KEYS and self._paced(start, end)

    def _paced(self, start: int, end: int) -> bool:
        """Whether keys start..end came at a scanner's pace (a single key says nothing against it)."""
        times = self._times[start:end]
        return len(times) < 2 or statistics.median(
            later - earlier for earlier, later in zip(times, times[1:], strict=False)) <= MAX_MEDIAN_GAP_S

    def _code_start(self, start: int) -> int | None:
        """Where, after `start`, the keys begin that read as a code: a burst that followed typing so
        closely (or that reached the server so late) that no pause came between them."""
        end = len(self._keys)
        for later in range(start + 1, end - MIN_BURST_KEYS + 1):
            if self._fast(later, end) and self._is_code("".join(self._keys[later:])):
                return later
        return None

    def _clear(self) -> None:
        self._keys, self._times, self._changes = [], [], []

    def _finish(self, start: int, typed_text: tuple[Typed, str] | None) -> bool:
        """Take the burst from `start` as a scan; False when it was a field's own text after all."""
        code = "".join(self._keys[start:])
        before: dict[int, tuple[Typed, str]] = {}
        for seen, typed, text in self._changes:
            if seen > start:  # the change a key makes comes after that key
                before.setdefault(id(typed), (typed, text))
        if typed_text is not None and not before:
            typed, text = typed_text
            before[id(typed)] = (typed, text[: len(text) - len(code)] if len(text) >= len(code) else "")
        for typed, text in before.values():
            # The field's own text says the burst exactly (case included), where the keys' labels cannot.
            inserted = _inserted(text, typed.text if typed_text is None or typed is not typed_text[0] else typed_text[1])
            if inserted.casefold() == code.casefold():
                code = inserted
        if before and not self._is_code(code):
            later = self._code_start(start)
            return later is not None and self._finish(later, typed_text)
        self._clear()
        self._late = (code, self._clock())
        for typed, text in before.values():
            typed.reset(text)
        self._on_scan(code)
        return True


def _inserted(before: str, after: str) -> str:
    """What was typed into `before` to make `after` (one run of characters at one place)."""
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    end = 0
    while end < min(len(before), len(after)) - start and before[-1 - end] == after[-1 - end]:
        end += 1
    return after[start: len(after) - end]
