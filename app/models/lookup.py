"""Look up: scan or type an LPN or a serial anywhere and see the unit's card; a bin shows its contents."""

from __future__ import annotations

from dataclasses import dataclass

from domain import ReturnflowError
from local_db.screens import UnitCard, bin_contents, photo, unit_card
from scanner import ScanError, ScanKind

from .common import Feedback, Session, read_scan
from .words import UNIT_STATES, value_words


@dataclass
class LookupModel:
    session: Session
    card: UnitCard | None = None
    bin_code: str | None = None  # a bin scanned: its contents are shown instead of a unit
    feedback: Feedback | None = None

    def find(self, typed: str) -> Feedback:
        """An LPN, a serial or a bin label, scanned or typed."""
        try:
            scan, malformed = read_scan(typed), None
        except ScanError as refused:
            scan, malformed = None, refused  # not a label the scanner reads: it may still be a serial number
        session, store = self.session, self.session.store
        _ = session._
        if scan is not None and scan.kind is ScanKind.BIN:
            try:
                store.bin(scan.value)
            except ReturnflowError as refused:
                self.feedback = session.refused(refused)
                return self.feedback
            self.card, self.bin_code = None, scan.value
            units = sum(self.bin_counts().values())
            self.feedback = Feedback(True, session.ngettext("{bin}: {count} unit", "{bin}: {count} units", units)
                                     .format(bin=scan.value, count=units))
            return self.feedback
        code = scan.value if scan is not None else typed.strip()
        card = unit_card(store, code)
        if card is None and malformed is not None:  # say what is wrong with the label, as every screen does
            self.feedback = session.refused(malformed)
            return self.feedback
        if card is None:
            self.feedback = Feedback(False, _("no unit with LPN or serial {code} on this device").format(code=code))
            return self.feedback
        self.card, self.bin_code = card, None
        self.feedback = Feedback(True, _("{lpn}: {name}, {state}").format(
            lpn=card.lpn, name=card.name, state=value_words(UNIT_STATES, card.state, _)))
        return self.feedback

    def bin_counts(self) -> dict[str, int]:
        """Units per SKU in the bin looked up."""
        return bin_contents(self.session.store, self.bin_code) if self.bin_code else {}

    def photo(self, sha256: str) -> bytes | None:
        return photo(self.session.store, sha256)
