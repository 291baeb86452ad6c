"""The supervisor's screen: quarantine bins, releases, the exception queue and bin counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from domain import Disposition, Grade, ReturnflowError, UnitState
from domain.conflicts import ExceptionKind
from domain.words import N_
from local_db.screens import (
    OpenException,
    QuarantineBin,
    QueuedUnit,
    bin_contents,
    open_exceptions,
    UnitCard,
    photo,
    quarantine_bins,
    unit_card,
    units_in,
)
from scanner import ScanError, ScanKind

from .common import Feedback, Session, attempt, read_scan
from .words import BIN_TYPES, DISPOSITIONS, RMA_STATES, value_words

_DISPUTED_FIELDS = {"grade": N_("grade"), "disposition": N_("disposition")}


@dataclass(frozen=True)
class Dispute:
    """An exception as a supervisor weighs it: what stands and what was proposed, side by side."""

    exception: OpenException
    title: str
    standing: str | None
    proposed: str | None
    field: str | None  # "grade" or "disposition" when choosing settles it
    gettext: Callable[[str], str]  # the supervisor's language

    def shown(self, value: str | None) -> str:
        """A grade as its letter, a disposition in words."""
        return value_words(DISPOSITIONS, value, self.gettext) if self.field == "disposition" else str(value)

    @property
    def context(self) -> list[str]:
        """Who and what stand behind the exception, as the supervisor reads it before deciding."""
        exception, detail, lines, _ = self.exception, self.exception.detail, [], self.gettext
        if self.standing is not None and self.proposed is not None:
            lines.append(_("standing: {decision}").format(decision=self.shown(self.standing)))
        if detail.get("proposed_by"):
            when = str(detail.get("proposed_at", ""))[:16].replace("T", " ")
            lines.append(_("proposed: {decision} by {user} on {device} at {time}").format(
                decision=self.shown(self.proposed), user=detail["proposed_by"], device=detail.get("proposed_device"),
                time=when))
        elif exception.device_id:
            lines.append(_("from device {device}").format(device=exception.device_id))
        for key, words in (("override_reason", N_("associate's reason: {reason}")), ("reason", N_("reason: {reason}"))):
            if detail.get(key):
                lines.append(_(words).format(reason=detail[key]))
        return lines

    @property
    def choices(self) -> list[tuple[str, str]]:
        """The supervisor's buttons: (their words, the grade or disposition that then stands). An
        override waiting for approval already holds the associate's choice: approving keeps it."""
        if self.field is None or self.standing is None or self.proposed is None:
            return []
        _, standing, proposed = self.gettext, self.shown(self.standing), self.shown(self.proposed)
        if self.exception.kind == ExceptionKind.OVERRIDE_APPROVAL:
            return [(_("Approve {decision}").format(decision=proposed), self.proposed),
                    (_("Refuse: {decision}").format(decision=standing), self.standing)]
        return [(_("Keep {decision}").format(decision=standing), self.standing),
                (_("Take {decision}").format(decision=proposed), self.proposed)]


def _dispute(exception: OpenException, _: Callable[[str], str]) -> Dispute:
    detail = exception.detail
    if exception.kind == ExceptionKind.DISPUTE:
        disputed = detail.get("field")
        return Dispute(exception, _("{field} disputed on {lpn}").format(
            field=value_words(_DISPUTED_FIELDS, disputed, _), lpn=exception.lpn), detail.get("standing"),
            detail.get("proposed"), disputed, _)
    if exception.kind == ExceptionKind.OVERRIDE_APPROVAL:
        title = _("{lpn}: {chosen} instead of {suggested} needs approval (rule {rule})").format(
            lpn=exception.lpn, chosen=value_words(DISPOSITIONS, detail.get("chosen"), _),
            suggested=value_words(DISPOSITIONS, detail.get("suggested"), _), rule=detail.get("rule_id"))
        return Dispute(exception, title, detail.get("suggested"), detail.get("chosen"), "disposition", _)
    return Dispute(exception, _describe(exception, _), None, None, None, _)


def _describe(exception: OpenException, _: Callable[[str], str]) -> str:
    """What a supervisor must check, in words, from what the exception's detail carries."""
    detail, lpn = exception.detail, exception.lpn or ""
    match exception.kind:
        case ExceptionKind.DUPLICATE_SERIAL:
            return _("serial {serial} received twice: {lpn}, first as {first}").format(
                serial=detail.get("serial"), lpn=lpn, first=detail.get("first_lpn"))
        case ExceptionKind.WRONG_ITEM:
            return _("{lpn} received on {rma} line {line} as {received}; the line expects {expected}").format(
                lpn=lpn, rma=detail.get("rma_id"), line=detail.get("line_no"), received=detail.get("received_sku"),
                expected=detail.get("expected_sku"))
        case ExceptionKind.RMA_NOT_RECEIVABLE:
            words = _("{lpn} received on {rma}, which is {state}").format(
                lpn=lpn, rma=detail.get("rma_id"), state=value_words(RMA_STATES, detail.get("state"), _))
            if "first_lpn" in detail:
                words = _("{words}; serial {serial} first received as {first}").format(
                    words=words, serial=detail["serial"], first=detail["first_lpn"])
            return words
        case ExceptionKind.BIN_POLICY_VIOLATION if "required" in detail:
            return _("{lpn} stored in {bin}, which is not a {type} bin").format(
                lpn=lpn, bin=exception.bin_code, type=value_words(BIN_TYPES, detail["required"], _))
        case ExceptionKind.BIN_POLICY_VIOLATION:
            return _("{lpn} stored in {bin}, re-purposed meanwhile ({purpose})").format(
                lpn=lpn, bin=exception.bin_code, purpose=detail.get("purpose"))
        case ExceptionKind.DUPLICATE_LPN:
            return _("one LPN on two units: {lpn} ({first} and {second})").format(
                lpn=lpn, first=detail.get("existing_sku"), second=detail.get("new_sku"))
        case ExceptionKind.OVER_RECEIPT:
            return _("{lpn} is unit {received} on {rma} line {line}, which expects {expected}").format(
                lpn=lpn, received=detail.get("received"), rma=detail.get("rma_id"), line=detail.get("line_no"),
                expected=detail.get("expected"))
        case ExceptionKind.NOT_ON_RMA:
            return _("{lpn} ({sku}) came in the package of {rma} but is on none of its lines").format(
                lpn=lpn, sku=detail.get("sku"), rma=detail.get("rma_id"))
    return f"{exception.kind.replace('_', ' ')}: {lpn or exception.bin_code or ''}"


