"""What the handheld's process owns: the device store, the sync engine, and each browser's workspace.

A reload, a reconnect after the screen slept, or a second tab must find the person still signed in,
on the screen they were on, with the work in hand. So none of that belongs to a browser connection:
the device store is opened once for the process, and each browser (a token kept in its local
storage) has a workspace here, with the signed-in person, the screen, and each screen's model.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from local_db import DeviceStore
from sync.engine import SyncEngine

from .i18n import DEFAULT_LANGUAGE
from .models.common import Session
from .models.home import SignInModel, SyncModel

if TYPE_CHECKING:
    from .models.lookup import LookupModel
    from .models.receive import ReceiveModel
    from .models.supervisor import SupervisorModel
    from .models.unit_steps import UnitFlow


@dataclass
class Device:
    """The handheld: its store (opened on the UI's event loop thread, the one that uses it), its
    sync engine, its camera, and how long a person may leave it before being signed out."""

    db_path: Path
    engine: SyncEngine | None
    find_camera: Callable[[], int | str | None]
    idle_signout_s: float
    _store: DeviceStore | None = None
    workspaces: dict[str, Workspace] = field(default_factory=dict)

    @property
    def store(self) -> DeviceStore:
        if self._store is None:
            self._store = DeviceStore.open(self.db_path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def workspace(self, token: str | None) -> Workspace:
        """The workspace of the browser holding `token`; a new one for a new browser."""
        if token is None or token not in self.workspaces:
            token = token or secrets.token_urlsafe(16)
            self.workspaces[token] = Workspace(token, self)
        return self.workspaces[token]


@dataclass
class Workspace:
    """One browser's work on the handheld, kept across reloads, reconnects and tabs."""

    token: str
    device: Device
    session: Session | None = None
    screen: str = "sign_in"
    language: str = DEFAULT_LANGUAGE  # what the screens speak: the signed-in person's, or the sign-in screen's
    last_active: float = field(default_factory=time.monotonic)
    receive: ReceiveModel | None = None
    flow: UnitFlow | None = None
    lookup: LookupModel | None = None
    supervisor: SupervisorModel | None = None

    @property
    def sign_in_model(self) -> SignInModel:
        return SignInModel(self.device.store, self.device.engine)

    @property
    def sync(self) -> SyncModel:  # two references: made on each use rather than kept in step
        return SyncModel(self.device.store, self.device.engine, self.language)

    def signed_in(self, session: Session) -> None:
        # The scan screens' models load the scanner's libraries (OpenCV, zxing-cpp, zbar, biip): after
        # sign-in, not before the first screen (app.main preloads them meanwhile).
        from .models.lookup import LookupModel
        from .models.receive import ReceiveModel
        from .models.supervisor import SupervisorModel
        from .models.unit_steps import UnitFlow

        self.session, self.screen, self.language = session, "home", session.language
        self.receive, self.flow = ReceiveModel(session), UnitFlow(session)
        self.lookup, self.supervisor = LookupModel(session), SupervisorModel(session)

    def sign_out(self) -> None:
        self.session = self.receive = self.flow = self.lookup = self.supervisor = None
        self.screen = "sign_in"

    def touch(self) -> None:
        self.last_active = time.monotonic()

    def idle_too_long(self) -> bool:
        return self.session is not None and time.monotonic() - self.last_active > self.device.idle_signout_s
