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
from domain.units import NEXT_STEP, UnitEvent, allows
from local_db.screens import suggest_bin
from scanner import Scan, ScanError, ScanKind

from ..keys import Typed
from .common import Feedback, Session, attempt, lower_first, read_scan
from domain.words import N_

from .words import BIN_TYPES, DISPOSITIONS, UNIT_STATES, value_words


class Step(StrEnum):
    INSPECT = "inspect"
    GRADE = "grade"
    DECIDE = "decide"
    PUT_AWAY = "put_away"
    WAITING = "waiting"  # disputed: a supervisor decides first
    DONE = "done"


# The screen for the step a unit waits for (domain.units.NEXT_STEP); none: it is done.
_SCREEN_OF_STEP = {UnitEvent.INSPECT: Step.INSPECT, UnitEvent.GRADE: Step.GRADE, UnitEvent.DECIDE: Step.DECIDE,
                   UnitEvent.STORE: Step.PUT_AWAY, UnitEvent.RESOLVE: Step.WAITING}


def unit_of(session: Session, scan: Scan) -> tuple[Feedback, ReturnUnit | None]:
    """The unit behind a scanned LPN label, or words saying what was scanned instead."""
    _ = session._
    if scan.kind is not ScanKind.LPN:
        return Feedback(False, _("{code} is not an LPN label: scan the unit's LPN").format(code=scan.text)), None
    try:
        unit = session.store.unit(scan.value)
    except ReturnflowError as refused:
        return session.refused(refused), None
    return Feedback(True, _("{lpn}: {name}, {state}").format(
        lpn=unit.lpn, name=session.store.item(unit.sku).name, state=value_words(UNIT_STATES, unit.state, _))), unit


