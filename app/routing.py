"""Where a scan goes: the current screen's model, or, by the label's kind, the screen made for it.

A scan on Home (or on a screen with no scan of its own) routes by label: an RMA or a package label
opens Receive, an LPN its unit, a bin or a serial the lookup. A receipt hands its unit on to the
steps that follow (the default path); a unit stored while a package is open goes back to Receive.
"""

from __future__ import annotations

from domain import UnitState, UnknownEntity
from scanner import ScanError, ScanKind

from .handheld import Handheld
from .models.common import Feedback, read_scan
from .models.unit_steps import Step

_PACKAGE_LABELS = (ScanKind.RMA, ScanKind.TRACKING, ScanKind.SSCC)


def route(handheld: Handheld, text: str) -> Feedback | None:
    work = handheld.workspace
    if work.session is None:
        return Feedback(False, handheld._("sign in first, then scan"))
    screen = work.screen
    if screen == "receive":
        if (lpn := _lpn_in_use(work, text)) is not None:  # a unit already received: it is opened, not received again
            return handheld.open_unit(lpn)
        return _received(handheld, work.receive.submit(text))
    if screen == "unit":
        return _stepped(handheld, text)
    if screen == "lookup":
        return work.lookup.find(text)
    if screen == "count":
        return work.supervisor.count_scan(text)
    return _by_label(handheld, text)


def _lpn_in_use(work, text: str) -> str | None:
    """The LPN scanned, when a unit (not a voided receipt) already holds it on this device."""
    try:
        scan = read_scan(text)
    except ScanError:
        return None
    if scan.kind is not ScanKind.LPN:
        return None
    try:
        return scan.value if work.session.store.unit(scan.value).state is not UnitState.VOIDED else None
    except UnknownEntity:
        return None


def _by_label(handheld: Handheld, text: str) -> Feedback:
    work = handheld.workspace
    try:
        scan = read_scan(text)
    except ScanError as refused:
        scan, scan_refused = None, work.session.refused(refused)
    if scan is not None and (scan.kind in _PACKAGE_LABELS or scan.gtin):  # an item: Receive asks for its package
        handheld.go("receive")
        return _received(handheld, work.receive.submit(text))
    if scan is not None and scan.kind is ScanKind.LPN:
        return handheld.open_unit(scan.value)
    feedback = work.lookup.find(text)  # a bin's contents, or a unit by its serial
    if feedback.ok:
        handheld.go("lookup")
    elif scan is None:
        return scan_refused
    return feedback


def _received(handheld: Handheld, feedback: Feedback) -> Feedback:
    """After a receipt, the unit received is in hand for its inspection."""
    work = handheld.workspace
    lpn, work.receive.last_received = work.receive.last_received, None
    if lpn is not None and feedback.ok:
        work.flow.take(work.session.store.unit(lpn))
        handheld.go("unit")
        return Feedback(True, work.session._("{words}; now inspect it").format(words=feedback.message),
                        saved=feedback.saved, check=feedback.check)
    return feedback


def _stepped(handheld: Handheld, text: str) -> Feedback:
    work = handheld.workspace
    try:
        scan = read_scan(text)
    except ScanError as refused:
        return work.session.refused(refused)
    if scan.kind in _PACKAGE_LABELS or scan.gtin:
        handheld.go("receive")  # the next package, or the next item of this one
        return _received(handheld, work.receive.submit(text))
    putting_away = work.flow.step is Step.PUT_AWAY and not work.flow.moving
    feedback = work.flow.scan(text)
    stored = putting_away and feedback.saved and work.flow.unit.state is UnitState.STORED
    if stored and (work.receive.rma is not None or work.receive.blind_reason is not None):
        handheld.go("receive")
        return Feedback(True, work.session._("{words}; scan the next item").format(words=feedback.message), saved=True)
    return feedback
