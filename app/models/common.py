"""What every screen shares: the signed-in session (and its language), scan input and feedback in words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from domain import Actor, ReturnflowError
from local_db import DeviceStore
from sync.engine import SyncEngine

from ..i18n import DEFAULT_LANGUAGE, translation
from .words import refusal

if TYPE_CHECKING:
    from scanner import Scan

# The scanner package loads OpenCV, zxing-cpp, zbar and biip when imported: it is imported
# where a scan is read, not here, so that sign-in (which shares this module) starts without it.

T = TypeVar("T")


@dataclass(frozen=True)
class Feedback:
    """The answer to one scan or action: success, success to check, or error, in words an associate
    reads at a glance.
    A view shows it in colour and plays the matching sound."""

    ok: bool
    message: str
    saved: bool = False  # a command committed: there is something new for the server
    # Done, but worth a look (an item not on the RMA, more than a line expects): amber, not green.
    check: bool = False

    @property
    def sound(self) -> str:
        return "error" if not self.ok else "check" if self.check else "ok"


@dataclass
class Session:
    """One signed-in associate or supervisor on this device, and the language they read."""

    store: DeviceStore
    actor: Actor
    engine: SyncEngine | None = None  # None when the device runs without a central API
    language: str = DEFAULT_LANGUAGE

    def _(self, message: str) -> str:
        return translation(self.language).gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return translation(self.language).ngettext(singular, plural, count)

    def refused(self, error: Exception) -> Feedback:
        """A refusal (a store's, the domain's or the scanner's error) as words for this person."""
        return Feedback(False, refusal(error, self.language))


def read_scan(typed: str) -> Scan:
    """A scan field's submission, from a hardware scanner (keyboard wedge) or typed by hand: the
    same parser and the same checks either way. Raises ScanError with words for the associate."""
    from scanner import classify, parse_wedge

    wedge = parse_wedge(typed)
    return classify(wedge.text, aim_id=wedge.aim_id)


def attempt(session: Session, action: Callable[[], T], saved: str) -> tuple[Feedback, T | None]:
    """Run one command; the `saved` words once it is committed, its refusal in words otherwise."""
    try:
        result = action()
    except ReturnflowError as refused:
        return session.refused(refused), None
    return Feedback(True, saved, saved=True), result


def lower_first(sentence: str) -> str:
    """A prompt ("Scan the ...") continued after a colon."""
    return sentence[:1].lower() + sentence[1:]
