"""Inspect, grade and decide, put away: the steps a received unit goes through, one screen each.

Each screen starts with a scanned LPN; the unit's state decides what the screen offers next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from domain import (
    Disposition,
    Grade,
    ReturnflowError,
    ReturnUnit,
    UnitState,
    suggest,
)
from domain.evolve import required_bin_type
from scanner import Scan, ScanError, ScanKind

from .common import Feedback, Session, attempt, lower_first, read_scan


def scan_unit(session: Session, typed: str) -> tuple[Feedback, ReturnUnit | None]:
    """The unit behind a scanned LPN label, or words saying what was scanned instead."""
    try:
        scan = read_scan(typed)
    except ScanError as refused:
        return Feedback(False, str(refused)), None
    return unit_of(session, scan)


def unit_of(session: Session, scan: Scan) -> tuple[Feedback, ReturnUnit | None]:
    if scan.kind is not ScanKind.LPN:
        return Feedback(False, f"{scan.text} is not an LPN label: scan the unit's LPN"), None
    try:
        unit = session.store.unit(scan.value)
    except ReturnflowError as refused:
        return Feedback(False, str(refused)), None
    name = session.store.item(unit.sku).name
    return Feedback(True, f"{unit.lpn}: {name}, {unit.state.value}"), unit


@dataclass
class InspectModel:
    session: Session
    unit: ReturnUnit | None = None
    questions: list[tuple[str, str]] = field(default_factory=list)  # (question_id, text)
    answers: dict[str, bool] = field(default_factory=dict)
    conditions: set[str] = field(default_factory=set)
    notes: str = ""
    photos: list[str] = field(default_factory=list)  # content hashes, the photos kept in the store
    feedback: Feedback | None = None

    def scan(self, typed: str) -> Feedback:
        self.feedback, unit = scan_unit(self.session, typed)
        if unit is not None:
            if unit.state is not UnitState.RECEIVED:
                self.feedback = Feedback(False, f"{unit.lpn} is {unit.state.value}: only a received unit is inspected")
                return self.feedback
            self.unit = unit
            store = self.session.store
            category = store.item(unit.sku).category
            checklist = store.db.execute("SELECT checklist FROM categories WHERE code = ?", (category,)).fetchone()[0]
            self.questions = [(q["question_id"], q["text"]) for q in json.loads(checklist)]
            self.answers = {qid: True for qid, _ in self.questions}  # every box starts "yes": tap the exceptions
            self.conditions, self.notes, self.photos = set(), "", []
        return self.feedback

    def condition_codes(self) -> list[tuple[str, str]]:
        return self.session.store.db.execute("SELECT code, label FROM condition_codes ORDER BY label").fetchall()

    def add_photo(self, content: bytes) -> Feedback:
        feedback, sha = attempt(lambda: self.session.store.add_photo(content), lambda _: "photo kept")
        if sha:
            self.photos.append(sha)
        self.feedback = feedback
        return feedback

    def save(self) -> Feedback:
        if self.unit is None:
            return Feedback(False, "scan the unit's LPN first")
        unit = self.unit
        self.feedback, event = attempt(
            lambda: self.session.store.inspect(self.session.actor, lpn=unit.lpn, answers=self.answers,
                                               condition_codes=sorted(self.conditions), notes=self.notes,
                                               photo_hashes=self.photos),
            lambda _: f"saved: {unit.lpn} inspected, next grade it")
        if event is not None:
            self.unit = None
        return self.feedback


@dataclass(frozen=True)
class Suggestion:
    disposition: Disposition
    rule_id: str
    override_needs_approval: bool


@dataclass
class GradeModel:
    session: Session
    unit: ReturnUnit | None = None
    feedback: Feedback | None = None

    def scan(self, typed: str) -> Feedback:
        self.feedback, unit = scan_unit(self.session, typed)
        if unit is not None:
            if unit.state not in (UnitState.INSPECTED, UnitState.GRADED):
                self.feedback = Feedback(False, f"{unit.lpn} is {unit.state.value}: grade an inspected unit")
                return self.feedback
            self.unit = unit
        return self.feedback

    def grade(self, grade: Grade) -> Feedback:
        if self.unit is None:
            return Feedback(False, "scan the unit's LPN first")
        lpn = self.unit.lpn
        self.feedback, _ = attempt(lambda: self.session.store.grade(self.session.actor, lpn=lpn, grade=grade),
                                   lambda _: f"saved: grade {grade.value}")
        self.unit = self.session.store.unit(lpn)
        return self.feedback

    def suggestion(self) -> Suggestion | None:
        """The rule's disposition for the graded unit, or None before grading (or with no rule)."""
        unit, store = self.unit, self.session.store
        if unit is None or unit.grade is None:
            return None
        try:
            rule = suggest(store.rules(), category=store.item(unit.sku).category, grade=unit.grade,
                           reason_code=unit.reason_code, condition_codes=unit.condition_codes)
        except ReturnflowError:
            return None
        return Suggestion(rule.disposition, rule.rule_id, rule.override_needs_approval)

    def decide(self, disposition: Disposition, *, reason: str | None = None, approver_id: str | None = None,
               approver_pin: str | None = None) -> Feedback:
        """Accept the suggestion, or override it with a reason (and a supervisor's PIN where the rule says)."""
        if self.unit is None:
            return Feedback(False, "scan the unit's LPN first")
        lpn = self.unit.lpn
        suggestion = self.suggestion()
        if suggestion is None or not suggestion.override_needs_approval:
            approver_id = approver_pin = None  # no approval asked for: the hidden supervisor fields play no part
        self.feedback, event = attempt(
            lambda: self.session.store.decide_disposition(
                self.session.actor, lpn=lpn, disposition=disposition, override_reason=reason or None,
                approver_id=approver_id or None, approver_pin=approver_pin or None),
            lambda _: f"saved: {disposition.value.replace('_', ' ')}, next put it away")
        if event is not None:
            self.unit = None
        return self.feedback


