"""Sign-in, the supervisor's screens (exceptions, quarantine, bins, counts) and the sync screen."""

from __future__ import annotations

import flet as ft

from sync.engine import SyncState

from ..handheld import Badge, Handheld
from ..keys import Typed
from ..models.common import Feedback
from .widgets import ERROR_RED, TextInput, big_button, button_row, heading, line, screen

SUPERVISOR_SCREENS = {"exceptions": "Exceptions", "quarantine": "Quarantine", "bins": "Quarantine bins",
                      "count": "Count a bin"}


def _go(handheld: Handheld, screen: str):
    async def went(_: object = None) -> None:
        handheld.workspace.touch()
        handheld.go(screen)
    return went


@screen
def SignIn(handheld: Handheld) -> ft.Control:
    work = handheld.workspace
    model = work.sign_in_model
    user, _ = ft.use_state(Typed)
    pin, _ = ft.use_state(Typed)
    pin_ref = ft.use_ref(None)

    async def submit(_: object = None) -> None:
        feedback, session = model.sign_in(user.text, pin.text)
        pin.reset()
        if session is not None:
            work.signed_in(session)
            handheld.go("home")
        handheld.flash(feedback)

    def pick(user_id: str):
        async def chosen(_: object) -> None:
            user.reset(user_id)
            if pin_ref.current is not None:
                await pin_ref.current.focus()
        return chosen

    people = [big_button(f"{name} ({role})", pick(user_id), key=f"user-{user_id}")
              for user_id, name, role in model.users()]
    if not people:
        people = [line("No users on this device yet: connect it to the central API and sync.")]
    return ft.Column([heading("Sign in"), *people,
                      TextInput(user, "User", handheld.router, key_id="user"),
                      TextInput(pin, "PIN", handheld.router, password=True, digits=True, on_submit=submit,
                                ref=pin_ref, key_id="pin"),
                      big_button("Sign in", submit, primary=True, key="sign-in")], spacing=14)


@screen
def Supervisor(handheld: Handheld) -> ft.Control:
    count = len(handheld.workspace.supervisor.exceptions())
    return ft.Column([heading("Supervisor"),
                      *[big_button(words + (f" ({count} open)" if screen == "exceptions" else ""),
                                   _go(handheld, screen), key=f"go-{screen}")
                        for screen, words in SUPERVISOR_SCREENS.items()]], spacing=14)


@screen
def Exceptions(handheld: Handheld) -> ft.Control:
    model = handheld.workspace.supervisor
    note, _ = ft.use_state(Typed)

    def resolve(dispute, choice):
        def settle() -> Feedback:
            if not note.text.strip():
                return Feedback(False, "write a note first: what you checked and decided")
            feedback = model.resolve(dispute, choice, note.text.strip())
            if feedback.ok:
                note.reset()
            return feedback
        return handheld.tap(settle)

    rows: list[ft.Control] = [heading("Exceptions"), TextInput(note, "Note (what you checked)", handheld.router,
                                                                key_id="note")]
    disputes = model.exceptions()
    if not disputes:
        rows.append(line("No open exceptions."))
    for dispute in disputes:
        exception = dispute.exception
        rows.append(line(dispute.title, size=18, bold=True, key=f"exception-{exception.exception_id}"))
        rows += [line(words, size=16) for words in dispute.context]
        rows += _evidence(model, dispute)
        if dispute.choices:
            rows.append(button_row([(words, resolve(dispute, choice), f"choose-{choice}")
                                    for words, choice in dispute.choices]))
        else:
            rows.append(big_button("Mark resolved", resolve(dispute, None), key=f"resolve-{exception.exception_id}"))
    return ft.Column(rows, spacing=14)


def _first_tap_asks(set_confirming):
    """A release or a re-purpose is asked for by a first tap: its button then becomes the confirmation."""
    def ask(key: str):
        async def asked(_: object) -> None:
            set_confirming(key)
        return asked
    return ask


def _evidence(model, dispute) -> list[ft.Control]:
    """What this device holds of the unit: each step with who, where and its sync status, and the
    inspection photos, for the supervisor to weigh before deciding."""
    card = model.evidence(dispute)
    if card is None:
        return []
    rows: list[ft.Control] = [line(f"{step.type.replace('_', ' ')} · {step.actor} on {step.device_id} · "
                                   f"{step.occurred_at:%d %b %H:%M} · {step.status}", size=14)
                              for step in card.steps]
    thumbs = [content for content in map(model.photo, card.photos) if content]
    if thumbs:
        rows.append(ft.Semantics(identifier=f"photos-{card.lpn}", content=ft.Row(
            [ft.Image(src=content, width=96, height=96, fit=ft.BoxFit.COVER) for content in thumbs], wrap=True)))
    return rows


