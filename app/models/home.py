"""Sign-in, the home screen's work queues and the sync screen."""

from __future__ import annotations

from dataclasses import dataclass

from domain import ReturnflowError, Role, UnitState
from local_db import DeviceStore, RefusedEvent
from local_db.screens import QUEUES, work_queues
from sync.engine import SyncEngine, SyncState, SyncStatus

from .common import Feedback, Session


@dataclass
class SignInModel:
    store: DeviceStore
    engine: SyncEngine | None = None

    def users(self) -> list[tuple[str, str, str]]:
        """(user_id, name, role) of the people who may sign in on this device."""
        return self.store.db.execute(
            "SELECT user_id, name, role FROM users WHERE active = 1 AND role <> 'admin' ORDER BY name").fetchall()

    def sign_in(self, user_id: str, pin: str) -> tuple[Feedback, Session | None]:
        try:
            actor = self.store.sign_in(user_id.strip(), pin.strip())
        except ReturnflowError as refused:  # a wrong PIN, a lockout, a PIN that is not digits
            return Feedback(False, str(refused)), None
        return Feedback(True, f"signed in as {actor.user_id}"), Session(self.store, actor, self.engine)


@dataclass(frozen=True)
class Queue:
    state: UnitState
    label: str
    count: int


def home_queues(session: Session) -> list[Queue]:
    counts = work_queues(session.store)
    return [Queue(state, label, counts[state]) for state, label in QUEUES]


def is_supervisor(session: Session) -> bool:
    return session.actor.role in (Role.SUPERVISOR, Role.ADMIN)


# What an associate does about each refusal, by the rule the server named.
ADVICE = {
    "invalid_transition": "The unit had moved on at the office: scan it to see where it is now. Nothing to redo.",
    "unknown_reference": "The server does not know what this step refers to: tell a supervisor.",
    "actor_lacks_role": "This step needs another role: ask a supervisor to do it.",
    "wrong_site": "The bin belongs to another site: put the unit in one of this site's bins.",
    "different_decisions_disputed": "Another device decided differently: a supervisor settles it.",
    "override_needs_approval": "The override needs a supervisor's approval: a supervisor settles it.",
    "bin_reassigned_offline": "The bin was re-purposed while you were offline: a supervisor moves the unit.",
    "bin_type_mismatch": "The unit is in the wrong type of bin: a supervisor moves it.",
    "receipt_on_closed_rma": "The RMA was closed meanwhile: the receipt is kept for a supervisor to review.",
    "receipt_wrong_item": "The RMA line expects another item: the receipt is kept for a supervisor to review.",
    "duplicate_serial": "That serial was received before: a supervisor checks both units.",
    "lpn_reused": "That LPN is on another unit: relabel this one and tell a supervisor.",
}


def advice(event: RefusedEvent) -> str:
    return ADVICE.get(event.rule or "", "Tell a supervisor: the reason is shown above.")


@dataclass
class SyncModel:
    store: DeviceStore
    engine: SyncEngine | None

    def status(self) -> SyncStatus:
        """The engine's status, with pending counted from this screen's own connection (the engine's
        counts are as of its last sync)."""
        counts = self.store.sync_counts()
        if self.engine is None:
            return SyncStatus(SyncState.OFFLINE, counts["pending"], counts["conflict"], counts["rejected"],
                              message="no central API configured: work is kept on this device")
        status = self.engine.status
        return SyncStatus(status.state, counts["pending"], counts["conflict"], counts["rejected"],
                          status.last_success_at, status.progress, status.message)

    def refused(self) -> list[tuple[RefusedEvent, str]]:
        return [(event, advice(event)) for event in self.store.refused_events()]

    def sync_now(self) -> Feedback:
        if self.engine is None:
            return Feedback(False, "no central API configured for this device")
        self.engine.request_sync()
        if self.engine.status.state in (SyncState.OFFLINE, SyncState.ERROR):
            return Feedback(True, "trying the central API again: work stays on this device until it answers",
                            check=True)
        return Feedback(True, "syncing now")
