"""What every screen is built from: big targets, the feedback banner, the sync badge, text fields.

Text fields keep their own text (state of their own component), so no repaint elsewhere (the sync
badge, the banner, the screen after a tap) ever replaces a field someone is typing in or moves the
focus; the field's text changes from outside only when the model resets it (a scan's burst taken
back out, a new unit in hand).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft
from babel.dates import format_datetime

from domain import ReturnflowError
from domain.words import N_
from sync.engine import SyncState

from ..handheld import Badge, Banner, Handheld
from ..keys import KeyRouter, Typed
from ..models.words import refusal

TARGET = 64  # px: a gloved thumb
OK_GREEN, ERROR_RED, INK, PAPER = "#1B5E20", "#B71C1C", "#111111", "#FFFFFF"
CHECK_AMBER = "#8A4B00"  # done, but worth a look: dark enough for white text
# Banner colour and prefix for each kind of feedback (Feedback.sound names the kind).
BANNERS = {"ok": (OK_GREEN, ""), "check": (CHECK_AMBER, N_("Check: ")), "error": (ERROR_RED, N_("Not done: "))}
STATE_COLOURS = {SyncState.ONLINE: OK_GREEN, SyncState.SYNCING: "#0D47A1", SyncState.OFFLINE: "#4E342E",
                 SyncState.ERROR: ERROR_RED}
STATE_WORDS = {SyncState.ONLINE: N_("synced"), SyncState.SYNCING: N_("syncing"), SyncState.OFFLINE: N_("offline"),
               SyncState.ERROR: N_("sync problem")}

Handler = Callable[[Any], Awaitable[None]]
log = logging.getLogger("returnflow.app")


def screen(body: Callable[..., ft.Control]) -> Callable[..., ft.Control]:
    """A screen component (its first argument the Handheld) that, should drawing it fail, shows words
    and a way out instead: Flet stops repainting a page whose component raised, which would freeze
    the handheld."""
    @functools.wraps(body)
    def drawn(handheld: Handheld, *args: Any, **kwargs: Any) -> ft.Control:
        _ = handheld._
        try:
            return body(handheld, *args, **kwargs)
        except ReturnflowError as refused:
            return ft.Column([line(_("Not done: ") + refusal(refused, handheld.workspace.language), colour=ERROR_RED)])
        except Exception:
            log.exception("drawing %s failed", body.__name__)
            return ft.Column([line(_("This screen could not be drawn: go Home and try again, and tell a supervisor."),
                                   colour=ERROR_RED, key="screen-failed")])
    return ft.component(drawn)


def moment(handheld: Handheld, at: dt.datetime) -> str:
    """When a step happened, short, with the month in the person's language."""
    return format_datetime(at, "dd MMM HH:mm", tzinfo=at.tzinfo, locale=handheld.workspace.language)


def big_button(text: str, on_click: Handler, *, primary: bool = False, key: str | None = None,
               disabled: bool = False, icon: ft.IconData | None = None) -> ft.Control:
    button = ft.Button(text, on_click=on_click, height=TARGET, expand=True, disabled=disabled, icon=icon,
                       icon_color=PAPER if primary else None,
                       bgcolor=INK if primary and not disabled else None, color=PAPER if primary else None,
                       style=ft.ButtonStyle(text_style=ft.TextStyle(size=20, weight=ft.FontWeight.BOLD)))
    row = ft.Row([button])
    # Keyed by its identifier: a button that becomes another (Release -> Confirm) is a new node, as a
    # changed identifier is not redrawn on the browser's side.
    return ft.Semantics(identifier=key, key=key, content=row) if key else row


def button_row(choices: list[tuple[str, Handler, str | None]], *, selected: str | None = None) -> ft.Control:
    """Several big buttons side by side: (words, handler, semantics id); `selected` is drawn dark."""
    return ft.Row([ft.Semantics(identifier=key, key=key, expand=True, content=ft.Button(
        words, on_click=handler, height=TARGET, expand=True,
        bgcolor=INK if words == selected else None, color=PAPER if words == selected else None,
        style=ft.ButtonStyle(text_style=ft.TextStyle(size=20, weight=ft.FontWeight.BOLD))))
        for words, handler, key in choices])


def heading(text: str) -> ft.Control:
    return ft.Semantics(identifier="screen-title", content=ft.Text(text, size=26, weight=ft.FontWeight.BOLD))


