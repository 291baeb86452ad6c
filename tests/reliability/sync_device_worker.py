"""Child process of test_sync_chaos: a handheld working and syncing in the background until killed.

Run as `python -m tests.reliability.sync_device_worker DB ERP_URL SEED LPN_BASE` from the project
root, on a device database that is initialised, connected (credential file beside it) and holds the
master data. It starts the real sync engine on its own thread, as the app does, and in the
foreground issues a realistic mix of device-store commands: receipts with LPNs from its own range
(LPN_BASE + 1, + 2, ...), the next step of its own units and now and then of a unit another device
received (pulled from the server), quarantines and releases, bin counts, quarantine-bin
reassignments, and commands the store must refuse. The central API may be down at any time: the
commands are local and the sync engine backs off and retries.

It says what it does on stdout, one line per os.write (atomic on a pipe, whichever thread writes):

    opening                               imports done, about to open the database
    ready <max device_seq>                database open, sync worker started, commands start
    saved <device_seq> <event_id>         a command returned: its event is committed
    refused <error class>                 a command meant to be refused was refused
    raced <error class>                   a command was refused because the sync worker changed
                                          the unit (a pulled page) between the read and the command
    sync <state> <pending> [message]      the sync engine's state after a sync (online, offline, error)

A command that fails without the sync worker having written in between, or one meant to be refused
that succeeds on unchanged data, ends the process with a traceback on stderr: the parent treats any
exit it did not cause as a failure. Choices are deterministic for a SEED and a database state; the
interleaving with the sync thread is not.
"""

from __future__ import annotations

import random
import sys
import time

import httpx

from domain import Event, ReturnflowError
from local_db import DeviceStore, StoreError
from sync.credential import credential_path, load_credential
from sync.engine import SyncEngine, SyncState, SyncStatus
from tests.reliability.crash_worker import Worker, say

LPN_SPAN = 10_000_000  # each device receives LPN numbers LPN_BASE + 1 ... LPN_BASE + LPN_SPAN - 1
OTHER_DEVICES_UNIT = 0.15  # share of next steps taken on a unit another device received
PUSH_BATCH = 25  # small batches: a sync is several pushes, so kills land between them
PULL_PAGE = 200
SYNC_INTERVAL_S = 0.25
CLOSED_STATES = ("stored", "closed", "disputed")  # nothing for an associate to do (disputed waits for a supervisor)


class NotRefused(Exception):
    """A command meant to be refused was accepted on data nobody else had changed."""


class DeviceWorker(Worker):
    """crash_worker's associate, on a device that also syncs: units come and change from the server too."""

    def __init__(self, store: DeviceStore, rng: random.Random, lpn_base: int) -> None:
        super().__init__(store, rng)
        self.lpn_base = lpn_base
        conn = store.db.conn
        # From the log, not from the units: a unit whose receipt the server rejected leaves the view,
        # its license plate is still used.
        received = [int(r[0][4:13]) for r in conn.execute(
            "SELECT json_extract(payload, '$.lpn') FROM events WHERE type IN ('rma_receipt', 'blind_receipt')")]
        self.next_lpn = 1 + max((n for n in received if lpn_base < n < lpn_base + LPN_SPAN), default=lpn_base)
        self.own: list[str] = []
        self.others: list[str] = []

    def _open_units(self) -> None:
        rows = self.store.db.conn.execute(
            f"SELECT lpn FROM units WHERE state NOT IN ({', '.join('?' * len(CLOSED_STATES))}) ORDER BY lpn",
            CLOSED_STATES).fetchall()
        self.own, self.others = [], []
        for (lpn,) in rows:
            (self.own if self.lpn_base < int(lpn[4:13]) < self.lpn_base + LPN_SPAN else self.others).append(lpn)
        self.open_lpns = self.own + self.others  # what Worker's count_bin and advance use

    def step(self) -> tuple[Event | None, str | None]:
        """One command: (its event, None) when it succeeded, (None, error class) when refused as meant."""
        self._open_units()
        roll = self.rng.random()
        if len(self.own) < 4 or roll < 0.2:
            return self.receive(), None
        if roll < 0.25:
            return self.refused_or_raced()
        if roll < 0.26:
            return self.count_bin(), None
        if roll < 0.265:
            return self.reassign_quarantine_bin(), None
        pool = self.others if self.others and self.rng.random() < OTHER_DEVICES_UNIT else self.own
        unit = self.store.unit(self.rng.choice(pool))
        if unit.state.value in CLOSED_STATES:  # a pulled page changed it since the list was read
            return None, "raced"
        return self.advance(unit), None

    def refused_or_raced(self) -> tuple[Event | None, str | None]:
        """A command the store must refuse. If it is accepted all the same, (its event, "accepted"):
        the caller decides whether the sync worker changed the data in between."""
        try:
            return self.refusal()(), "accepted"
        except ReturnflowError as exc:
            return None, type(exc).__name__


def data_version(store: DeviceStore) -> int:
    """Moves when another connection (the sync worker's) commits to the file."""
    return store.db.conn.execute("PRAGMA data_version").fetchone()[0]


def report_status(status: SyncStatus) -> None:
    if status.progress is None and status.state is not SyncState.SYNCING:
        message = f" {status.message}" if status.state is not SyncState.ONLINE and status.message else ""
        say(f"sync {status.state.value} {status.pending}{message}")


def main(db_path: str, erp_url: str, seed: int, lpn_base: int) -> None:
    rng = random.Random(seed)
    say("opening")
    store = DeviceStore.open(db_path)
    engine = SyncEngine(db_path, erp_url, load_credential(credential_path(db_path)), batch_size=PUSH_BATCH,
                        page_size=PULL_PAGE, interval_s=SYNC_INTERVAL_S, backoff_s=0.05, max_backoff_s=0.5,
                        timeout=httpx.Timeout(20.0, connect=2.0))
    engine.subscribe(report_status)
    worker = DeviceWorker(store, rng, lpn_base)
    engine.start()
    say(f"ready {store.db.conn.execute('SELECT COALESCE(MAX(device_seq), 0) FROM events').fetchone()[0]}")
    while True:
        before = data_version(store)
        try:
            event, refused = worker.step()
        except StoreError as exc:
            if "busy" not in str(exc):
                raise
            say("raced busy")  # the sync worker held the write lock longer than busy_timeout
            continue
        except ReturnflowError as exc:
            if data_version(store) == before:
                raise  # refused on data only this process wrote: the store contradicts itself
            say(f"raced {type(exc).__name__}")
            continue
        if refused == "raced":
            if data_version(store) == before:
                raise AssertionError("a unit listed as open was not, on data only this process wrote")
            say("raced state")
        elif event is not None:
            if refused == "accepted" and data_version(store) == before:
                raise NotRefused(f"the store accepted a command it must refuse: event {event.device_seq} {event.type}")
            say(f"saved {event.device_seq} {event.event_id}")
        else:
            say(f"refused {refused}")
        # A (very quick) associate between scans: ~25 commands a second; kills land while idle as
        # well as mid-command.
        time.sleep(rng.uniform(0, 0.08))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
