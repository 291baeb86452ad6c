"""The per-browser Handheld on a session whose browser is gone for a while (a screen that slept, a
reload on its way): what it is asked to do still happens, and nothing raises in the asker."""

from __future__ import annotations

from types import SimpleNamespace

from app.handheld import Handheld
from app.models.common import Feedback, Session
from app.workspace import Device
from tests.conftest import ASSOCIATE


class Page:
    """As Flet's page behaves: run_task needs the session's connection (else it raises)."""

    def __init__(self) -> None:
        self.session = SimpleNamespace(connection=None)
        self.ran: list[str] = []

    def run_task(self, handler, *args) -> None:
        self.session.connection.loop  # noqa: B018 - Flet's own page raises here without a connection
        self.ran.append(handler.__name__)


def handheld_on(db_path) -> tuple[Handheld, Page]:
    device = Device(db_path, engine=None, find_camera=lambda: None, idle_signout_s=600)
    workspace = device.workspace(None)
    workspace.signed_in(Session(device.store, ASSOCIATE))
    page = Page()
    return Handheld(page, workspace), page  # type: ignore[arg-type]


def test_a_sign_out_while_no_browser_is_connected_still_signs_out(store, tmp_path):
    handheld, page = handheld_on(tmp_path / "device.db")
    handheld.sign_out("signed out after 10 minutes without use")  # the idle watch, while the screen sleeps
    assert handheld.workspace.session is None and handheld.screen.name == "sign_in"
    assert handheld.banner.message == "signed out after 10 minutes without use" and page.ran == []


def test_with_a_browser_connected_the_sound_and_a_scanners_burst_run_on_its_loop(store, tmp_path):
    handheld, page = handheld_on(tmp_path / "device.db")
    page.session.connection = SimpleNamespace(loop=None)
    handheld.flash(Feedback(True, "saved"))
    for char in "LPN-0000000017":  # a scanner's burst: all its keys at once, then Enter
        handheld.router.key(char)
    handheld.router.key("Enter")
    assert page.ran == ["_play", "scan"]
