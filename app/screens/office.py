"""Sign-in, the supervisor's screens (exceptions, quarantine, bins, counts) and the sync screen."""

from __future__ import annotations

import flet as ft

from domain.words import N_
from sync.engine import SyncState

from ..handheld import Badge, Handheld
from ..i18n import LANGUAGES
from ..keys import Typed
from ..models.common import Feedback
from ..models.words import EVENT_TYPES, ROLES, SYNC_OUTCOMES, value_words
from .widgets import ERROR_RED, TextInput, big_button, button_row, heading, line, moment, screen

SUPERVISOR_SCREENS = {"exceptions": N_("Exceptions"), "quarantine": N_("Quarantine"), "bins": N_("Quarantine bins"),
                      "count": N_("Count a bin")}
SYNC_STATES = {SyncState.ONLINE: N_("online"), SyncState.OFFLINE: N_("offline"), SyncState.SYNCING: N_("syncing"),
               SyncState.ERROR: N_("error")}
SYNC_PHASES = {"push": N_("sending"), "pull": N_("receiving")}


def _go(handheld: Handheld, screen: str):
    async def went(_: object = None) -> None:
        handheld.workspace.touch()
        handheld.go(screen)
    return went


@screen
def SignIn(handheld: Handheld) -> ft.Control:
    work, _ = handheld.workspace, handheld._
    model = work.sign_in_model
    user, _state = ft.use_state(Typed)
    pin, _state = ft.use_state(Typed)
    # A language tapped here becomes the person's; otherwise their own from last time applies.
    chosen, set_chosen = ft.use_state(False)
    pin_ref = ft.use_ref(None)

    async def submit(_event: object = None) -> None:
        feedback, session = model.sign_in(user.text, pin.text, work.language, chosen=chosen)
        pin.reset()
        if session is not None:
            work.signed_in(session)
            handheld.go("home")
        handheld.flash(feedback)

    def pick(user_id: str):
        async def picked(_event: object) -> None:
            user.reset(user_id)
            language = model.language_of(user_id) or work.language
            if not chosen and language != work.language:  # the screen speaks the person's language from their first tap
                work.language = language
                handheld.changed()
            if pin_ref.current is not None:
                await pin_ref.current.focus()
        return picked

    def speak(language: str):
        async def spoken(_event: object) -> None:
            work.language = language
            set_chosen(True)
            handheld.changed()
        return spoken

    people = [big_button(_("{name} ({role})").format(name=name, role=value_words(ROLES, role, _)), pick(user_id),
                         key=f"user-{user_id}")
              for user_id, name, role in model.users()]
    if not people:
        people = [line(_("No users on this device yet: connect it to the central API and sync."))]
    languages = button_row([(words, speak(language), f"language-{language}") for language, words in LANGUAGES.items()],
                           selected=LANGUAGES[work.language])
    return ft.Column([heading(_("Sign in")), languages, *people,
                      TextInput(user, _("User"), handheld.router, key_id="user"),
                      TextInput(pin, _("PIN"), handheld.router, password=True, digits=True, on_submit=submit,
                                ref=pin_ref, key_id="pin"),
                      big_button(_("Sign in"), submit, primary=True, key="sign-in")], spacing=14)


@screen
def Supervisor(handheld: Handheld) -> ft.Control:
    _ = handheld._
    count = len(handheld.workspace.supervisor.exceptions())
    buttons = []
    for screen_name, words in SUPERVISOR_SCREENS.items():
        words = _(words)
        if screen_name == "exceptions":
            words = _("{screen} ({count} open)").format(screen=words, count=count)
        buttons.append(big_button(words, _go(handheld, screen_name), key=f"go-{screen_name}"))
    return ft.Column([heading(_("Supervisor")), *buttons], spacing=14)


