"""The handheld's screens as components: a root that draws the top bar, the feedback banner and the
current screen. The sync badge and the banner are components of their own, so a sync status change
or a new answer repaints only them; a screen repaints when its model changed (Handheld.changed).
"""

from __future__ import annotations

import flet as ft

from ..handheld import SCAN_SCREENS, Handheld, Screen
from ..models.words import ROLES, value_words
from .camera import CameraPanel
from .office import Bins, Count, Exceptions, Quarantine, SignIn, Supervisor, Sync
from .widgets import BannerView, ScanInput, SyncBadge, big_button
from .work import QUEUE_SCREENS, Home, Lookup, Queue, Receive, Unit

_SCREENS = {"home": Home, "receive": Receive, "unit": Unit, "lookup": Lookup, "supervisor": Supervisor,
            "exceptions": Exceptions, "quarantine": Quarantine, "bins": Bins, "count": Count}
_BACK_TO = {"exceptions": "supervisor", "quarantine": "supervisor", "bins": "supervisor", "count": "supervisor"}


@ft.component
def App(handheld: Handheld) -> ft.Control:
    return ft.Column([TopBar(handheld.screen, handheld), BannerView(handheld.banner, handheld),
                      Body(handheld.screen, handheld)], expand=True, spacing=10)


@ft.component
def TopBar(screen: Screen, handheld: Handheld) -> ft.Control:
    session = handheld.workspace.session
    who = (handheld._("{user} ({role})").format(user=session.actor.user_id,
                                                 role=value_words(ROLES, session.actor.role, handheld._))
           if session else "")
    # No product name here: at phone width the person and the sync badge need the whole row.
    return ft.Row([ft.Semantics(identifier="who", expand=True, content=ft.Text(
        who or "returnflow", size=16, weight=ft.FontWeight.BOLD, overflow=ft.TextOverflow.ELLIPSIS, max_lines=1)),
        SyncBadge(handheld.badge, handheld)], alignment=ft.MainAxisAlignment.SPACE_BETWEEN)


@ft.component
def Body(screen: Screen, handheld: Handheld) -> ft.Control:
    name = screen.name if handheld.workspace.session is not None else "sign_in"
    if name == "sign_in":
        rows = SignIn(handheld, key="sign_in")
    elif name == "sync":
        rows = Sync(handheld, handheld.badge, key="sync")
    elif name in QUEUE_SCREENS:
        rows = Queue(handheld, QUEUE_SCREENS[name], key=name)
    else:
        rows = _SCREENS[name](handheld, key=name)
    controls: list[ft.Control] = [rows]
    if name in SCAN_SCREENS:  # the scan field (and the camera) first
        controls.insert(0, ScanInput(handheld, key="scan"))  # one field across screens: never replaced
        if handheld.camera is not None:
            controls.insert(1, CameraPanel(handheld, key="camera"))
    if name not in ("sign_in", "home"):
        back = _BACK_TO.get(name, "home")

        async def leave(_: object) -> None:
            handheld.workspace.touch()
            handheld.go(back)

        controls.append(big_button(handheld._("Home") if back == "home" else handheld._("Back"), leave, key="home"))
    return ft.Column(controls, spacing=14, scroll=ft.ScrollMode.AUTO, expand=True)