@dataclass
class SupervisorModel:
    session: Session
    counting: str | None = None  # the bin being counted
    counted: Counter = field(default_factory=Counter)
    feedback: Feedback | None = None

    def bins(self) -> list[QuarantineBin]:
        return quarantine_bins(self.session.store)

    def quarantined(self) -> list[QueuedUnit]:
        return units_in(self.session.store, UnitState.QUARANTINED)

    def exceptions(self) -> list[Dispute]:
        return [_dispute(e, self.session._) for e in open_exceptions(self.session.store)]

    def evidence(self, dispute: Dispute) -> UnitCard | None:
        """The unit behind an exception as this device knows it: its steps and inspection photos."""
        return unit_card(self.session.store, dispute.exception.lpn) if dispute.exception.lpn else None

    def photo(self, sha256: str) -> bytes | None:
        return photo(self.session.store, sha256)

    def reassign(self, bin_code: str, *, purpose: str, zone: str, owner: str, move_to: str | None = None) -> Feedback:
        _ = self.session._
        saved = (_("saved: {bin} is now {purpose}, contents moved to {target}") if move_to
                 else _("saved: {bin} is now {purpose}")).format(bin=bin_code, purpose=purpose, target=move_to)
        self.feedback, _event = attempt(
            self.session,
            lambda: self.session.store.reassign_bin(self.session.actor, bin_code=bin_code, purpose=purpose,
                                                    zone=zone, owner=owner, move_contents_to=move_to or None),
            saved)
        return self.feedback

    def release(self, lpn: str, note: str) -> Feedback:
        self.feedback, _event = attempt(self.session,
                                        lambda: self.session.store.release(self.session.actor, lpn=lpn, note=note),
                                        self.session._("saved: {lpn} released").format(lpn=lpn))
        return self.feedback

    def resolve(self, dispute: Dispute, choice: str | None, note: str) -> Feedback:
        """Settle an exception; for a dispute, `choice` is the grade or disposition that stands."""
        changes = {}
        if dispute.field == "grade" and choice:
            changes["grade"] = Grade(choice)
        elif dispute.field == "disposition" and choice:
            changes["disposition"] = Disposition(choice)
        self.feedback, _event = attempt(
            self.session,
            lambda: self.session.store.resolve_exception(self.session.actor,
                                                         exception_id=dispute.exception.exception_id,
                                                         note=note, **changes),
            self.session._("saved: {exception} resolved").format(exception=dispute.title))
        return self.feedback

    # --- counting a bin: scan the bin, then every unit's item barcode -------------------

    def count_scan(self, typed: str) -> Feedback:
        _ = self.session._
        try:
            scan = read_scan(typed)
            if scan.kind is ScanKind.BIN and self.counted and scan.value != self.counting:
                # A tally is never thrown away by a stray scan: finish (or leave) this count first.
                counted = sum(self.counted.values())
                self.feedback = Feedback(False, self.session.ngettext(
                    "finish the count of {bin} first ({count} item counted)",
                    "finish the count of {bin} first ({count} items counted)", counted).format(
                        bin=self.counting, count=counted))
            elif scan.kind is ScanKind.BIN:
                self.session.store.bin(scan.value)
                self.counting, self.counted = scan.value, Counter()
                self.feedback = Feedback(True, _("counting {bin}: scan each item").format(bin=scan.value))
            elif scan.gtin and self.counting:
                item = self.session.store.item_by_gtin(scan.gtin)
                self.counted[item.sku] += 1
                self.feedback = Feedback(True, f"{item.name}: {self.counted[item.sku]}")
            elif self.counting:
                self.feedback = Feedback(False, _("{code} is not an item's product barcode: scan the items in {bin}")
                                         .format(code=scan.value, bin=self.counting))
            else:
                self.feedback = Feedback(False, _("scan the bin's label first, then each item"))
        except (ScanError, ReturnflowError) as refused:
            self.feedback = self.session.refused(refused)
        return self.feedback

    def expected(self) -> dict[str, int]:
        return bin_contents(self.session.store, self.counting) if self.counting else {}

    def finish_count(self) -> Feedback:
        if self.counting is None:
            return Feedback(False, self.session._("scan the bin's label first"))
        code, counts = self.counting, dict(self.counted)
        self.feedback, event = attempt(
            self.session, lambda: self.session.store.count_bin(self.session.actor, bin_code=code, counts=counts),
            self.session._("saved: count of {bin}").format(bin=code))
        if event is not None:
            self.counting, self.counted = None, Counter()
        return self.feedback
