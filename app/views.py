"""The handheld's Flet views: render a screen's model, forward taps and scans to it.

One column on a phone-sized screen: a top bar with the sync status that is always visible, a
feedback banner (colour, words and a sound for every scan or action), then the screen itself.
Targets are at least 64 px high, text is large, and each screen has one obvious next action.
Every handler is async, so all database work runs on the page's own thread, one at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import flet as ft
import flet_audio as fta

from domain import Disposition, Grade
from local_db import DeviceStore
from sync.engine import SyncEngine, SyncState, SyncStatus

from .models.common import Feedback, Session
from .models.home import SignInModel, SyncModel, home_queues, is_supervisor

if TYPE_CHECKING:
    from .camera import CameraFeed

# The scan screens' models and the camera import the scanner package, which loads OpenCV, zxing-cpp,
# zbar and biip (0.2 s on an idle 2-core machine, up to a second on a busy one). The sign-in screen
# needs none of it, so those modules load when a scan screen first opens, or earlier, in the
# background while the associate signs in: preload().

TARGET = 64  # px: a gloved thumb
OK_GREEN, ERROR_RED, INK, PAPER = "#1B5E20", "#B71C1C", "#111111", "#FFFFFF"
CHECK_AMBER = "#8A4B00"  # done, but worth a look: dark enough for white text
# Banner colour and prefix for each kind of feedback (Feedback.sound names the kind).
BANNERS = {"ok": (OK_GREEN, ""), "check": (CHECK_AMBER, "Check: "), "error": (ERROR_RED, "Not done: ")}
STATE_COLOURS = {SyncState.ONLINE: OK_GREEN, SyncState.SYNCING: "#0D47A1", SyncState.OFFLINE: "#4E342E",
                 SyncState.ERROR: ERROR_RED}

Handler = Callable[..., Awaitable[None]]


def preload() -> None:
    """Import what the scan screens and the camera need; run on a background thread once the first
    screen is up (app.main), so the first scan screen does not wait for the scanner's libraries."""
    from . import camera  # noqa: F401
    from .models import receive, supervisor, unit_steps  # noqa: F401


def refocused(field: ScanField, handler: Handler) -> Handler:
    """A tap on a scan screen hands the focus back to its scan field first, so the scan that usually
    follows a tap (a bin after "hold", the next unit after "save") lands there."""
    async def tapped(event: Any = None) -> None:
        await field.control.focus()
        await handler(event)
    return tapped


def big_button(text: str, on_click: Handler, *, primary: bool = False, key: str | None = None) -> ft.Control:
    button = ft.Button(text, on_click=on_click, height=TARGET, expand=True,
                       bgcolor=INK if primary else None, color=PAPER if primary else None,
                       style=ft.ButtonStyle(text_style=ft.TextStyle(size=20, weight=ft.FontWeight.BOLD)))
    row = ft.Row([button])
    return ft.Semantics(identifier=key, content=row) if key else row


def heading(text: str) -> ft.Control:
    return ft.Semantics(identifier="screen-title", content=ft.Text(text, size=26, weight=ft.FontWeight.BOLD))


def line(text: str, *, size: int = 18, key: str | None = None, colour: str | None = None) -> ft.Control:
    control = ft.Text(text, size=size, color=colour)
    return ft.Semantics(identifier=key, content=control) if key else control


def for_one_unit(*fields: ft.TextField) -> Callable[[Any], None]:
    """What is typed for one unit (notes, an override reason, a supervisor's name) never carries over to
    the next: call the result with the unit in hand on every paint; it clears the fields when it changes."""
    shown_for: list[str | None] = [None]

    def check(unit: Any) -> None:
        lpn = unit.lpn if unit is not None else None
        if lpn != shown_for[0]:
            shown_for[0] = lpn
            for text_field in fields:
                text_field.value = ""
    return check