@screen
def Exceptions(handheld: Handheld) -> ft.Control:
    model, _ = handheld.workspace.supervisor, handheld._
    note, _state = ft.use_state(Typed)

    def resolve(dispute, choice):
        def settle() -> Feedback:
            if not note.text.strip():
                return Feedback(False, _("write a note first: what you checked and decided"))
            feedback = model.resolve(dispute, choice, note.text.strip())
            if feedback.ok:
                note.reset()
            return feedback
        return handheld.tap(settle)

    rows: list[ft.Control] = [heading(_("Exceptions")), TextInput(note, _("Note (what you checked)"), handheld.router,
                                                                   key_id="note")]
    disputes = model.exceptions()
    if not disputes:
        rows.append(line(_("No open exceptions.")))
    for dispute in disputes:
        exception = dispute.exception
        rows.append(line(dispute.title, size=18, bold=True, key=f"exception-{exception.exception_id}"))
        rows += [line(words, size=16) for words in dispute.context]
        rows += _evidence(handheld, model, dispute)
        if dispute.choices:
            rows.append(button_row([(words, resolve(dispute, choice), f"choose-{choice}")
                                    for words, choice in dispute.choices]))
        else:
            rows.append(big_button(_("Mark resolved"), resolve(dispute, None), key=f"resolve-{exception.exception_id}"))
    return ft.Column(rows, spacing=14)


def _first_tap_asks(set_confirming):
    """A release or a re-purpose is asked for by a first tap: its button then becomes the confirmation."""
    def ask(key: str):
        async def asked(_: object) -> None:
            set_confirming(key)
        return asked
    return ask


def _evidence(handheld: Handheld, model, dispute) -> list[ft.Control]:
    """What this device holds of the unit: each step with who, where and its sync status, and the
    inspection photos, for the supervisor to weigh before deciding."""
    card, _ = model.evidence(dispute), handheld._
    if card is None:
        return []
    rows: list[ft.Control] = [line(_("{step} · {user} on {device} · {time} · {outcome}").format(
        step=value_words(EVENT_TYPES, step.type, _), user=step.actor, device=step.device_id,
        time=moment(handheld, step.occurred_at), outcome=value_words(SYNC_OUTCOMES, step.status, _)), size=14)
        for step in card.steps]
    thumbs = [content for content in map(model.photo, card.photos) if content]
    if thumbs:
        rows.append(ft.Semantics(identifier=f"photos-{card.lpn}", content=ft.Row(
            [ft.Image(src=content, width=96, height=96, fit=ft.BoxFit.COVER) for content in thumbs], wrap=True)))
    return rows


@screen
def Quarantine(handheld: Handheld) -> ft.Control:
    model, _ = handheld.workspace.supervisor, handheld._
    note, _state = ft.use_state(Typed)
    confirming, set_confirming = ft.use_state(None)

    ask = _first_tap_asks(set_confirming)

    def release(lpn: str) -> Feedback:
        set_confirming(None)
        if not note.text.strip():
            return Feedback(False, _("write a note first: why it may go on"))
        feedback = model.release(lpn, note.text.strip())
        if feedback.ok:
            note.reset()
        return feedback

    rows: list[ft.Control] = [heading(_("Quarantine")), TextInput(note, _("Note (why it may go on)"), handheld.router,
                                                                  key_id="note")]
    units = model.quarantined()
    if not units:
        rows.append(line(_("Nothing in quarantine.")))
    for unit in units:
        rows.append(line(f"{unit.lpn} · {unit.name} · {unit.bin_code}", size=18))
        if confirming == unit.lpn:
            rows.append(big_button(_("Confirm: release {lpn}").format(lpn=unit.lpn),
                                   handheld.tap(lambda lpn=unit.lpn: release(lpn)), primary=True,
                                   key=f"confirm-release-{unit.lpn}"))
        else:
            rows.append(big_button(_("Release {lpn}").format(lpn=unit.lpn), ask(unit.lpn), key=f"release-{unit.lpn}"))
    return ft.Column(rows, spacing=14)