@dataclass
class PutAwayModel:
    session: Session
    unit: ReturnUnit | None = None
    feedback: Feedback | None = None

    @property
    def prompt(self) -> str:
        if self.unit is None:
            return "Scan the unit's LPN"
        return f"Scan a {required_bin_type(self.unit).value.replace('_', ' ')} bin"

    def submit(self, typed: str) -> Feedback:
        """An LPN picks the unit; a bin label then stores it there."""
        try:
            scan = read_scan(typed)
        except ScanError as refused:
            self.feedback = Feedback(False, str(refused))
            return self.feedback
        if scan.kind is ScanKind.LPN:
            self.feedback, unit = unit_of(self.session, scan)
            if unit is not None:
                if unit.state not in (UnitState.DISPOSITIONED, UnitState.QUARANTINED):
                    self.feedback = Feedback(False, f"{unit.lpn} is {unit.state.value}: it is not ready to put away")
                else:
                    self.unit = unit
                    self.feedback = Feedback(True, f"{unit.lpn}: {lower_first(self.prompt)}")
        elif scan.kind is ScanKind.BIN:
            self.feedback = self._store(scan.value)
        else:
            self.feedback = Feedback(False, f"{scan.text} is neither an LPN nor a bin label")
        return self.feedback

    def quarantine(self, reason: str) -> Feedback:
        """Put the unit in hand on hold (damage, suspicion): it then goes to a quarantine bin."""
        if self.unit is None:
            return Feedback(False, "scan the unit's LPN first")
        if not reason.strip():
            return Feedback(False, "say why the unit is held")
        lpn = self.unit.lpn
        self.feedback, _ = attempt(lambda: self.session.store.quarantine(self.session.actor, lpn=lpn, reason=reason),
                                   lambda _: f"saved: {lpn} on hold, scan a quarantine bin")
        self.unit = self.session.store.unit(lpn)
        return self.feedback

    def _store(self, bin_code: str) -> Feedback:
        if self.unit is None:
            return Feedback(False, "scan the unit's LPN before the bin")
        lpn = self.unit.lpn
        feedback, event = attempt(lambda: self.session.store.store(self.session.actor, lpn=lpn, bin_code=bin_code),
                                  lambda _: f"saved: {lpn} stored in {bin_code}")
        if event is not None:
            self.unit = None
        return feedback
