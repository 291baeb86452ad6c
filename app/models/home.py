"""Sign-in, the home screen's work queues and the sync screen."""

from __future__ import annotations

from dataclasses import dataclass

from domain import ReturnflowError, Role, UnitState
from domain.conflicts import ConflictRule
from domain.words import N_
from local_db import DeviceStore, RefusedEvent
from local_db.screens import QUEUES, work_queues
from sync.engine import SyncEngine, SyncState, SyncStatus

from ..i18n import DEFAULT_LANGUAGE, LANGUAGES, language_key, translation
from .common import Feedback, Session
from .words import refusal


@dataclass
class SignInModel:
    store: DeviceStore
    engine: SyncEngine | None = None

    def users(self) -> list[tuple[str, str, str]]:
        """(user_id, name, role) of the people who may sign in on this device."""
        return self.store.db.execute(
            "SELECT user_id, name, role FROM users WHERE active = 1 AND role <> 'admin' ORDER BY name").fetchall()

    def language_of(self, user_id: str) -> str | None:
        """The language a person chose when they last signed in on this device, if any."""
        language = self.store.meta(language_key(user_id.strip()))
        return language if language in LANGUAGES else None

    def sign_in(self, user_id: str, pin: str, language: str = DEFAULT_LANGUAGE, *,
                chosen: bool = False) -> tuple[Feedback, Session | None]:
        """`language`: the sign-in screen's. When the person `chosen` it there, it is theirs from now
        on; otherwise the language they chose before applies (the screen's if they never chose)."""
        user_id = user_id.strip()
        try:
            actor = self.store.sign_in(user_id, pin.strip())
        except ReturnflowError as refused:  # a wrong PIN, a lockout, a PIN that is not digits
            return Feedback(False, refusal(refused, language)), None
        if chosen:
            self.store.set_meta(language_key(actor.user_id), language)
        else:
            language = self.language_of(actor.user_id) or language
        session = Session(self.store, actor, self.engine, language)
        return Feedback(True, session._("signed in as {user}").format(user=actor.user_id)), session


@dataclass(frozen=True)
class Queue:
    state: UnitState
    label: str  # in the session's language
    count: int


def home_queues(session: Session) -> list[Queue]:
    counts = work_queues(session.store)
    return [Queue(state, session._(label), counts[state]) for state, label in QUEUES]


def is_supervisor(session: Session) -> bool:
    return session.actor.role in (Role.SUPERVISOR, Role.ADMIN)


# What an associate does about each refusal, by the rule the server named.
ADVICE = {
    ConflictRule.INVALID_TRANSITION:
        N_("The unit had moved on at the office: scan it to see where it is now. Nothing to redo."),
    ConflictRule.UNKNOWN_REFERENCE: N_("The server does not know what this step refers to: tell a supervisor."),
    ConflictRule.ACTOR_LACKS_ROLE: N_("This step needs another role: ask a supervisor to do it."),
    ConflictRule.WRONG_SITE: N_("The bin belongs to another site: put the unit in one of this site's bins."),
    ConflictRule.DIFFERENT_DECISIONS: N_("Another device decided differently: a supervisor settles it."),
    ConflictRule.OVERRIDE_NEEDS_APPROVAL: N_("The override needs a supervisor's approval: a supervisor settles it."),
    ConflictRule.BIN_REASSIGNED_OFFLINE:
        N_("The bin was re-purposed while you were offline: a supervisor moves the unit."),
    ConflictRule.BIN_TYPE_MISMATCH: N_("The unit is in the wrong type of bin: a supervisor moves it."),
    ConflictRule.RECEIPT_ON_CLOSED_RMA:
        N_("The RMA was closed meanwhile: the receipt is kept for a supervisor to review."),
    ConflictRule.RECEIPT_WRONG_ITEM:
        N_("The RMA line expects another item: the receipt is kept for a supervisor to review."),
    ConflictRule.DUPLICATE_SERIAL: N_("That serial was received before: a supervisor checks both units."),
    ConflictRule.LPN_REUSED: N_("That LPN is on another unit: relabel this one and tell a supervisor."),
}
OTHER_ADVICE = N_("Tell a supervisor: the reason is shown above.")


# The sync status this screen words itself; the engine's own messages keep its words.
NO_API = N_("no central API configured: work is kept on this device")


@dataclass
class SyncModel:
    store: DeviceStore
    engine: SyncEngine | None
    language: str = DEFAULT_LANGUAGE

    def status(self) -> SyncStatus:
        """The engine's status, with pending counted from this screen's own connection (the engine's
        counts are as of its last sync)."""
        counts = self.store.sync_counts()
        if self.engine is None:
            return SyncStatus(SyncState.OFFLINE, counts["pending"], counts["conflict"], counts["rejected"],
                              message=NO_API)
        status = self.engine.status
        return SyncStatus(status.state, counts["pending"], counts["conflict"], counts["rejected"],
                          status.last_success_at, status.progress, status.message)

    def refused(self) -> list[tuple[RefusedEvent, str]]:
        """Each event the server refused, with what to do about it in words."""
        _ = translation(self.language).gettext
        return [(event, _(ADVICE.get(event.rule or "", OTHER_ADVICE))) for event in self.store.refused_events()]

    def sync_now(self) -> Feedback:
        _ = translation(self.language).gettext
        if self.engine is None:
            return Feedback(False, _("no central API configured for this device"))
        self.engine.request_sync()
        if self.engine.last_outcome in (SyncState.OFFLINE, SyncState.ERROR):
            return Feedback(True, _("trying the central API again: work stays on this device until it answers"),
                            check=True)
        return Feedback(True, _("syncing now"))