@screen
def Quarantine(handheld: Handheld) -> ft.Control:
    model = handheld.workspace.supervisor
    note, _ = ft.use_state(Typed)
    confirming, set_confirming = ft.use_state(None)

    ask = _first_tap_asks(set_confirming)

    def release(lpn: str) -> Feedback:
        set_confirming(None)
        if not note.text.strip():
            return Feedback(False, "write a note first: why it may go on")
        feedback = model.release(lpn, note.text.strip())
        if feedback.ok:
            note.reset()
        return feedback

    rows: list[ft.Control] = [heading("Quarantine"), TextInput(note, "Note (why it may go on)", handheld.router,
                                                               key_id="note")]
    units = model.quarantined()
    if not units:
        rows.append(line("Nothing in quarantine."))
    for unit in units:
        rows.append(line(f"{unit.lpn} · {unit.name} · {unit.bin_code}", size=18))
        if confirming == unit.lpn:
            rows.append(big_button(f"Confirm: release {unit.lpn}", handheld.tap(lambda lpn=unit.lpn: release(lpn)),
                                   primary=True, key=f"confirm-release-{unit.lpn}"))
        else:
            rows.append(big_button(f"Release {unit.lpn}", ask(unit.lpn), key=f"release-{unit.lpn}"))
    return ft.Column(rows, spacing=14)


@screen
def Bins(handheld: Handheld) -> ft.Control:
    model = handheld.workspace.supervisor
    purpose, _ = ft.use_state(Typed)
    zone, _ = ft.use_state(lambda: Typed("Q"))
    confirming, set_confirming = ft.use_state(None)

    ask = _first_tap_asks(set_confirming)

    def reassign(code: str) -> Feedback:
        set_confirming(None)
        return model.reassign(code, purpose=purpose.text.strip(), zone=zone.text.strip().upper(),
                              owner=handheld.workspace.session.actor.user_id)

    rows: list[ft.Control] = [heading("Quarantine bins"),
                              TextInput(purpose, "New purpose", handheld.router, key_id="purpose"),
                              TextInput(zone, "Zone (one letter)", handheld.router, key_id="zone")]
    for b in model.bins():
        words = f"{b.code} · {b.purpose or 'no purpose'} · {b.units} unit(s)"
        if confirming == b.code:
            rows.append(big_button(f"Confirm: {b.code} becomes {purpose.text.strip() or '?'}",
                                   handheld.tap(lambda code=b.code: reassign(code)), primary=True,
                                   key=f"confirm-reassign-{b.code}"))
        else:
            rows.append(big_button(f"{words}: re-purpose", ask(b.code), key=f"reassign-{b.code}"))
    return ft.Column(rows, spacing=14)


@screen
def Count(handheld: Handheld) -> ft.Control:
    model = handheld.workspace.supervisor
    rows: list[ft.Control] = [heading("Count a bin"),
                              line(f"Counting {model.counting}: scan each item" if model.counting
                                   else "Scan the bin's label, then each item in it", size=20, key="prompt")]
    if model.counting:
        expected = model.expected()
        for sku in sorted(expected.keys() | model.counted.keys()):
            rows.append(line(f"{sku}: counted {model.counted.get(sku, 0)}, expected {expected.get(sku, 0)}"))
        rows.append(big_button("Finish count", handheld.tap(model.finish_count), primary=True, key="finish-count"))
    return ft.Column(rows, spacing=14)


@screen
def Sync(handheld: Handheld, badge: Badge) -> ft.Control:
    model = handheld.workspace.sync
    status = badge.status
    rows: list[ft.Control] = [
        heading("Sync"),
        line(f"Status: {status.state.value}", size=22, key="sync-state"),
        line(f"Pending: {status.pending}", key="sync-pending"),
        line(f"Conflicts: {status.conflicts} · Rejected: {status.rejected}", key="sync-refused"),
        line("Last sync: " + (status.last_success_at.strftime("%H:%M:%S") if status.last_success_at else "never")),
    ]
    if status.progress is not None and status.state is SyncState.SYNCING:
        total = f" of {status.progress.total}" if status.progress.total else ""
        rows.append(line(f"{status.progress.phase}: {status.progress.done}{total}", key="sync-progress"))
    if status.message:
        rows.append(line(status.message, colour=ERROR_RED))
    rows.append(big_button("Sync now", handheld.tap(model.sync_now), primary=True, key="sync-now"))
    for event, advice in model.refused():
        rows.append(ft.Container(ft.Column([
            line(f"{event.status}: {event.type.replace('_', ' ')} {event.lpn or ''}", size=18, key=f"refused-{event.device_seq}"),
            line(event.reason or "", size=16),
            line(advice, size=16)]), padding=8, border=ft.Border.all(2, ERROR_RED), border_radius=8))
    return ft.Column(rows, spacing=14)
