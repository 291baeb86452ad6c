"""Receive: scan an RMA (or a package label for a blind return), then each item and its LPN label."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain import RECEIVABLE_RMA_STATES, Item, ReturnflowError, Rma, UnknownEntity
from domain.codes import NO_REASON_GIVEN
from domain.events import IDENTIFIER
from local_db.screens import LineProgress, rma_progress
from scanner import ScanError, ScanKind, ScanSession, classify_read, decode_image_bytes

from .common import Feedback, Session, attempt, lower_first, read_scan
from .words import RMA_STATES, value_words

RECEIVING_BIN = "BIN-DCK-A01"


@dataclass
class ReceiveModel:
    session: Session
    bin_code: str = RECEIVING_BIN
    rma: Rma | None = None
    # A package with no RMA on this device: received blind under its label, with a reason.
    package_ref: str | None = None
    blind_reason: str | None = None
    item: Item | None = None  # the item in hand, waiting for its LPN label
    # A serial from a plain barcode (not a GS1 AI 21), scanned or typed while the item waits for one.
    plain_serial: str | None = None
    unexpected: list[str] = field(default_factory=list)  # LPNs received blind while an RMA was open
    last_received: str | None = None  # the unit just received: it goes on to inspection in hand
    feedback: Feedback | None = None
    _identity: ScanSession = field(default_factory=ScanSession)

    @property
    def prompt(self) -> str:
        """The one next thing to scan."""
        _ = self.session._
        if self.rma is None and self.blind_reason is None:
            return _("Scan the RMA or the package label")
        if self.item is None and self.rma is not None and self.complete():
            return _("Every line is in: tap Package done, or scan the next item or package")
        if self.item is None:
            return _("Scan the item's barcode")
        if self._awaits_serial():
            return _("Scan the serial number of {item}").format(item=self.item.name)
        if self.item.lot_tracked and not (self._identity.current.lot and self._identity.current.expiry):
            return _("Scan the lot and expiry label of {item}").format(item=self.item.name)
        return _("Stick an LPN label on {item} and scan it").format(item=self.item.name)

    def _awaits_serial(self) -> bool:
        return bool(self.item and self.item.serial_tracked and not (self._identity.current.serial or self.plain_serial))

    def lines(self) -> list[LineProgress]:
        return rma_progress(self.session.store, self.rma.rma_id) if self.rma else []

    def complete(self) -> bool:
        """Every line of the open RMA has received what it expects."""
        return all(line.received >= line.expected for line in self.lines())

    def submit(self, typed: str) -> Feedback:
        try:
            scan = read_scan(typed)
            self.feedback = self._handle(scan)
        except (ScanError, ReturnflowError) as refused:
            self.feedback = self.session.refused(refused)
        return self.feedback

    def submit_photo(self, content: bytes) -> Feedback:
        """The camera fallback: every barcode read in a photo, as if scanned one after another."""
        try:
            reads = decode_image_bytes(content)
        except ScanError as refused:
            self.feedback = self.session.refused(refused)
            return self.feedback
        if not reads:
            self.feedback = Feedback(False, self.session._("no barcode found in the photo: take it closer, or scan it"))
            return self.feedback
        for read in reads:  # in the order the decoder found them: an RMA label before the item, say
            try:
                self.feedback = self._handle(classify_read(read))
            except (ScanError, ReturnflowError) as refused:
                self.feedback = self.session.refused(refused)
        return self.feedback

    def start_blind(self, reason_code: str) -> Feedback:
        """Receive the package without an RMA: every item in it gets this reason."""
        store, _ = self.session.store, self.session._
        if store.db.execute("SELECT 1 FROM reason_codes WHERE code = ?", (reason_code,)).fetchone() is None:
            self.feedback = Feedback(False, _("unknown reason {reason}: pick one from the list").format(reason=reason_code))
        else:
            self.rma, self.blind_reason, self.item = None, reason_code, None
            words = (_("blind return for package {package}: scan the items").format(package=self.package_ref)
                     if self.package_ref else _("blind return: scan the items"))
            self.feedback = Feedback(True, words)
        return self.feedback

    def finish(self) -> None:
        """The package is done: the next scan starts a new one."""
        self.rma = self.package_ref = self.blind_reason = self.item = self.plain_serial = None
        self.unexpected.clear()
        self._identity.clear()

    def reason_codes(self) -> list[tuple[str, str]]:
        return self.session.store.db.execute("SELECT code, label FROM reason_codes ORDER BY label").fetchall()

    def _handle(self, scan) -> Feedback:
        store, _ = self.session.store, self.session._
        match scan.kind:
            case ScanKind.RMA:
                try:
                    rma = store.rma(scan.value)
                except UnknownEntity:
                    return Feedback(False, _("{rma} is not on this device: sync, or receive it as a blind return")
                                    .format(rma=scan.value))
                self.finish()
                state = value_words(RMA_STATES, rma.state, _)
                if rma.state not in RECEIVABLE_RMA_STATES:
                    # Refused before any label goes on; the package can still come in blind, under its RMA.
                    self.package_ref = rma.rma_id
                    return Feedback(False, _("{rma} is {state}: it cannot be received; pick a reason to receive "
                                             "the package blind").format(rma=rma.rma_id, state=state))
                self.rma = rma
                self._preselect()
                lines = self.session.ngettext("{rma}: {count} line, {state}", "{rma}: {count} lines, {state}",
                                              len(rma.lines)).format(rma=rma.rma_id, count=len(rma.lines), state=state)
                if self.item:
                    lines = _("{words}: {prompt}").format(words=lines, prompt=lower_first(self.prompt))
                return Feedback(True, lines)
            case ScanKind.TRACKING | ScanKind.SSCC:
                self.finish()
                self.package_ref = scan.value
                return Feedback(True, _("package {package} has no RMA here: pick a reason to receive it blind")
                                .format(package=scan.value))
            case ScanKind.BIN:
                if scan.bin_type is None or scan.bin_type.value not in ("dock", "inspection"):
                    return Feedback(False, _("{bin} is not a dock or inspection bin: receive into one of those")
                                    .format(bin=scan.value))
                store.bin(scan.value)  # an unknown bin is refused now, not at every receipt after it
                self.bin_code = scan.value
                return Feedback(True, _("receiving into {bin}").format(bin=scan.value))
            case ScanKind.ITEM | ScanKind.GS1:
                return self._item(scan)
            case ScanKind.LPN:
                return self._receive(scan.value)
            case ScanKind.UNKNOWN if self._awaits_serial():
                if not IDENTIFIER.fullmatch(scan.value):  # what a receipt takes as a serial
                    return Feedback(False, _("{serial} is not a serial number: 1 to 40 letters, digits or signs")
                                    .format(serial=repr(scan.value)))
                self.plain_serial = scan.value
                return Feedback(True, _("serial {serial}: {prompt}").format(serial=scan.value,
                                                                            prompt=lower_first(self.prompt)))
        return Feedback(False, _("{code} is not an RMA, item, package or LPN label").format(code=scan.text))

    def _item(self, scan) -> Feedback:
        _ = self.session._
        if self.rma is None and self.blind_reason is None:
            return Feedback(False, _("scan the RMA or the package label first"))
        identity = self._identity.add(scan)
        if identity.gtin is None:
            return Feedback(False, _("scan the item's product barcode (GTIN) first"))
        item = self.session.store.item_by_gtin(identity.gtin)
        if self.item is not None and self.item.sku != item.sku:
            self._identity.clear()
            self.plain_serial = None
            identity = self._identity.add(scan)
        self.item = item
        if self.rma is not None and all(line.sku != item.sku for line in self.rma.lines):
            return Feedback(True, _("{item} is not on {rma}: it will be received as an unexpected item")
                            .format(item=item.name, rma=self.rma.rma_id), check=True)
        return Feedback(True, _("{item}: {prompt}").format(item=item.name, prompt=lower_first(self.prompt)))

    def _receive(self, lpn: str) -> Feedback:
        _ = self.session._
        if self.item is None:
            return Feedback(False, _("scan the item before its LPN label"))
        item, identity, store = self.item, self._identity.current, self.session.store
        on_rma = self.rma is not None and any(line.sku == item.sku for line in self.rma.lines)
        common = dict(lpn=lpn, sku=item.sku, bin_code=self.bin_code, serial=identity.serial or self.plain_serial,
                      lot=identity.lot, expiry=identity.expiry)
        if on_rma:
            feedback, _unit = attempt(self.session,
                                      lambda: store.receive(self.session.actor, rma_id=self.rma.rma_id, **common),
                                      _("saved: {lpn} received against {rma}").format(lpn=lpn, rma=self.rma.rma_id))
        else:
            reason = self.blind_reason or self._unexpected_reason()
            package = self.package_ref or (self.rma.rma_id if self.rma else None)
            saved = (_("saved: {lpn} received as an unexpected item") if self.rma
                     else _("saved: {lpn} received as a blind return")).format(lpn=lpn)
            feedback, _unit = attempt(
                self.session, lambda: store.receive(self.session.actor, reason_code=reason, package_ref=package, **common),
                saved)
            if feedback.ok and self.rma is not None:
                self.unexpected.append(lpn)
        if feedback.ok:
            self.last_received = lpn
            self.item = self.plain_serial = None
            self._identity.clear()
            self._preselect()
            over = [line for line in self.lines() if line.sku == item.sku and line.flag]
            if over:
                return Feedback(True, _("{words}; line {line}: {flag}").format(
                    words=feedback.message, line=over[0].line_no, flag=self.over_words(over[0])),
                    saved=feedback.saved, check=True)
        return feedback

    def over_words(self, progress: LineProgress) -> str:
        """A line received more often than it expects, in words (LineProgress.flag, translated)."""
        more = progress.received - progress.expected
        return self.session.ngettext("{count} more than expected", "{count} more than expected", more).format(
            count=more)

    def _preselect(self) -> None:
        """An RMA of one line still expecting units has one item to expect: it is in hand without
        scanning its barcode (scanning another item's barcode still replaces it)."""
        if self.rma is not None and len(self.rma.lines) == 1 and not self.complete():
            self.item = self.session.store.item(self.rma.lines[0].sku)

    def _unexpected_reason(self) -> str:
        """An item on none of the RMA's lines was given no reason by the customer: it takes none of
        the lines' reasons (the server opens an exception for a supervisor to look at it)."""
        return NO_REASON_GIVEN
