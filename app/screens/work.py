"""The associate's screens: Home, Receive, the unit in hand (inspect, grade, decide, put away, undo),
a work queue, and the lookup card.

Each screen is a component that renders its model and forwards taps to it through
`Handheld.tap`, which shows the answer, repaints the screen and gives the focus back to the scan
field. No screen reads the database: the models do.
"""

from __future__ import annotations

import flet as ft

from domain import Disposition, Grade, UnitState
from domain.words import N_

from ..handheld import Handheld
from ..models.common import Feedback, lower_first
from ..models.words import DISPOSITIONS, EVENT_TYPES, SYNC_OUTCOMES, UNIT_STATES, value_words
from .widgets import CHECK_AMBER, ERROR_RED, TARGET, TextInput, big_button, button_row, heading, line, moment, screen

# What each grade means, on screen where it is chosen.
GRADE_WORDS = {Grade.A: N_("sealed or like new"), Grade.B: N_("open box, good"), Grade.C: N_("used or cosmetic damage"),
               Grade.D: N_("damaged or not working"), Grade.X: N_("wrong item, empty box or suspected fraud")}
QUEUE_SCREENS = {"queue-received": UnitState.RECEIVED, "queue-inspected": UnitState.INSPECTED,
                 "queue-graded": UnitState.GRADED, "queue-dispositioned": UnitState.DISPOSITIONED,
                 "queue-quarantined": UnitState.QUARANTINED}


def go(handheld: Handheld, screen: str):
    async def went(_: object = None) -> None:
        handheld.workspace.touch()
        handheld.go(screen)
    return went


@screen
def Home(handheld: Handheld) -> ft.Control:
    from ..models.home import home_queues, is_supervisor

    session, _ = handheld.workspace.session, handheld._
    rows: list[ft.Control] = [heading(_("Home")), line(_("Scan an RMA, a package, an LPN or a bin"), size=20, key="prompt")]
    for queue in home_queues(session):
        target = f"queue-{queue.state.value}"
        count = ft.Semantics(identifier=target, content=ft.Text(str(queue.count), size=22, weight=ft.FontWeight.BOLD))
        rows.append(ft.Semantics(identifier=f"open-{target}", button=True, content=ft.Container(
            ft.Row([ft.Text(queue.label, size=20, expand=True), count]), height=TARGET - 8,
            on_click=go(handheld, target) if target in QUEUE_SCREENS else None,
            padding=ft.Padding.symmetric(horizontal=8))))
    rows += [big_button(_("Receive"), go(handheld, "receive"), primary=True, key="go-receive"),
             big_button(_("Look up a unit or bin"), go(handheld, "lookup"), key="go-lookup")]
    if is_supervisor(session):
        rows.append(big_button(_("Supervisor"), go(handheld, "supervisor"), key="go-supervisor"))
    rows += [big_button(_("Sync"), go(handheld, "sync"), key="go-sync"),
             big_button(_("Sign out"), handheld.tap(lambda: handheld.sign_out()), key="sign-out")]
    return ft.Column(rows, spacing=14)


@screen
def Receive(handheld: Handheld) -> ft.Control:
    model, _ = handheld.workspace.receive, handheld._
    show_reasons, set_show_reasons = ft.use_state(False)

    def choose_reason(code: str):
        return handheld.tap(lambda: model.start_blind(code))

    async def blind(_: object) -> None:
        set_show_reasons(True)

    async def photo(_: object) -> None:
        content = await handheld.pick_photo()
        if content is not None:
            handheld.flash(model.submit_photo(content))

    rows: list[ft.Control] = [heading(_("Receive")), line(model.prompt, size=22, key="prompt")]
    if model.rma is not None:
        rows.append(line(f"{model.rma.rma_id} · {model.rma.channel.value}", key="rma"))
        for progress in model.lines():
            words = _("line {line}: {item} — {received} of {expected}").format(
                line=progress.line_no, item=progress.name, received=progress.received, expected=progress.expected)
            if progress.flag:
                words = _("{words} ({flag})").format(words=words, flag=model.over_words(progress))
            rows.append(line(words, key=f"line-{progress.line_no}", colour=CHECK_AMBER if progress.flag else None))
        rows += [line(_("unexpected item: {lpn}").format(lpn=lpn), colour=CHECK_AMBER) for lpn in model.unexpected]
    if show_reasons or (model.package_ref and model.blind_reason is None):
        rows.append(line(_("Why is it coming back?"), size=20))
        rows += [big_button(label, choose_reason(code), key=f"reason-{code}") for code, label in model.reason_codes()]
    elif model.rma is None and model.blind_reason is None:
        rows.append(big_button(_("No RMA: blind return"), blind, key="blind"))
    rows.append(big_button(_("Read a barcode from a photo"), photo, key="decode-photo"))
    if model.rma is not None or model.blind_reason is not None:
        rows.append(big_button(_("Package done"), handheld.tap(lambda: _package_done(handheld, model)),
                               key="package-done"))
    return ft.Column(rows, spacing=14)