@dataclass
class ScanField:
    """A scan field: a hardware scanner types into it and ends with Enter; so can a person. It keeps
    the focus between scans so the next scan lands without a tap."""

    control: ft.TextField
    on_scan: Callable[[str], Awaitable[None]]

    @classmethod
    def make(cls, label: str, on_scan: Callable[[str], Awaitable[None]], *, autofocus: bool = True) -> ScanField:
        field = cls(ft.TextField(label=label, autofocus=autofocus, text_size=22, height=TARGET + 8), on_scan)
        field.control.on_submit = field._submitted
        return field

    async def _submitted(self, event: ft.Event[ft.TextField]) -> None:
        # Flutter drops the focus on Enter: take it back first, so the next scan lands here.
        await event.control.focus()
        typed = event.control.value or ""
        event.control.value = ""
        await self.on_scan(typed)


class Handheld:
    """One browser session of the device app."""

    def __init__(self, page: ft.Page, store: DeviceStore, engine: SyncEngine | None,
                 find_camera: Callable[[], int | str | None]) -> None:
        self.page = page
        self.store = store
        self.engine = engine
        # Gives a camera index or a video file standing in for one; None: no camera. Asked when a screen
        # needs to know, since probing for a camera loads OpenCV.
        self._find_camera = find_camera
        self.feed: CameraFeed | None = None
        self.preview: ft.Semantics | None = None  # the camera preview, made with the first camera panel
        self.session: Session | None = None
        self.sync_model = SyncModel(store, engine)
        self.badge = ft.Text("", size=16, weight=ft.FontWeight.BOLD, color=PAPER)
        self.badge_box = ft.Container(ft.Semantics(identifier="sync-badge", content=self.badge),
                                      padding=ft.Padding.symmetric(horizontal=12, vertical=8), border_radius=20)
        self.banner_text = ft.Text("", size=20, weight=ft.FontWeight.BOLD, color=PAPER)
        self.banner = ft.Container(ft.Semantics(identifier="feedback", content=self.banner_text), padding=12,
                                   border_radius=8, visible=False, width=float("inf"))
        self.body = ft.Column(spacing=14, scroll=ft.ScrollMode.AUTO, expand=True)
        self.who = ft.Text("", size=16)
        self.live: Callable[[], None] | None = None
        self.entered: ScanField | None = None  # the scan field of the screen last entered
        self.unsubscribe: Callable[[], None] = lambda: None
        # Services register with the page when made; the page keeps them while they are referenced.
        self.sounds = {name: fta.Audio(src=f"sounds/{name}.wav", release_mode=fta.ReleaseMode.STOP)
                       for name in ("ok", "check", "error")}
        self.picker = ft.FilePicker()
        page.title = "returnflow"
        page.padding = 12
        page.theme_mode = ft.ThemeMode.LIGHT
        page.bgcolor = PAPER
        page.add(ft.Row([ft.Text("returnflow", size=20, weight=ft.FontWeight.BOLD), self.who, self.badge_box],
                        alignment=ft.MainAxisAlignment.SPACE_BETWEEN),
                 self.banner, self.body)
        if engine is not None:
            def listener(status: SyncStatus) -> None:
                if page.session is not None and page.session.connection is not None:  # the tab may be gone
                    page.run_task(self._status_changed, status)

            engine.subscribe(listener)
            self.unsubscribe = lambda: engine.unsubscribe(listener)
        self._paint_badge(self.sync_model.status())
        self.sign_in()

    @property
    def camera(self) -> int | str | None:
        return self._find_camera()

    # --- shared pieces --------------------------------------------------------------------

    def show(self, title: str, *controls: ft.Control, back: bool = True,
             live: Callable[[], None] | None = None, scan: ScanField | None = None) -> None:
        """Draw a screen; `live` repaints it whenever the sync status changes; `scan` gets the focus
        back after every tap, so the next scan lands in it."""
        self.live = live
        self.body.controls = [heading(title), *controls]
        if scan is not None and self.camera is not None and scan.control in self.body.controls:
            at = self.body.controls.index(scan.control) + 1
            self.body.controls[at:at] = self._camera_panel(scan)  # right under the scan field
        if back and self.session is not None:
            self.body.controls.append(big_button("Home", self._go(self.home), key="home"))
        self.page.update()
        if scan is not None and scan is not self.entered:
            # On entering a screen only: a repaint must not pull the focus from a field being typed in.
            # Scans and taps on a scan screen take it back themselves (ScanField, refocused()).
            self.entered = scan
            self.page.run_task(scan.control.focus)

    def stop_camera(self) -> None:
        if self.feed is not None:
            self.feed.stop()
            self.feed = None

    def _camera_panel(self, scan: ScanField) -> list[ft.Control]:
        """A live preview with each decoded code outlined; a code held in view scans once."""
        from .camera import CameraFeed, blank_png  # OpenCV: only where a camera is used

        if self.preview is None:  # before its first frame the preview shows one white pixel
            # Hidden by its Semantics wrapper: Flet refuses a Semantics whose content is invisible.
            self.preview = ft.Semantics(identifier="camera-preview", visible=False, content=ft.Image(
                src=blank_png(), width=360, fit=ft.BoxFit.CONTAIN))
        preview = self.preview  # one control for every repaint: the running feed keeps drawing into it
        preview.visible = self.feed is not None

        async def show_frame(jpeg: bytes) -> None:
            preview.content.src, preview.visible = jpeg, True
            self.page.update()

        async def scanned(text: str) -> None:
            await scan.on_scan(text)

        async def failed(message: str) -> None:
            self.stop_camera()
            self.flash(Feedback(False, message))
            self.page.update()

        async def toggle(_: Any) -> None:
            if self.feed is not None:
                self.stop_camera()
                preview.visible = False
                self.page.update()
                return
            self.feed = CameraFeed(
                self.camera,
                on_preview=lambda jpeg: self.page.run_task(show_frame, jpeg),
                on_scan=lambda read: self.page.run_task(scanned, (read.aim_id or "") + read.text),
                on_error=lambda message: self.page.run_task(failed, message))
            self.feed.start()

        return [big_button("Camera on / off", toggle, key="camera"), preview]

    def flash(self, feedback: Feedback) -> None:
        self.banner.visible = True
        colour, prefix = BANNERS[feedback.sound]
        self.banner.bgcolor = colour
        self.banner_text.value = prefix + feedback.message
        # Played as its own task: a browser holds sounds until the first tap or key, and the screen
        # must not wait for that.
        self.page.run_task(self.sounds[feedback.sound].play)
        self._paint_badge(self.sync_model.status())
        if feedback.saved and self.engine is not None:
            self.engine.request_sync()  # saved work leaves for the server as soon as it can

    async def pick_photo(self) -> bytes | None:
        """A photo from the device: its camera app or its files (the browser's file chooser)."""
        files = await self.picker.pick_files(file_type=ft.FilePickerFileType.IMAGE, with_data=True)
        return files[0].bytes if files else None

    def _go(self, screen: Callable[[], None]) -> Handler:
        async def go(_: Any = None) -> None:
            self.banner.visible = False
            self.stop_camera()
            screen()
        return go

    async def _status_changed(self, status: SyncStatus) -> None:
        self._paint_badge(self.sync_model.status())
        if self.live is not None:
            self.live()
        else:
            self.page.update()

    def _paint_badge(self, status: SyncStatus) -> None:
        words = status.state.value
        if status.state is SyncState.SYNCING and status.progress:
            words = f"syncing {status.progress.done}"
        self.badge.value = f"{words} · {status.pending} pending"
        self.badge_box.bgcolor = STATE_COLOURS[status.state]

    # --- sign-in and home -----------------------------------------------------------------

    def sign_in(self) -> None:
        model = SignInModel(self.store, self.engine)
        self.session = None
        self.who.value = ""
        user = ft.TextField(label="User", text_size=22, height=TARGET + 8)
        pin = ft.TextField(label="PIN", password=True, can_reveal_password=True, text_size=22, height=TARGET + 8,
                           keyboard_type=ft.KeyboardType.NUMBER)

        async def submit(_: Any = None) -> None:
            feedback, session = model.sign_in(user.value or "", pin.value or "")
            pin.value = ""
            self.flash(feedback)
            if session is not None:
                self.session = session
                self.who.value = f"{session.actor.user_id} ({session.actor.role.value})"
                self.home()
            else:
                self.page.update()

        def pick(user_id: str) -> Handler:
            async def chosen(_: Any) -> None:
                user.value = user_id
                await pin.focus()
                self.page.update()
            return chosen

        pin.on_submit = submit
        people = [ft.Row([ft.Button(f"{name} ({role})", on_click=pick(user_id), height=TARGET, expand=True)])
                  for user_id, name, role in model.users()]
        if not people:
            people = [line("No users on this device yet: connect it to the central API and sync.")]
        self.show("Sign in", *people, user, pin, big_button("Sign in", submit, primary=True, key="sign-in"),
                  back=False)

    def home(self) -> None:
        session = self.session
        queues = [ft.Row([ft.Text(q.label, size=20, expand=True),
                          ft.Semantics(identifier=f"queue-{q.state.value}",
                                       content=ft.Text(str(q.count), size=22, weight=ft.FontWeight.BOLD))])
                  for q in home_queues(session)]
        actions = [big_button("Receive", self._go(self.receive), primary=True, key="go-receive"),
                   big_button("Inspect", self._go(self.inspect), key="go-inspect"),
                   big_button("Grade and decide", self._go(self.grade), key="go-grade"),
                   big_button("Put away / quarantine", self._go(self.put_away), key="go-putaway")]
        if is_supervisor(session):
            actions.append(big_button("Supervisor", self._go(self.supervisor), key="go-supervisor"))
        actions += [big_button("Sync", self._go(self.sync), key="go-sync"),
                    big_button("Sign out", self._go(self.sign_in), key="sign-out")]
        self.show("Home", *queues, *actions, back=False)

    # --- receive --------------------------------------------------------------------------

    def receive(self) -> None:
        from .models.receive import ReceiveModel  # the scanner's libraries: see preload()

        model = ReceiveModel(self.session)

        async def scanned(typed: str) -> None:
            self.flash(model.submit(typed))
            paint()

        field = ScanField.make("Scan", scanned)

        def choose_reason(code: str) -> Handler:
            async def chosen(_: Any) -> None:
                self.flash(model.start_blind(code))
                paint()
            return chosen

        async def blind(_: Any) -> None:
            paint(reasons=True)

        async def photo(_: Any) -> None:
            content = await self.pick_photo()
            if content is not None:
                self.flash(model.submit_photo(content))
                paint()

        async def finish(_: Any) -> None:
            model.finish()
            self.flash(Feedback(True, "package done: scan the next one"))
            paint()

        def paint(reasons: bool = False) -> None:
            rows: list[ft.Control] = [line(model.prompt, size=22, key="prompt"), field.control]
            if model.rma is not None:
                rows.append(line(f"{model.rma.rma_id} · {model.rma.channel.value}", key="rma"))
                for progress in model.lines():
                    flag = f" ({progress.flag})" if progress.flag else ""
                    rows.append(line(f"line {progress.line_no}: {progress.name} — {progress.received} of "
                                     f"{progress.expected}{flag}", key=f"line-{progress.line_no}",
                                     colour=CHECK_AMBER if progress.flag else None))
                for lpn in model.unexpected:
                    rows.append(line(f"unexpected item: {lpn}", colour=CHECK_AMBER))
            if reasons or (model.package_ref and model.blind_reason is None):
                rows.append(line("Why is it coming back?", size=20))
                rows += [big_button(label, refocused(field, choose_reason(code)), key=f"reason-{code}")
                         for code, label in model.reason_codes()]
            elif model.rma is None and model.blind_reason is None:
                rows.append(big_button("No RMA: blind return", refocused(field, blind), key="blind"))
            rows.append(big_button("Read a barcode from a photo", photo, key="decode-photo"))
            if model.rma is not None or model.blind_reason is not None:
                rows.append(big_button("Package done", refocused(field, finish), key="package-done"))
            self.show("Receive", *rows, scan=field)

        paint()

    # --- inspect, grade, put away ---------------------------------------------------------

    def inspect(self) -> None:
        from .models.unit_steps import InspectModel  # the scanner's libraries: see preload()

        model = InspectModel(self.session)

        async def scanned(typed: str) -> None:
            self.flash(model.scan(typed))
            paint()

        field = ScanField.make("Scan the unit's LPN", scanned)

        def toggle_answer(question_id: str) -> Handler:
            async def changed(event: ft.Event[ft.Switch]) -> None:
                model.answers[question_id] = bool(event.control.value)
            return changed

        def toggle_condition(code: str) -> Handler:
            async def changed(event: ft.Event[ft.Checkbox]) -> None:
                (model.conditions.add if event.control.value else model.conditions.discard)(code)
            return changed

        notes = ft.TextField(label="Notes", multiline=True, min_lines=2, text_size=18)
        typed_for = for_one_unit(notes)

        async def photo(_: Any) -> None:
            content = await self.pick_photo()
            if content is not None:
                self.flash(model.add_photo(content))
                paint()

        async def snap(_: Any) -> None:
            from scanner import ScanError

            from .camera import capture_still  # OpenCV: only where a camera is used

            self.stop_camera()  # the live view and the still share the camera
            try:
                content = capture_still(self.camera)
            except ScanError as failed:
                self.flash(Feedback(False, str(failed)))
            else:
                self.flash(model.add_photo(content))
            paint()

        async def save(_: Any) -> None:
            model.notes = notes.value or ""
            self.flash(model.save())
            paint()

        def paint() -> None:
            typed_for(model.unit)
            rows: list[ft.Control] = [field.control]
            if model.unit is not None:
                rows.append(line(f"{model.unit.lpn}: {self.store.item(model.unit.sku).name}", size=20, key="unit"))
                rows += [ft.Switch(label=text, value=model.answers[qid], on_change=toggle_answer(qid),
                                   label_text_style=ft.TextStyle(size=18)) for qid, text in model.questions]
                rows.append(line("Condition", size=20))
                rows += [ft.Checkbox(label=label, value=code in model.conditions, on_change=toggle_condition(code),
                                     label_style=ft.TextStyle(size=18)) for code, label in model.condition_codes()]
                rows += [notes, line(f"{len(model.photos)} photo(s)", key="photo-count")]
                if self.camera is not None:
                    rows.append(big_button("Take a photo", refocused(field, snap), key="take-photo"))
                rows += [big_button("Add a photo from files", photo, key="add-photo"),
                         big_button("Save inspection", refocused(field, save), primary=True, key="save-inspection")]
            else:
                rows.insert(0, line("Scan the unit's LPN label", size=22, key="prompt"))
            self.show("Inspect", *rows, scan=field)

        paint()

    def grade(self) -> None:
        from .models.unit_steps import GradeModel  # the scanner's libraries: see preload()

        model = GradeModel(self.session)
        reason = ft.TextField(label="Override reason", text_size=18)
        approver = ft.TextField(label="Supervisor", text_size=18)
        approver_pin = ft.TextField(label="Supervisor PIN", password=True, text_size=18,
                                    keyboard_type=ft.KeyboardType.NUMBER)
        typed_for = for_one_unit(reason, approver, approver_pin)

        async def scanned(typed: str) -> None:
            self.flash(model.scan(typed))
            paint()

        field = ScanField.make("Scan the unit's LPN", scanned)

        def graded(grade: Grade) -> Handler:
            async def chosen(_: Any) -> None:
                self.flash(model.grade(grade))
                paint()
            return chosen

        overriding: list[Disposition] = []  # the override last tapped, which a supervisor's PIN approves

        def decided(disposition: Disposition, override: bool) -> Handler:
            async def chosen(_: Any) -> None:
                if override:
                    overriding[:] = [disposition]
                    feedback = model.decide(disposition, reason=reason.value, approver_id=approver.value,
                                            approver_pin=approver_pin.value)
                else:
                    feedback = model.decide(disposition)
                approver_pin.value = ""
                self.flash(feedback)
                paint()
            return chosen

        async def approved(event: ft.Event[ft.TextField]) -> None:
            """The supervisor types the PIN and presses Enter: the tapped override is decided with it."""
            if not overriding:
                self.flash(Feedback(False, "tap the disposition to override with first"))
            else:
                self.flash(model.decide(overriding[0], reason=reason.value, approver_id=approver.value,
                                        approver_pin=event.control.value))
            approver_pin.value = ""
            await field.control.focus()  # the next scan goes to the scan field, as after a tap
            paint()

        approver_pin.on_submit = approved

        def paint() -> None:
            typed_for(model.unit)
            rows: list[ft.Control] = [field.control]
            unit = model.unit
            if unit is None:
                rows.insert(0, line("Scan an inspected unit's LPN", size=22, key="prompt"))
            else:
                rows.append(line(f"{unit.lpn}: {self.store.item(unit.sku).name}, grade {unit.grade or '—'}",
                                 size=20, key="unit"))
                rows.append(ft.Row([ft.Button(g.value, on_click=refocused(field, graded(g)), height=TARGET,
                                              expand=True, style=ft.ButtonStyle(text_style=ft.TextStyle(size=24)))
                                    for g in Grade]))
                suggestion = model.suggestion()
                if suggestion is not None:
                    words = suggestion.disposition.value.replace("_", " ")
                    accept = refocused(field, decided(suggestion.disposition, False))
                    rows.append(big_button(f"Accept: {words}", accept, primary=True, key="accept"))
                    rows.append(line("Or override (needs a reason"
                                     + (", then a supervisor's PIN and Enter)" if suggestion.override_needs_approval
                                        else ")")))
                    rows.append(reason)
                    if suggestion.override_needs_approval:
                        rows += [approver, approver_pin]
                    rows += [big_button(d.value.replace("_", " "), refocused(field, decided(d, True)),
                                        key=f"override-{d.value}")
                             for d in Disposition if d is not suggestion.disposition]
            self.show("Grade and decide", *rows, scan=field)

        paint()

    def put_away(self) -> None:
        from .models.unit_steps import PutAwayModel  # the scanner's libraries: see preload()

        model = PutAwayModel(self.session)
        hold_reason = ft.TextField(label="Why hold it?", text_size=18)
        typed_for = for_one_unit(hold_reason)

        async def scanned(typed: str) -> None:
            self.flash(model.submit(typed))
            paint()

        field = ScanField.make("Scan", scanned)

        async def hold(_: Any) -> None:
            self.flash(model.quarantine(hold_reason.value or ""))
            paint()

        async def held(event: ft.Event[ft.TextField]) -> None:  # Enter in the reason field holds the unit
            self.flash(model.quarantine(event.control.value or ""))
            await field.control.focus()
            paint()

        hold_reason.on_submit = held

        def paint() -> None:
            typed_for(model.unit)
            rows: list[ft.Control] = [line(model.prompt, size=22, key="prompt"), field.control]
            if model.unit is not None and model.unit.state.value != "quarantined":
                rows += [hold_reason, big_button("Hold in quarantine", refocused(field, hold), key="hold")]
            self.show("Put away", *rows, scan=field)

        paint()

    # --- supervisor and sync --------------------------------------------------------------

    def supervisor(self) -> None:
        from .models.supervisor import SupervisorModel  # the scanner's libraries: see preload()

        model = SupervisorModel(self.session)
        note = ft.TextField(label="Note", text_size=18, value="checked")
        purpose = ft.TextField(label="New purpose", text_size=18)
        zone = ft.TextField(label="Zone (one letter)", text_size=18, value="Q")

        def resolve(dispute: Any, choice: str | None) -> Handler:
            async def chosen(_: Any) -> None:
                self.flash(model.resolve(dispute, choice, note.value or "resolved on the floor"))
                paint()
            return chosen

        def release(lpn: str) -> Handler:
            async def chosen(_: Any) -> None:
                self.flash(model.release(lpn, note.value or "released"))
                paint()
            return chosen

        def reassign(code: str) -> Handler:
            async def chosen(_: Any) -> None:
                self.flash(model.reassign(code, purpose=purpose.value or "", zone=(zone.value or "").upper(),
                                          owner=self.session.actor.user_id))
                paint()
            return chosen

        async def counted(typed: str) -> None:
            self.flash(model.count_scan(typed))
            paint()

        # Not focused on arrival: the supervisor screen opens on its exception queue, at the top.
        count_field = ScanField.make("Count: scan the bin, then each item", counted, autofocus=False)

        async def finish_count(_: Any) -> None:
            self.flash(model.finish_count())
            paint()

        def paint() -> None:
            rows: list[ft.Control] = [note, line("Exceptions", size=22)]
            for dispute in model.exceptions():
                rows.append(line(dispute.title, size=18, key=f"exception-{dispute.exception.exception_id}"))
                if dispute.choices:
                    rows.append(ft.Row([ft.Button(words, on_click=resolve(dispute, choice), height=TARGET, expand=True)
                                        for words, choice in dispute.choices]))
                else:
                    rows.append(big_button("Mark resolved", resolve(dispute, None)))
            rows.append(line("In quarantine", size=22))
            for unit in model.quarantined():
                rows.append(big_button(f"Release {unit.lpn} ({unit.name})", release(unit.lpn),
                                       key=f"release-{unit.lpn}"))
            rows += [line("Quarantine bins", size=22), purpose, zone]
            for b in model.bins():
                rows.append(big_button(f"{b.code} · {b.purpose or 'no purpose'} · {b.units} unit(s): re-purpose",
                                       reassign(b.code), key=f"reassign-{b.code}"))
            rows += [line("Count a bin", size=22), count_field.control]
            if model.counting:
                expected = model.expected()
                for sku in sorted(expected.keys() | model.counted.keys()):
                    rows.append(line(f"{sku}: counted {model.counted.get(sku, 0)}, expected {expected.get(sku, 0)}"))
                rows.append(big_button("Finish count", finish_count, key="finish-count"))
            self.show("Supervisor", *rows)

        paint()

    def sync(self) -> None:
        async def sync_now(_: Any) -> None:
            self.flash(self.sync_model.sync_now())
            paint()

        def paint() -> None:
            status = self.sync_model.status()
            rows: list[ft.Control] = [
                line(f"Status: {status.state.value}", size=22, key="sync-state"),
                line(f"Pending: {status.pending}", key="sync-pending"),
                line(f"Conflicts: {status.conflicts} · Rejected: {status.rejected}", key="sync-refused"),
                line("Last sync: " + (status.last_success_at.strftime("%H:%M:%S") if status.last_success_at
                                      else "never")),
            ]
            if status.progress is not None and status.state is SyncState.SYNCING:
                total = f" of {status.progress.total}" if status.progress.total else ""
                rows.append(line(f"{status.progress.phase}: {status.progress.done}{total}", key="sync-progress"))
            if status.message:
                rows.append(line(status.message, colour=ERROR_RED))
            rows.append(big_button("Sync now", sync_now, primary=True, key="sync-now"))
            for event, advice in self.sync_model.refused():
                rows.append(ft.Container(ft.Column([
                    line(f"{event.status}: {event.type.replace('_', ' ')} {event.lpn or ''}", size=18,
                         key=f"refused-{event.device_seq}"),
                    line(event.reason or "", size=16),
                    line(advice, size=16)]), padding=8, border=ft.Border.all(2, ERROR_RED), border_radius=8))
            self.show("Sync", *rows, live=paint)

        paint()