def line(text: str, *, size: int = 18, key: str | None = None, colour: str | None = None,
         bold: bool = False) -> ft.Control:
    control = ft.Text(text, size=size, color=colour, weight=ft.FontWeight.BOLD if bold else None)
    return ft.Semantics(identifier=key, key=key, content=control) if key else control


@ft.component
def TextInput(typed: Typed, label: str, router: KeyRouter, *, on_submit: Callable[[str], Awaitable[None]] | None = None,
              password: bool = False, digits: bool = False, autofocus: bool = False, ref: Any = None,
              key_id: str | None = None) -> ft.Control:
    """A text field whose text is its own: the keyboard hook sees its changes (a scanner's burst is
    taken back out) and its Enter (a scanner's is not submitted twice)."""
    # The field is drawn from `typed`, which follows every change, so typing repaints nothing and a
    # repaint for any other reason leaves the text as it is. A reset repaints the field even when its
    # text is what was last drawn: the browser may hold text typed since (a burst arriving late).
    _, set_resets = ft.use_state(0)
    typed.on_reset = lambda _: set_resets(lambda resets: resets + 1)

    async def changed(event: ft.Event[ft.TextField]) -> None:
        router.changed(typed, event.control.value or "")

    async def submitted(event: ft.Event[ft.TextField]) -> None:
        if router.submitted(typed, event.control.value or "") or on_submit is None:
            return
        await on_submit(event.control.value or "")

    field = ft.TextField(
        label=label, value=typed.text, on_change=changed, on_submit=submitted, text_size=22, height=TARGET + 8,
        password=password, can_reveal_password=password, autofocus=autofocus, ref=ref,
        keyboard_type=ft.KeyboardType.NUMBER if digits else ft.KeyboardType.TEXT,
        input_filter=ft.NumbersOnlyInputFilter() if digits else None,
        width=float("inf"))  # as wide as the screen, like the buttons: a bigger target for a gloved thumb
    return ft.Semantics(identifier=key_id, content=field) if key_id else field


@ft.component
def ScanInput(handheld: Handheld) -> ft.Control:
    """The screen's scan field: a person types a code here; a scanner's burst is taken wherever the
    focus is. The focus comes back here after every tap, so the next scan never presses a button."""
    ref = ft.use_ref(None)
    typed, _ = ft.use_state(Typed)
    handheld.scan_field = ref

    def unmounted() -> None:  # a screen without a scan field: no focus to give back
        if handheld.scan_field is ref:
            handheld.scan_field = None

    ft.on_unmounted(unmounted)

    async def mounted() -> None:
        # Autofocus does nothing while a button that stays on screen (Home, Back) holds the focus, and
        # a scanner's Enter would then press that button: the field takes the focus itself.
        if ref.current is not None:
            await ref.current.focus()

    ft.on_mounted(mounted)

    async def entered(text: str) -> None:
        typed.reset()
        await handheld.scan(text)

    return TextInput(typed, handheld._("Scan, or type a code and Enter"), handheld.router, on_submit=entered,
                     autofocus=True, ref=ref, key_id="scan")


@ft.component
def BannerView(banner: Banner, handheld: Handheld) -> ft.Control:
    colour, prefix = BANNERS[banner.kind]
    prefix = handheld._(prefix) if prefix else ""
    again = f"  (×{banner.times})" if banner.times > 1 else ""
    return ft.Container(
        ft.Semantics(identifier="feedback", content=ft.Text(prefix + banner.message + again, size=20,
                                                            weight=ft.FontWeight.BOLD, color=PAPER)),
        # A repeated message flashes: its box is drawn anew, fading in.
        key=f"banner-{banner.times}", bgcolor=colour, padding=12, border_radius=8, visible=bool(banner.message),
        width=float("inf"), animate_opacity=300, opacity=1.0)


@ft.component
def SyncBadge(badge: Badge, handheld: Handheld) -> ft.Control:
    status, _ = badge.status, handheld._
    words = _(STATE_WORDS[status.state])
    if status.state is SyncState.SYNCING and status.progress:
        words = _("syncing {done}").format(done=status.progress.done)
    words = _("{state} · {pending} pending").format(state=words, pending=status.pending)
    return ft.Container(
        ft.Semantics(identifier="sync-badge", content=ft.Text(words, size=16, weight=ft.FontWeight.BOLD, color=PAPER)),
        padding=ft.Padding.symmetric(horizontal=12, vertical=8), border_radius=20,
        bgcolor=STATE_COLOURS[status.state])