# What a correction's confirmation says once it is saved.
CORRECTED = {Correction.VOID_RECEIPT: N_("saved: {lpn}: receipt voided"),
             Correction.REOPEN_DISPOSITION: N_("saved: {lpn}: disposition reopened, decide it again")}


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
    undoing: bool = False  # Undo was tapped: the reason and the confirmation are asked for
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
        waits_for = NEXT_STEP.get(self.unit.state)
        return _SCREEN_OF_STEP[waits_for] if waits_for is not None else Step.DONE

    @property
    def prompt(self) -> str:
        _ = self.session._
        match self.step:
            case None:
                return _("Scan a unit's LPN label")
            case Step.INSPECT:
                return _("Answer each question, then save")
            case Step.GRADE:
                return _("Grade it")
            case Step.DECIDE:
                return _("Accept the suggestion or choose another")
            case Step.PUT_AWAY:
                return _("Scan a {type} bin").format(type=value_words(BIN_TYPES, required_bin_type(self.unit), _))
            case Step.WAITING:
                return _("Disputed: a supervisor decides before it goes on")
        return _("{state} in {bin}: nothing more to do").format(
            state=value_words(UNIT_STATES, self.unit.state, _), bin=self.unit.bin_code)

    def field(self, name: str) -> Typed:
        return self.typed.setdefault(name, Typed())

    def open(self, lpn: str) -> Feedback:
        try:
            self.take(self.session.store.unit(lpn))
        except ReturnflowError as refused:
            self.feedback = self.session.refused(refused)
            return self.feedback
        _ = self.session._
        self.feedback = Feedback(True, _("{lpn}: {name}, {state}").format(
            lpn=lpn, name=self.item_name, state=value_words(UNIT_STATES, self.unit.state, _)))
        return self.feedback

    def take(self, unit: ReturnUnit) -> None:
        """Put `unit` in hand; what was typed or answered for another unit is dropped."""
        if self.unit is None or unit.lpn != self.unit.lpn:
            self.typed, self.overriding = {}, None
            self.undoing = self.moving = self.regrading = False
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
        self.unit, self.typed = None, {}
        self.undoing = self.moving = self.regrading = False

    def scan(self, typed: str) -> Feedback:
        """An LPN puts that unit in hand; a bin label stores the unit in hand there."""
        _ = self.session._
        try:
            scan = read_scan(typed)
        except ScanError as refused:
            self.feedback = self.session.refused(refused)
            return self.feedback
        if scan.kind is ScanKind.LPN:
            self.feedback, unit = unit_of(self.session, scan)
            if unit is not None:
                self.take(unit)
                self.feedback = Feedback(True, _("{lpn}: {name}: {prompt}").format(
                    lpn=unit.lpn, name=self.item_name, prompt=lower_first(self.prompt)))
        elif scan.kind is ScanKind.BIN:
            self.feedback = self.store_in(scan.value)
        else:
            self.feedback = Feedback(False, _("{code} is neither an LPN nor a bin label").format(code=scan.text))
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
        """Why a photo must be added before this step is saved, in words, or None."""
        if self.photos or self.unit is None:
            return None
        needs = photo_required(condition_codes=self.conditions or self.unit.condition_codes, grade=grade)
        if needs is None:
            return None
        if isinstance(needs, Grade):
            return self.session._("grade {grade} needs a photo").format(grade=needs.value)
        return self.session._("{condition} needs a photo").format(condition=needs.replace("_", " "))

    def add_photo(self, content: bytes) -> Feedback:
        self.feedback, sha = attempt(self.session, lambda: self.session.store.add_photo(content),
                                     self.session._("photo {number} kept").format(number=len(self.photos) + 1))
        if sha:
            self.photos.append(sha)
        return self.feedback

    def save_inspection(self, *, all_as_expected: bool = False) -> Feedback:
        """Save the answers; `all_as_expected` answers every open question yes first."""
        if self.step is not Step.INSPECT:
            return self._not_now(Step.INSPECT)
        _ = self.session._
        if all_as_expected:
            self.answers = {qid: True if yes is None else yes for qid, yes in self.answers.items()}
        unanswered = [text for qid, text in self.questions if self.answers[qid] is None]
        if unanswered:
            self.feedback = Feedback(False, _("answer every question first: {question}").format(question=unanswered[0]))
            return self.feedback
        if needed := self.photo_needed():
            self.feedback = Feedback(False, _("{why}: take or add one, then save").format(why=needed))
            return self.feedback
        lpn = self.unit.lpn
        self.feedback, event = attempt(
            self.session,
            lambda: self.session.store.inspect(self.session.actor, lpn=lpn, answers=self.answers,
                                               condition_codes=sorted(self.conditions),
                                               notes=self.field("notes").text, photo_hashes=self.photos),
            _("saved: {lpn} inspected, now grade it").format(lpn=lpn))
        if event is not None:
            self._reload()
        return self.feedback

    # --- grade and decide -------------------------------------------------------------

    def grade(self, grade: Grade) -> Feedback:
        if self.step is not Step.GRADE:
            return self._not_now(Step.GRADE)
        _ = self.session._
        if needed := self.photo_needed(grade):
            self.feedback = Feedback(False, _("{why}: it had none at inspection; tell a supervisor or void the "
                                              "inspection").format(why=needed))
            return self.feedback
        lpn, store, actor = self.unit.lpn, self.session.store, self.session.actor
        if self.regrading:
            reason = self.field("undo_reason").text.strip()
            self.feedback, event = attempt(self.session, lambda: store.regrade(actor, lpn=lpn, grade=grade, reason=reason),
                                           _("saved: grade changed to {grade}").format(grade=grade.value))
        else:
            self.feedback, event = attempt(self.session, lambda: store.grade(actor, lpn=lpn, grade=grade),
                                           _("saved: grade {grade}").format(grade=grade.value))
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
            return self._not_now(Step.DECIDE)
        lpn, suggestion = self.unit.lpn, self.suggestion()
        override = suggestion is None or disposition is not suggestion.disposition
        self.overriding = disposition if override else None
        approval = override and suggestion is not None and suggestion.override_needs_approval
        pin = self.field("approver_pin")
        self.feedback, event = attempt(
            self.session,
            lambda: self.session.store.decide_disposition(
                self.session.actor, lpn=lpn, disposition=disposition,
                override_reason=(self.field("reason").text.strip() or None) if override else None,
                approver_id=(self.field("approver").text.strip() or None) if approval else None,
                approver_pin=(pin.text.strip() or None) if approval else None),
            self.session._("saved: {disposition}, now put it away").format(
                disposition=value_words(DISPOSITIONS, disposition, self.session._)))
        pin.reset()  # a PIN is typed for one try
        if event is not None:
            self.overriding = None
            self._reload()
        return self.feedback

    def approve(self) -> Feedback:
        """The supervisor typed the PIN and pressed Enter: the tapped override is decided with it."""
        if self.overriding is None:
            self.feedback = Feedback(False, self.session._("tap the disposition to override with first"))
            return self.feedback
        return self.decide(self.overriding)

    # --- put away ---------------------------------------------------------------------

    def suggested_bin(self) -> str | None:
        return suggest_bin(self.session.store, self.unit) if self.step is Step.PUT_AWAY else None

    def quarantine(self) -> Feedback:
        """Put the unit in hand on hold (damage, suspicion): it then goes to a quarantine bin."""
        if self.unit is None or not allows(self.unit.state, UnitEvent.QUARANTINE):
            return self._not_now(None)
        _ = self.session._
        reason = self.field("hold_reason").text.strip()
        if not reason:
            self.feedback = Feedback(False, _("say why the unit is held"))
            return self.feedback
        lpn = self.unit.lpn
        self.feedback, event = attempt(
            self.session, lambda: self.session.store.quarantine(self.session.actor, lpn=lpn, reason=reason),
            _("saved: {lpn} on hold, scan a quarantine bin").format(lpn=lpn))
        if event is not None:
            self._reload()
        return self.feedback

    def store_in(self, bin_code: str) -> Feedback:
        _ = self.session._
        if self.unit is None:
            return Feedback(False, _("scan the unit's LPN before the bin"))
        lpn = self.unit.lpn
        if self.moving:
            self.feedback, event = attempt(
                self.session, lambda: self.session.store.move(self.session.actor, lpn=lpn, bin_code=bin_code),
                _("saved: {lpn} moved to {bin}").format(lpn=lpn, bin=bin_code))
            if event is not None:
                self.moving = False
        else:
            self.feedback, event = attempt(
                self.session, lambda: self.session.store.store(self.session.actor, lpn=lpn, bin_code=bin_code),
                _("saved: {lpn} stored in {bin}").format(lpn=lpn, bin=bin_code))
        if event is not None:
            self._reload()
        return self.feedback

    # --- undo -------------------------------------------------------------------------

    def correction(self) -> Correction | None:
        if self.unit is None or self.moving or self.regrading:
            return None
        return correction_for(self.unit)

    def ask_undo(self) -> Feedback:
        """The first tap on Undo: a move waits for the bin scanned next; any other correction asks
        for its reason and a confirmation first."""
        correction, lpn, _ = self.correction(), self.unit.lpn if self.unit else None, self.session._
        if correction is None:
            self.feedback = Feedback(False, _("nothing to undo on this unit"))
        elif correction is Correction.MOVE:
            self.moving = True
            self.feedback = Feedback(True, _("{lpn}: scan the bin it goes to").format(lpn=lpn))
        else:
            self.undoing = True
            self.feedback = Feedback(True, _("say why, then confirm"))
        return self.feedback

    def undo(self) -> Feedback:
        """Correct the unit's last step with a new event, for the reason typed (a new grade waits
        for the grade tapped next)."""
        correction, lpn = self.correction(), self.unit.lpn if self.unit else None
        reason = self.field("undo_reason").text.strip()
        _ = self.session._
        if correction is None or correction is Correction.MOVE:
            return self.ask_undo()
        elif not reason:
            self.feedback = Feedback(False, _("say why it is undone (wrong RMA, wrong grade, ...)"))
        elif correction is Correction.REGRADE:
            self.regrading, self.undoing = True, False
            self.feedback = Feedback(True, _("{lpn}: tap its new grade").format(lpn=lpn))
        else:
            store, actor = self.session.store, self.session.actor
            command = store.void_receipt if correction is Correction.VOID_RECEIPT else store.reopen_disposition
            self.feedback, event = attempt(self.session, lambda: command(actor, lpn=lpn, reason=reason),
                                           _(CORRECTED[correction]).format(lpn=lpn))
            if event is not None:
                self.undoing = False
                self.field("undo_reason").reset()
                self._reload()
        return self.feedback

    def cancel_correction(self) -> None:
        self.undoing = self.moving = self.regrading = False

    def _not_now(self, step: Step | None) -> Feedback:
        """A step tapped that the unit in hand is not at (`step` None: a hold)."""
        _ = self.session._
        if self.unit is None:
            self.feedback = Feedback(False, _("scan a unit's LPN label first"))
            return self.feedback
        state = value_words(UNIT_STATES, self.unit.state, _)
        done = {Step.INSPECT: _("it cannot be inspected now"), Step.GRADE: _("it cannot be graded now"),
                Step.DECIDE: _("it cannot be decided now")}.get(step, _("it cannot be held now"))
        self.feedback = Feedback(False, _("{lpn} is {state}: {done}").format(lpn=self.unit.lpn, state=state, done=done))
        return self.feedback