def _package_done(handheld: Handheld, model) -> Feedback:
    model.finish()
    return Feedback(True, handheld._("package done: scan the next one"))


@screen
def Unit(handheld: Handheld) -> ft.Control:
    from ..models.unit_steps import Step

    flow, _ = handheld.workspace.flow, handheld._
    unit = flow.unit
    rows: list[ft.Control] = [heading(_("Unit"))]
    if unit is None:
        return ft.Column([*rows, line(flow.prompt, size=22, key="prompt")], spacing=14)
    rows.append(line(f"{unit.lpn}: {flow.item_name}", size=20, bold=True, key="unit"))
    rows.append(line(unit_facts(handheld, unit), key="unit-state"))
    rows += _undo(handheld, flow)
    rows.append(line(flow.prompt, size=22, key="prompt"))
    step = flow.step
    if step is Step.INSPECT:
        rows += _inspect(handheld, flow)
    elif step is Step.GRADE:
        rows += _grade(handheld, flow)
    elif step is Step.DECIDE:
        rows += _decide(handheld, flow)
    elif step is Step.PUT_AWAY:
        rows += _put_away(handheld, flow)
    return ft.Column(rows, spacing=14)


def _undo(handheld: Handheld, flow) -> list[ft.Control]:
    """Undo of the unit's last step, at the top where it is seen without scrolling: a first tap asks
    for the reason and a confirmation, so a stray tap undoes nothing."""
    _, correction = handheld._, flow.correction()
    if flow.moving or flow.regrading:
        return [big_button(_("Cancel the change"), handheld.tap(flow.cancel_correction), key="cancel-undo")]
    if correction is None:
        return []
    if not flow.undoing:
        return [big_button(_("Undo: {correction}").format(correction=lower_first(_(correction.label))),
                           handheld.tap(flow.ask_undo), key="undo")]
    return [TextInput(flow.field("undo_reason"), _("Why undo it?"), handheld.router, key=f"undo-{flow.unit.lpn}"),
            button_row([(_("Confirm"), handheld.tap(flow.undo), "confirm-undo"),
                        (_("Cancel"), handheld.tap(flow.cancel_correction), "cancel-undo")])]


def unit_facts(handheld: Handheld, unit) -> str:
    """A unit's state, bin, grade and disposition in one line, as the unit's screen and the lookup show it."""
    _ = handheld._
    facts = [value_words(UNIT_STATES, unit.state, _), unit.bin_code]
    facts += [_("grade {grade}").format(grade=unit.grade.value)] if unit.grade else []
    facts += [value_words(DISPOSITIONS, unit.disposition, _)] if unit.disposition else []
    return " · ".join(facts)


