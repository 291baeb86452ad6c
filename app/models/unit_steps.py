"""The unit in hand, step by step: inspect, grade, decide, put away, and undo of the last step.

A receipt, a scanned LPN or a tap on a queue puts one unit in hand; the unit's state decides which
step the screen offers next, so a normal unit goes from receipt to stored without being scanned
again. Every step is a command of the device store; a correction is a new event, never an edit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from domain import Disposition, Grade, ReturnflowError, ReturnUnit, UnitState, suggest
from domain.evidence import photo_required
from domain.evolve import Correction, correction_for, required_bin_type
from local_db.screens import suggest_bin
from scanner import Scan, ScanError, ScanKind

from ..keys import Typed
from .common import Feedback, Session, attempt, lower_first, read_scan


class Step(StrEnum):
    INSPECT = "inspect"
    GRADE = "grade"
    DECIDE = "decide"
    PUT_AWAY = "put_away"
    WAITING = "waiting"  # disputed: a supervisor decides first
    DONE = "done"


_STEP_OF_STATE = {
    UnitState.RECEIVED: Step.INSPECT,
    UnitState.INSPECTED: Step.GRADE,
    UnitState.GRADED: Step.DECIDE,
    UnitState.DISPOSITIONED: Step.PUT_AWAY,
    UnitState.QUARANTINED: Step.PUT_AWAY,
    UnitState.DISPUTED: Step.WAITING,
}


def unit_of(session: Session, scan: Scan) -> tuple[Feedback, ReturnUnit | None]:
    """The unit behind a scanned LPN label, or words saying what was scanned instead."""
    if scan.kind is not ScanKind.LPN:
        return Feedback(False, f"{scan.text} is not an LPN label: scan the unit's LPN"), None
    try:
        unit = session.store.unit(scan.value)
    except ReturnflowError as refused:
        return Feedback(False, str(refused)), None
    return Feedback(True, f"{unit.lpn}: {session.store.item(unit.sku).name}, {unit.state.value}"), unit


@dataclass(frozen=True)
class Suggestion:
    disposition: Disposition
    rule_id: str
    override_needs_approval: bool


@dataclass
class UnitFlow:
    session: Session
    unit: ReturnUnit | None = None
    item_name: str = ""
    questions: list[tuple[str, str]] = field(default_factory=list)  # (question_id, text)
    answers: dict[str, bool | None] = field(default_factory=dict)  # None: not answered yet
    conditions: set[str] = field(default_factory=set)
    photos: list[str] = field(default_factory=list)  # content hashes, the photos kept in the store
    overriding: Disposition | None = None  # the override tapped, which a supervisor's PIN approves
    moving: bool = False  # a stored unit waits for the bin it is moved to
    regrading: bool = False  # a graded unit waits for its new grade
    # What is typed for this unit; new fields with every unit, so nothing carries over to the next.
    typed: dict[str, Typed] = field(default_factory=dict)
    feedback: Feedback | None = None

    @property
    def step(self) -> Step | None:
        if self.unit is None:
            return None
        if self.moving:
            return Step.PUT_AWAY
        if self.regrading:
            return Step.GRADE
        return _STEP_OF_STATE.get(self.unit.state, Step.DONE)

    @property
    def prompt(self) -> str:
        match self.step:
            case None:
                return "Scan a unit's LPN label"
            case Step.INSPECT:
                return "Answer each question, then save"
            case Step.GRADE:
                return "Grade it"
            case Step.DECIDE:
                return "Accept the suggestion or choose another"
            case Step.PUT_AWAY:
                return f"Scan a {required_bin_type(self.unit).value.replace('_', ' ')} bin"
            case Step.WAITING:
                return "Disputed: a supervisor decides before it goes on"
        return f"{self.unit.state.value} in {self.unit.bin_code}: nothing more to do"

    def field(self, name: str) -> Typed:
        return self.typed.setdefault(name, Typed())

    def open(self, lpn: str) -> Feedback:
        try:
            self.take(self.session.store.unit(lpn))
        except ReturnflowError as refused:
            self.feedback = Feedback(False, str(refused))
            return self.feedback
        self.feedback = Feedback(True, f"{lpn}: {self.item_name}, {self.unit.state.value}")
        return self.feedback

    def take(self, unit: ReturnUnit) -> None:
        """Put `unit` in hand; what was typed or answered for another unit is dropped."""
        if self.unit is None or unit.lpn != self.unit.lpn:
            self.typed, self.overriding, self.moving, self.regrading = {}, None, False, False
            self.conditions, self.photos = set(), []
            self.questions, self.answers = [], {}
        self.unit = unit
        store = self.session.store
        item = store.item(unit.sku)
        self.item_name = item.name
        if unit.state is UnitState.RECEIVED and not self.questions:
            checklist = store.db.execute("SELECT checklist FROM categories WHERE code = ?",
                                         (item.category,)).fetchone()[0]
            self.questions = [(q["question_id"], q["text"]) for q in json.loads(checklist)]
            self.answers = {qid: None for qid, _ in self.questions}

    def drop(self) -> None:
        self.unit, self.typed, self.moving, self.regrading = None, {}, False, False

    def scan(self, typed: str) -> Feedback:
        """An LPN puts that unit in hand; a bin label stores the unit in hand there."""
        try:
            scan = read_scan(typed)
        except ScanError as refused:
            self.feedback = Feedback(False, str(refused))
            return self.feedback
        if scan.kind is ScanKind.LPN:
            self.feedback, unit = unit_of(self.session, scan)
            if unit is not None:
                self.take(unit)
                self.feedback = Feedback(True, f"{unit.lpn}: {self.item_name}: {lower_first(self.prompt)}")
        elif scan.kind is ScanKind.BIN:
            self.feedback = self.store_in(scan.value)
        else:
            self.feedback = Feedback(False, f"{scan.text} is neither an LPN nor a bin label")
        return self.feedback

    def _reload(self) -> None:
        self.take(self.session.store.unit(self.unit.lpn))

    # --- inspect ----------------------------------------------------------------------

    def condition_codes(self) -> list[tuple[str, str]]:
        return self.session.store.db.execute("SELECT code, label FROM condition_codes ORDER BY label").fetchall()

    def answer(self, question_id: str, yes: bool) -> None:
        self.answers[question_id] = yes

    def toggle_condition(self, code: str) -> None:
        self.conditions ^= {code}

    def photo_needed(self, grade: Grade | None = None) -> str | None:
        """Why a photo must be added before this step is saved, or None."""
        if self.photos or self.unit is None:
            return None
        return photo_required(condition_codes=self.conditions or self.unit.condition_codes, grade=grade)

    def add_photo(self, content: bytes) -> Feedback:
        self.feedback, sha = attempt(lambda: self.session.store.add_photo(content),
                                     lambda _: f"photo {len(self.photos) + 1} kept")
        if sha:
            self.photos.append(sha)
        return self.feedback

    def save_inspection(self, *, all_as_expected: bool = False) -> Feedback:
        """Save the answers; `all_as_expected` answers every open question yes first."""
        if self.step is not Step.INSPECT:
            return self._not_now("inspected")
        if all_as_expected:
            self.answers = {qid: True if yes is None else yes for qid, yes in self.answers.items()}
        unanswered = [text for qid, text in self.questions if self.answers[qid] is None]
        if unanswered:
            self.feedback = Feedback(False, f"answer every question first: {unanswered[0]}")
            return self.feedback
        if needed := self.photo_needed():
            self.feedback = Feedback(False, f"{needed}: take or add one, then save")
            return self.feedback
        lpn = self.unit.lpn
        self.feedback, event = attempt(
            lambda: self.session.store.inspect(self.session.actor, lpn=lpn, answers=self.answers,
                                               condition_codes=sorted(self.conditions),
                                               notes=self.field("notes").text, photo_hashes=self.photos),
            lambda _: f"saved: {lpn} inspected, now grade it")
        if event is not None:
            self._reload()
        return self.feedback

    # --- grade and decide -------------------------------------------------------------

    def grade(self, grade: Grade) -> Feedback:
        if self.step is not Step.GRADE:
            return self._not_now("graded")
        if needed := self.photo_needed(grade):
            self.feedback = Feedback(False, f"{needed}: it had none at inspection; tell a supervisor or void "
                                            "the inspection")
            return self.feedback
        lpn, store, actor = self.unit.lpn, self.session.store, self.session.actor
        if self.regrading:
            reason = self.field("undo_reason").text.strip()
            self.feedback, event = attempt(lambda: store.regrade(actor, lpn=lpn, grade=grade, reason=reason),
                                           lambda _: f"saved: grade changed to {grade.value}")
        else:
            self.feedback, event = attempt(lambda: store.grade(actor, lpn=lpn, grade=grade),
                                           lambda _: f"saved: grade {grade.value}")
        if event is not None:
            self.regrading = False
            self._reload()
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

    def decide(self, disposition: Disposition) -> Feedback:
        """Accept the suggestion, or override it with the typed reason (and a supervisor's PIN where
        the rule asks for one)."""
        if self.step is not Step.DECIDE:
            return self._not_now("decided")
        lpn, suggestion = self.unit.lpn, self.suggestion()
        override = suggestion is None or disposition is not suggestion.disposition
        self.overriding = disposition if override else None
        approval = override and suggestion is not None and suggestion.override_needs_approval
        pin = self.field("approver_pin")
        self.feedback, event = attempt(
            lambda: self.session.store.decide_disposition(
                self.session.actor, lpn=lpn, disposition=disposition,
                override_reason=(self.field("reason").text.strip() or None) if override else None,
                approver_id=(self.field("approver").text.strip() or None) if approval else None,
                approver_pin=(pin.text.strip() or None) if approval else None),
            lambda _: f"saved: {disposition.value.replace('_', ' ')}, now put it away")
        pin.reset()  # a PIN is typed for one try
        if event is not None:
            self.overriding = None
            self._reload()
        return self.feedback

    def approve(self) -> Feedback:
        """The supervisor typed the PIN and pressed Enter: the tapped override is decided with it."""
        if self.overriding is None:
            self.feedback = Feedback(False, "tap the disposition to override with first")
            return self.feedback
        return self.decide(self.overriding)

    # --- put away ---------------------------------------------------------------------

    def suggested_bin(self) -> str | None:
        return suggest_bin(self.session.store, self.unit) if self.step is Step.PUT_AWAY else None

    def quarantine(self) -> Feedback:
        """Put the unit in hand on hold (damage, suspicion): it then goes to a quarantine bin."""
        if self.unit is None or self.unit.state in (UnitState.QUARANTINED, UnitState.STORED, UnitState.CLOSED):
            return self._not_now("held")
        reason = self.field("hold_reason").text.strip()
        if not reason:
            self.feedback = Feedback(False, "say why the unit is held")
            return self.feedback
        lpn = self.unit.lpn
        self.feedback, event = attempt(
            lambda: self.session.store.quarantine(self.session.actor, lpn=lpn, reason=reason),
            lambda _: f"saved: {lpn} on hold, scan a quarantine bin")
        if event is not None:
            self._reload()
        return self.feedback

    def store_in(self, bin_code: str) -> Feedback:
        if self.unit is None:
            return Feedback(False, "scan the unit's LPN before the bin")
        lpn = self.unit.lpn
        if self.moving:
            self.feedback, event = attempt(
                lambda: self.session.store.move(self.session.actor, lpn=lpn, bin_code=bin_code),
                lambda _: f"saved: {lpn} moved to {bin_code}")
            if event is not None:
                self.moving = False
        else:
            self.feedback, event = attempt(
                lambda: self.session.store.store(self.session.actor, lpn=lpn, bin_code=bin_code),
                lambda _: f"saved: {lpn} stored in {bin_code}")
        if event is not None:
            self._reload()
        return self.feedback

    # --- undo -------------------------------------------------------------------------

    def correction(self) -> Correction | None:
        if self.unit is None or self.moving or self.regrading:
            return None
        return correction_for(self.unit)

    def undo(self) -> Feedback:
        """Correct the unit's last step with a new event, for the reason typed (a move and a new
        grade wait for the bin scanned or the grade tapped next)."""
        correction, lpn = self.correction(), self.unit.lpn if self.unit else None
        reason = self.field("undo_reason").text.strip()
        if correction is None:
            self.feedback = Feedback(False, "nothing to undo on this unit")
        elif correction is Correction.MOVE:
            self.moving = True
            self.feedback = Feedback(True, f"{lpn}: scan the bin it goes to")
        elif not reason:
            self.feedback = Feedback(False, "say why it is undone (wrong RMA, wrong grade, ...)")
        elif correction is Correction.REGRADE:
            self.regrading = True
            self.feedback = Feedback(True, f"{lpn}: tap its new grade")
        else:
            store, actor = self.session.store, self.session.actor
            command = store.void_receipt if correction is Correction.VOID_RECEIPT else store.reopen_disposition
            self.feedback, event = attempt(lambda: command(actor, lpn=lpn, reason=reason),
                                           lambda _: f"saved: {lpn}: {correction.label.lower()}")
            if event is not None:
                self.field("undo_reason").reset()
                self._reload()
        return self.feedback

    def cancel_correction(self) -> None:
        self.moving = self.regrading = False

    def _not_now(self, done: str) -> Feedback:
        state = self.unit.state.value if self.unit else "not in hand"
        self.feedback = Feedback(False, f"{self.unit.lpn if self.unit else 'the unit'} is {state}: "
                                        f"it cannot be {done} now")
        return self.feedback