@screen
def Bins(handheld: Handheld) -> ft.Control:
    model, _ = handheld.workspace.supervisor, handheld._
    purpose, _state = ft.use_state(Typed)
    zone, _state = ft.use_state(lambda: Typed("Q"))
    confirming, set_confirming = ft.use_state(None)

    ask = _first_tap_asks(set_confirming)

    def reassign(code: str) -> Feedback:
        set_confirming(None)
        return model.reassign(code, purpose=purpose.text.strip(), zone=zone.text.strip().upper(),
                              owner=handheld.workspace.session.actor.user_id)

    rows: list[ft.Control] = [heading(_("Quarantine bins")),
                              TextInput(purpose, _("New purpose"), handheld.router, key_id="purpose"),
                              TextInput(zone, _("Zone (one letter)"), handheld.router, key_id="zone")]
    for b in model.bins():
        units = handheld.ngettext("{count} unit", "{count} units", b.units).format(count=b.units)
        if confirming == b.code:
            rows.append(big_button(_("Confirm: {bin} becomes {purpose}").format(bin=b.code,
                                                                                purpose=purpose.text.strip() or "?"),
                                   handheld.tap(lambda code=b.code: reassign(code)), primary=True,
                                   key=f"confirm-reassign-{b.code}"))
        else:
            rows.append(big_button(_("{bin} · {purpose} · {units}: re-purpose").format(
                bin=b.code, purpose=b.purpose or _("no purpose"), units=units), ask(b.code), key=f"reassign-{b.code}"))
    return ft.Column(rows, spacing=14)


@screen
def Count(handheld: Handheld) -> ft.Control:
    model, _ = handheld.workspace.supervisor, handheld._
    rows: list[ft.Control] = [heading(_("Count a bin")),
                              line(_("Counting {bin}: scan each item").format(bin=model.counting) if model.counting
                                   else _("Scan the bin's label, then each item in it"), size=20, key="prompt")]
    if model.counting:
        expected = model.expected()
        for sku in sorted(expected.keys() | model.counted.keys()):
            rows.append(line(_("{sku}: counted {counted}, expected {expected}").format(
                sku=sku, counted=model.counted.get(sku, 0), expected=expected.get(sku, 0))))
        rows.append(big_button(_("Finish count"), handheld.tap(model.finish_count), primary=True, key="finish-count"))
    return ft.Column(rows, spacing=14)


@screen
def Sync(handheld: Handheld, badge: Badge) -> ft.Control:
    model, status, _ = handheld.workspace.sync, badge.status, handheld._
    last = status.last_success_at.strftime("%H:%M:%S") if status.last_success_at else _("never")
    rows: list[ft.Control] = [
        heading(_("Sync")),
        line(_("Status: {state}").format(state=value_words(SYNC_STATES, status.state, _)), size=22, key="sync-state"),
        line(_("Pending: {count}").format(count=status.pending), key="sync-pending"),
        line(_("Conflicts: {conflicts} · Rejected: {rejected}").format(conflicts=status.conflicts,
                                                                      rejected=status.rejected), key="sync-refused"),
        line(_("Last sync: {time}").format(time=last)),
    ]
    if status.progress is not None and status.state is SyncState.SYNCING:
        progress, phase = status.progress, value_words(SYNC_PHASES, status.progress.phase, _)
        words = (_("{phase}: {done} of {total}") if progress.total else _("{phase}: {done}")).format(
            phase=phase, done=progress.done, total=progress.total)
        rows.append(line(words, key="sync-progress"))
    if status.message:
        rows.append(line(_(status.message), colour=ERROR_RED))  # the engine's own words stay as they are
    rows.append(big_button(_("Sync now"), handheld.tap(model.sync_now), primary=True, key="sync-now"))
    for event, advice in model.refused():
        rows.append(ft.Container(ft.Column([
            line(_("{outcome}: {step} {lpn}").format(outcome=value_words(SYNC_OUTCOMES, event.status, _),
                                                     step=value_words(EVENT_TYPES, event.type, _), lpn=event.lpn or ""),
                 size=18, key=f"refused-{event.device_seq}"),
            line(event.reason or "", size=16),
            line(advice, size=16)]), padding=8, border=ft.Border.all(2, ERROR_RED), border_radius=8))
    return ft.Column(rows, spacing=14)