def _inspect(handheld: Handheld, flow) -> list[ft.Control]:
    tap, _ = handheld.tap, handheld._
    rows: list[ft.Control] = [
        big_button(_("Everything as expected: save"), tap(lambda: flow.save_inspection(all_as_expected=True)),
                   primary=True, key="save-all-fine"),
        big_button(_("Save the answers"), tap(flow.save_inspection), key="save-inspection")]
    yes, no = _("Yes"), _("No")
    for question_id, text in flow.questions:
        answer = flow.answers.get(question_id)
        rows += [line(text, size=18),
                 button_row([(yes, tap(lambda q=question_id: flow.answer(q, True)), f"yes-{question_id}"),
                             (no, tap(lambda q=question_id: flow.answer(q, False)), f"no-{question_id}")],
                            selected={True: yes, False: no}.get(answer))]
    rows.append(line(_("Condition (tap each that applies)"), size=20))
    for code, label in flow.condition_codes():
        chosen = code in flow.conditions
        rows.append(big_button(label, tap(lambda c=code: flow.toggle_condition(c)), primary=chosen,
                               icon=ft.Icons.CHECK_BOX if chosen else ft.Icons.CHECK_BOX_OUTLINE_BLANK,
                               key=f"condition-{code}"))
    rows.append(TextInput(flow.field("notes"), _("Notes"), handheld.router, key=f"notes-{flow.unit.lpn}"))
    rows += _photos(handheld, flow)
    return rows


def _photos(handheld: Handheld, flow) -> list[ft.Control]:
    _ = handheld._
    needed = flow.photo_needed()
    photos = handheld.ngettext("{count} photo", "{count} photos", len(flow.photos)).format(count=len(flow.photos))
    rows: list[ft.Control] = [line(photos + (f" · {needed}" if needed else ""),
                                   key="photo-count", colour=ERROR_RED if needed else None)]
    thumbs = [handheld.workspace.lookup.photo(sha) for sha in flow.photos]
    if thumbs:
        rows.append(ft.Row([ft.Image(src=content, width=96, height=96, fit=ft.BoxFit.COVER)
                            for content in thumbs if content], wrap=True))

    async def from_files(_: object) -> None:
        content = await handheld.pick_photo()
        if content is not None:
            handheld.flash(flow.add_photo(content))
        await handheld.park_focus()

    if handheld.camera is not None:
        rows.append(big_button(_("Take a photo"), handheld.tap(lambda: handheld.snap(flow)), key="take-photo"))
    rows.append(big_button(_("Add a photo from files"), from_files, key="add-photo"))
    return rows


def _grade(handheld: Handheld, flow) -> list[ft.Control]:
    rows: list[ft.Control] = [button_row([(g.value, handheld.tap(lambda g=g: flow.grade(g)), f"grade-{g.value}")
                                          for g in Grade])]
    rows += [line(f"{g.value}: {handheld._(words)}", size=16) for g, words in GRADE_WORDS.items()]
    return rows


def _decide(handheld: Handheld, flow) -> list[ft.Control]:
    suggestion, _ = flow.suggestion(), handheld._
    lpn = flow.unit.lpn
    rows: list[ft.Control] = []
    if suggestion is not None:
        words = value_words(DISPOSITIONS, suggestion.disposition, _)
        rows.append(big_button(_("Accept: {disposition}").format(disposition=words),
                               handheld.tap(lambda: flow.decide(suggestion.disposition)), primary=True, key="accept"))
    approval = suggestion is not None and suggestion.override_needs_approval
    rows.append(line(_("Or choose another (needs a reason, then a supervisor's PIN and Enter)") if approval
                     else _("Or choose another (needs a reason)"), size=16))
    rows.append(TextInput(flow.field("reason"), _("Override reason"), handheld.router, key=f"reason-{lpn}"))
    if approval:
        async def approved(_: str) -> None:
            handheld.flash(flow.approve())
            await handheld.park_focus()

        rows += [TextInput(flow.field("approver"), _("Supervisor"), handheld.router, key=f"approver-{lpn}"),
                 TextInput(flow.field("approver_pin"), _("Supervisor PIN"), handheld.router, password=True, digits=True,
                           on_submit=approved, key=f"approver-pin-{lpn}")]
    rows += [big_button(value_words(DISPOSITIONS, d, _), handheld.tap(lambda d=d: flow.decide(d)),
                        key=f"override-{d.value}", primary=d is flow.overriding)
             for d in Disposition if suggestion is None or d is not suggestion.disposition]
    return rows


