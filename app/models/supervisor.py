"""The supervisor's screen: quarantine bins, releases, the exception queue and bin counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from domain import Disposition, Grade, ReturnflowError, UnitState
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


@dataclass(frozen=True)
class Dispute:
    """An exception as a supervisor weighs it: what stands and what was proposed, side by side."""

    exception: OpenException
    title: str
    standing: str | None
    proposed: str | None
    field: str | None  # "grade" or "disposition" when choosing settles it

    @property
    def context(self) -> list[str]:
        """Who and what stand behind the exception, as the supervisor reads it before deciding."""
        exception, detail, lines = self.exception, self.exception.detail, []
        if self.standing is not None and self.proposed is not None:
            lines.append(f"standing: {self.standing}")
        if detail.get("proposed_by"):
            when = str(detail.get("proposed_at", ""))[:16].replace("T", " ")
            lines.append(f"proposed: {self.proposed} by {detail['proposed_by']} on {detail.get('proposed_device')} "
                         f"at {when}")
        elif exception.device_id:
            lines.append(f"from device {exception.device_id}")
        for key, words in (("override_reason", "associate's reason"), ("reason", "reason")):
            if detail.get(key):
                lines.append(f"{words}: {detail[key]}")
        return lines

    @property
    def choices(self) -> list[tuple[str, str]]:
        """The supervisor's buttons: (their words, the grade or disposition that then stands). An
        override waiting for approval already holds the associate's choice: approving keeps it."""
        if self.field is None or self.standing is None or self.proposed is None:
            return []
        if self.exception.kind == "override_approval":
            return [(f"Approve {self.proposed}", self.proposed), (f"Refuse: {self.standing}", self.standing)]
        return [(f"Keep {self.standing}", self.standing), (f"Take {self.proposed}", self.proposed)]


def _dispute(exception: OpenException) -> Dispute:
    detail = exception.detail
    if exception.kind == "dispute":
        return Dispute(exception, f"{detail.get('field')} disputed on {exception.lpn}", detail.get("standing"),
                       detail.get("proposed"), detail.get("field"))
    if exception.kind == "override_approval":
        return Dispute(exception, f"{exception.lpn}: {detail.get('chosen')} instead of {detail.get('suggested')} "
                                  f"needs approval (rule {detail.get('rule_id')})", detail.get("suggested"),
                       detail.get("chosen"), "disposition")
    return Dispute(exception, _describe(exception), None, None, None)


def _describe(exception: OpenException) -> str:
    """What a supervisor must check, in words, from what the exception's detail carries."""
    detail, lpn = exception.detail, exception.lpn or ""
    match exception.kind:
        case "duplicate_serial":
            return f"serial {detail.get('serial')} received twice: {lpn}, first as {detail.get('first_lpn')}"
        case "wrong_item":
            return (f"{lpn} received on {detail.get('rma_id')} line {detail.get('line_no')} as "
                    f"{detail.get('received_sku')}; the line expects {detail.get('expected_sku')}")
        case "rma_not_receivable":
            twin = f"; serial {detail['serial']} first received as {detail['first_lpn']}" if "first_lpn" in detail else ""
            return f"{lpn} received on {detail.get('rma_id')}, which is {detail.get('state')}{twin}"
        case "bin_policy_violation" if "required" in detail:
            return f"{lpn} stored in {exception.bin_code}, which is not a {detail['required']} bin"
        case "bin_policy_violation":
            return f"{lpn} stored in {exception.bin_code}, re-purposed meanwhile ({detail.get('purpose')})"
        case "duplicate_lpn":
            return f"one LPN on two units: {lpn} ({detail.get('existing_sku')} and {detail.get('new_sku')})"
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
        return [_dispute(e) for e in open_exceptions(self.session.store)]

    def evidence(self, dispute: Dispute) -> UnitCard | None:
        """The unit behind an exception as this device knows it: its steps and inspection photos."""
        return unit_card(self.session.store, dispute.exception.lpn) if dispute.exception.lpn else None

    def photo(self, sha256: str) -> bytes | None:
        return photo(self.session.store, sha256)

    def reassign(self, bin_code: str, *, purpose: str, zone: str, owner: str, move_to: str | None = None) -> Feedback:
        self.feedback, _ = attempt(
            lambda: self.session.store.reassign_bin(self.session.actor, bin_code=bin_code, purpose=purpose,
                                                    zone=zone, owner=owner, move_contents_to=move_to or None),
            lambda _: f"saved: {bin_code} is now {purpose}" + (f", contents moved to {move_to}" if move_to else ""))
        return self.feedback

    def release(self, lpn: str, note: str) -> Feedback:
        self.feedback, _ = attempt(lambda: self.session.store.release(self.session.actor, lpn=lpn, note=note),
                                   lambda _: f"saved: {lpn} released")
        return self.feedback

    def resolve(self, dispute: Dispute, choice: str | None, note: str) -> Feedback:
        """Settle an exception; for a dispute, `choice` is the grade or disposition that stands."""
        changes = {}
        if dispute.field == "grade" and choice:
            changes["grade"] = Grade(choice)
        elif dispute.field == "disposition" and choice:
            changes["disposition"] = Disposition(choice)
        self.feedback, _ = attempt(
            lambda: self.session.store.resolve_exception(self.session.actor,
                                                         exception_id=dispute.exception.exception_id,
                                                         note=note, **changes),
            lambda _: f"saved: {dispute.title} resolved")
        return self.feedback

    # --- counting a bin: scan the bin, then every unit's item barcode -------------------

    def count_scan(self, typed: str) -> Feedback:
        try:
            scan = read_scan(typed)
            if scan.kind is ScanKind.BIN and self.counted and scan.value != self.counting:
                # A tally is never thrown away by a stray scan: finish (or leave) this count first.
                self.feedback = Feedback(False, f"finish the count of {self.counting} first "
                                                f"({sum(self.counted.values())} item(s) counted)")
            elif scan.kind is ScanKind.BIN:
                self.session.store.bin(scan.value)
                self.counting, self.counted = scan.value, Counter()
                self.feedback = Feedback(True, f"counting {scan.value}: scan each item")
            elif scan.gtin and self.counting:
                item = self.session.store.item_by_gtin(scan.gtin)
                self.counted[item.sku] += 1
                self.feedback = Feedback(True, f"{item.name}: {self.counted[item.sku]}")
            elif self.counting:
                self.feedback = Feedback(False, f"{scan.value} is not an item's product barcode: scan the items "
                                                f"in {self.counting}")
            else:
                self.feedback = Feedback(False, "scan the bin's label first, then each item")
        except (ScanError, ReturnflowError) as refused:
            self.feedback = Feedback(False, str(refused))
        return self.feedback

    def expected(self) -> dict[str, int]:
        return bin_contents(self.session.store, self.counting) if self.counting else {}

    def finish_count(self) -> Feedback:
        if self.counting is None:
            return Feedback(False, "scan the bin's label first")
        code, counts = self.counting, dict(self.counted)
        self.feedback, event = attempt(
            lambda: self.session.store.count_bin(self.session.actor, bin_code=code, counts=counts),
            lambda _: f"saved: count of {code}")
        if event is not None:
            self.counting, self.counted = None, Counter()
        return self.feedback