def _put_away(handheld: Handheld, flow) -> list[ft.Control]:
    rows: list[ft.Control] = []
    _ = handheld._
    suggested = flow.suggested_bin()
    if suggested:
        rows.append(line(_("Suggested bin: {bin}").format(bin=suggested), size=22, bold=True, key="suggested-bin"))
    if flow.unit.state is not UnitState.QUARANTINED and not flow.moving:
        async def held(_: str) -> None:
            handheld.flash(flow.quarantine())
            await handheld.park_focus()

        rows += [TextInput(flow.field("hold_reason"), _("Why hold it?"), handheld.router, on_submit=held,
                           key=f"hold-{flow.unit.lpn}"),
                 big_button(_("Hold in quarantine"), handheld.tap(flow.quarantine), key="hold")]
    return rows


@screen
def Queue(handheld: Handheld, state: UnitState) -> ft.Control:
    from local_db.screens import units_in

    _ = handheld._
    units = units_in(handheld.store, state)
    rows: list[ft.Control] = [heading(_("Queue: {state}").format(state=value_words(UNIT_STATES, state, _))),
                              line(_("Oldest first; tap one to work on it, or scan its LPN"), size=18, key="prompt")]
    for unit in units:
        rows.append(big_button(f"{unit.lpn} · {unit.name}", handheld.tap(lambda lpn=unit.lpn: handheld.open_unit(lpn)),
                               key=f"unit-{unit.lpn}"))
    if not units:
        rows.append(line(_("Nothing waiting here.")))
    return ft.Column(rows, spacing=14)


@screen
def Lookup(handheld: Handheld) -> ft.Control:
    model, _ = handheld.workspace.lookup, handheld._
    rows: list[ft.Control] = [heading(_("Look up")), line(_("Scan or type an LPN, a serial or a bin"), size=20,
                                                          key="prompt")]
    if model.bin_code is not None:
        rows.append(line(f"{model.bin_code}", size=22, bold=True, key="bin"))
        rows += [line(handheld.ngettext("{sku}: {count} unit", "{sku}: {count} units", count).format(sku=sku, count=count),
                      key=f"bin-sku-{sku}") for sku, count in model.bin_counts().items()]
    card = model.card
    if card is not None:
        rows += [line(f"{card.lpn}: {card.name}", size=22, bold=True, key="card"),
                 line(unit_facts(handheld, card), key="card-state")]
        if card.serial or card.lot:
            rows.append(line(" · ".join(x for x in (card.serial and _("serial {serial}").format(serial=card.serial),
                                                     card.lot and _("lot {lot}").format(lot=card.lot)) if x)))
        if card.rma_id:
            rows.append(line(_("{rma} line {line} · reason {reason}").format(
                rma=card.rma_id, line=card.line_no, reason=card.reason)))
        rows.append(line(_("What happened"), size=20))
        for step in card.steps:
            outcome = value_words(SYNC_OUTCOMES, step.status, _)
            outcome += f" ({step.rule or step.reason})" if step.rule or step.reason else ""
            rows.append(line(_("{time} · {step} · {user} on {device} · {outcome}").format(
                time=moment(handheld, step.occurred_at),
                step=value_words(EVENT_TYPES, step.type, _), user=step.actor, device=step.device_id, outcome=outcome),
                size=16, key=f"step-{step.device_seq}"))
        if card.server is not None:
            rows.append(line(_("central API: {state} in {bin}").format(
                state=value_words(UNIT_STATES, card.server.state, _), bin=card.server.bin_code), size=16))
        thumbs = [model.photo(sha) for sha in card.photos]
        if thumbs:
            rows.append(ft.Row([ft.Image(src=content, width=120, height=120, fit=ft.BoxFit.COVER)
                                for content in thumbs if content], wrap=True))
        rows.append(big_button(_("Work on this unit"), handheld.tap(lambda: handheld.open_unit(card.lpn)),
                               key="open-unit"))
    return ft.Column(rows, spacing=14)

