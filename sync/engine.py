"""The device sync engine: pushes the outbox, pulls server state, and keeps trying.

One sync pushes every unanswered event in device_seq order, in batches (photos first; two batches
on their way at a time, so the API is never idle waiting for the device; a batch ends, where it
can, after the last event of its units, so the API can work out the next batch before this one is
written), records each answer in order, then pulls feed pages after the device's cursor until the
feed is exhausted, each page applied with its cursor in one transaction. In the app it runs on its
own thread with its own database connection, on a timer, on demand and after every failure with
exponential backoff and jitter, so the UI never waits for the network. Whatever the server
answers, no event is ever discarded: a refused batch stays in the outbox until the cause is fixed.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import orjson
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from domain import ReturnflowError
from local_db import DeviceStore
from local_db.replica import Answer, PushRow

from .credential import DeviceCredential
from .protocol import API_PREFIX

_log = logging.getLogger(__name__)


class SyncState(StrEnum):
    ONLINE = "online"  # the last sync succeeded
    OFFLINE = "offline"  # the central API cannot be reached
    SYNCING = "syncing"
    ERROR = "error"  # the API answered, but refused or failed: see the message


@dataclass(frozen=True)
class Progress:
    phase: str  # "push" or "pull"
    done: int
    total: int | None  # events to push; unknown for a pull


@dataclass(frozen=True)
class SyncStatus:
    state: SyncState
    pending: int = 0
    conflicts: int = 0
    rejected: int = 0
    last_success_at: dt.datetime | None = None
    progress: Progress | None = None
    message: str | None = None  # why the last sync failed, in words for people


@dataclass(frozen=True)
class SyncReport:
    pushed: int
    pulled: int
    seconds: float


class SyncFailed(ReturnflowError):
    """A sync stopped before the end; what it did so far is kept, and it is tried again."""

    state = SyncState.ERROR


class ApiUnreachable(SyncFailed):
    state = SyncState.OFFLINE


class ServerFailed(SyncFailed):
    """A 5xx, or an answer cut short: the server's problem, retried."""


class DeviceRefused(SyncFailed):
    """The API does not accept this device's credential (revoked, or a wrong secret)."""


class ServerTooOld(SyncFailed):
    """The API does not know the schema version of an event: the events wait for its upgrade."""


class ProtocolError(SyncFailed):
    """The API refused a request the device made; a bug on one side, reported and retried."""


class SyncEngine:
    def __init__(
        self,
        db_path: str | Path,
        erp_url: str,
        credential: DeviceCredential,
        *,
        batch_size: int = 500,
        in_flight: int = 2,
        page_size: int = 1000,
        interval_s: float = 10.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        request_attempts: int = 3,
        timeout: httpx.Timeout = httpx.Timeout(30.0, connect=5.0),
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._db_path = Path(db_path)
        self._credential = credential
        self._batch_size = batch_size
        self._in_flight = in_flight
        self._page_size = page_size
        self._interval_s = interval_s
        # Between whole syncs that failed: the API is down or refusing, so the waits grow.
        self._wait = wait_random_exponential(multiplier=backoff_s, max=max_backoff_s)
        # Within a sync, for one request: short waits, then the sync fails and the long waits begin.
        self._request_wait = wait_random_exponential(multiplier=backoff_s / 5, max=backoff_s * 4)
        self._request_attempts = request_attempts
        self._now = now
        self._client = httpx.Client(base_url=erp_url.rstrip("/") + API_PREFIX, headers=credential.headers(),
                                    timeout=timeout, transport=transport)
        self._status = SyncStatus(SyncState.OFFLINE)
        self._last_outcome = SyncState.OFFLINE  # of the last sync that ended: what a new attempt hides
        self._lock = threading.Lock()
        self._listeners: list[Callable[[SyncStatus], None]] = []
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Set when the server asks for events again from an earlier seq (it lost what it had acknowledged).
        self._resend_from: int | None = None

    # --- what the UI sees and does --------------------------------------------------------

    @property
    def status(self) -> SyncStatus:
        with self._lock:
            return self._status

    @property
    def last_outcome(self) -> SyncState:
        """How the last whole sync ended (online, offline, error): while an attempt runs the status
        says syncing, although the API may still be as unreachable as it was a moment ago."""
        with self._lock:
            return self._last_outcome

    def subscribe(self, listener: Callable[[SyncStatus], None]) -> None:
        """Call `listener` (on the sync thread) with every new status."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[SyncStatus], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def request_sync(self) -> None:
        """Sync now: cuts short the timer or a backoff wait."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="returnflow-sync", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def request_stop(self) -> None:
        """Stop after the request in flight (safe from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.request_stop()
        self.join(timeout)
        self._client.close()

    def run(self) -> None:
        """Sync until stopped: after a success wait for the timer or a request; after a failure back
        off with jitter (cut short by a request, so a reconnect is tried at once)."""
        with DeviceStore.open(self._db_path) as store:
            retrying = Retrying(wait=self._wait, sleep=self._nap, retry=retry_if_exception_type(SyncFailed),
                                stop=lambda _: self._stopping.is_set(), reraise=True)
            while not self._stopping.is_set():
                try:
                    retrying(self.sync_once, store)
                except SyncFailed:
                    pass  # only when stopping: the status already says what went wrong
                except Exception:  # the worker must outlive any bug: the outbox keeps the events
                    _log.exception("sync worker error")
                self._nap(self._interval_s)

    # --- one sync -------------------------------------------------------------------------

    def sync_once(self, store: DeviceStore) -> SyncReport:
        started = time.monotonic()
        self._refresh(store, SyncState.SYNCING)
        try:
            try:
                pushed = self._push(store)
            except (ServerTooOld, ProtocolError):
                self._pull(store)  # the outbox waits, but the device still gets the server's news
                raise
            pulled = self._pull(store)
        except SyncFailed as failed:
            self._refresh(store, failed.state, message=str(failed))
            raise
        except Exception as unexpected:  # keep the worker alive; the events are safe in the outbox
            self._refresh(store, SyncState.ERROR, message=f"sync failed: {unexpected}")
            raise SyncFailed(f"sync failed: {unexpected}") from unexpected
        finished = self._now()
        store.set_meta("last_sync_at", finished.isoformat())
        self._refresh(store, SyncState.ONLINE)
        return SyncReport(pushed, pulled, time.monotonic() - started)

    def _push(self, store: DeviceStore) -> int:
        """Send the outbox in device_seq order with up to `in_flight` batches on their way, so the
        API applies one while the next travels and is parsed (by another worker where it has
        several), and this thread reads batches and records answers meanwhile. Answers are recorded
        in order; after a failed or refused batch, the ones behind it are sent again (the API
        answers what it already applied as duplicates)."""
        seq = self._resend_from or store.next_push_seq()
        total = store.sync_counts()["pending"]
        size, pushed = self._batch_size, 0
        outbox = _Outbox(store)
        upcoming = outbox.batch(seq, size)
        in_flight: deque[tuple[list[PushRow], Future[httpx.Response]]] = deque()

        def send_upcoming() -> None:
            nonlocal upcoming
            while upcoming and len(in_flight) < self._in_flight:
                for sha256, content in store.photos_to_upload(upcoming):
                    self._request("PUT", f"/photos/{sha256}", content=content,
                                  headers={"content-type": "application/octet-stream"})
                    store.photo_uploaded(sha256)
                in_flight.append((upcoming, sender.submit(
                    self._request, "POST", "/sync/push", content=self._push_body(upcoming),
                    headers={"content-type": "application/json"}, expect=(200, 409, 413, 422))))
                upcoming = outbox.batch(upcoming[-1].device_seq + 1, size)

        with ThreadPoolExecutor(max_workers=self._in_flight, thread_name_prefix="returnflow-push") as sender:
            try:
                send_upcoming()
                while in_flight:
                    rows, answer = in_flight.popleft()
                    response = answer.result()
                    if response.status_code == 200:
                        results = _json(response)["results"]
                        try:
                            # The next batch leaves before this one's answers are written (an fsync):
                            # the API applies batches one after another, and should not wait for this thread.
                            send_upcoming()
                        finally:  # whatever sending it met (a photo upload that failed), the answers are kept
                            store.record_answers([
                                Answer(r["device_seq"], r["outcome"], r.get("rule"), r.get("exception_id"),
                                       r.get("reason"))
                                for r in results])
                        self._resend_from = None
                        pushed += len(rows)
                        self._progress("push", pushed, max(total, pushed))
                        continue
                    _settle(in_flight)  # behind a refused batch: sent again below
                    problem = _problem(response)
                    expected = problem.get("expected_seq")
                    if problem.get("error") == "gap" and isinstance(expected, int) and 1 <= expected < rows[0].device_seq:
                        seq = self._resend_from = expected  # the server lost events it had answered: send them again
                    elif response.status_code == 413 and size > 1:
                        seq, size = rows[0].device_seq, size // 2
                    elif problem.get("error") == "unsupported_schema":
                        raise ServerTooOld(f"the central API does not know this device's events yet "
                                           f"({problem.get('message')}); they are kept until it is upgraded")
                    else:
                        raise ProtocolError(f"the central API refused a push: {problem.get('message', response.status_code)}")
                    upcoming = outbox.batch(seq, size)
                    send_upcoming()
            finally:
                _settle(in_flight)  # no request outlives the sync
        return pushed

    def _pull(self, store: DeviceStore) -> int:
        cursor, pulled = store.pull_cursor(), 0
        while True:
            page = _json(self._request("GET", "/sync/pull", params={"after": cursor, "limit": self._page_size}))
            store.apply_pulled(page["changes"], page["cursor"])
            pulled += len(page["changes"])
            self._progress("pull", pulled, None)
            if not page["more"]:
                return pulled
            cursor = page["cursor"]

    def _push_body(self, rows: list[PushRow]) -> bytes:
        device_id = self._credential.device_id
        return orjson.dumps({"device_id": device_id, "sent_at": self._now().isoformat(), "events": [
            {"event_id": r.event_id, "device_id": device_id, "device_seq": r.device_seq, "hlc": r.hlc,
             "actor": r.actor, "role": r.role, "occurred_at": r.occurred_at, "type": r.type,
             "schema_version": r.schema_version, "base_version": r.base_version,
             "payload": orjson.Fragment(r.payload)}  # stored as JSON: sent as it is
            for r in rows]})

    def _request(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> httpx.Response:
        """One request, tried again at once (after a short jittered pause) when the connection drops
        or the server fails: a dropped request costs one retry, not the rest of a long catch-up. A push
        sent again is answered as a duplicate."""
        retrying = Retrying(wait=self._request_wait, stop=stop_after_attempt(self._request_attempts), sleep=self._nap,
                            retry=retry_if_exception_type((ApiUnreachable, ServerFailed)), reraise=True)
        return retrying(self._request_once, method, path, expect, kwargs)

    def _request_once(self, method: str, path: str, expect: tuple[int, ...], kwargs: dict[str, Any]) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnreachable(f"cannot reach the central API ({type(exc).__name__}); work goes on offline") from None
        if response.status_code in (401, 403):
            raise DeviceRefused(f"the central API refused this device: {_problem(response).get('message')}; "
                                "ask an admin to provision it again")
        if response.status_code >= 500:
            raise ServerFailed(f"the central API failed ({response.status_code}); trying again")
        if response.status_code not in expect:
            raise ProtocolError(f"the central API refused {method} {path}: "
                                f"{_problem(response).get('message', response.status_code)}")
        return response

    # --- status ---------------------------------------------------------------------------

    def _refresh(self, store: DeviceStore, state: SyncState, message: str | None = None) -> None:
        counts = store.sync_counts()
        last = store.meta("last_sync_at")
        self._publish(SyncStatus(state, counts["pending"], counts["conflict"], counts["rejected"],
                                 dt.datetime.fromisoformat(last) if last else None, None, message))

    def _progress(self, phase: str, done: int, total: int | None) -> None:
        self._publish(replace(self.status, progress=Progress(phase, done, total)))

    def _publish(self, status: SyncStatus) -> None:
        with self._lock:
            self._status = status
            if status.state is not SyncState.SYNCING:
                self._last_outcome = status.state
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(status)
            except Exception:  # a screen that went away must not stop the sync
                _log.exception("a sync status listener failed")

    def _nap(self, seconds: float) -> None:
        if self._wake.wait(seconds):
            self._wake.clear()


class _Outbox:
    """The pending events, read ahead, handed out in batches of up to `size` that end, where they
    can, after the last event of the units they hold. The API works out a batch while the one ahead
    of it is still being written, and keeps that work only if the batch ahead changed nothing it
    read: batches that share no unit are worked out side by side instead of one after the other."""

    def __init__(self, store: DeviceStore) -> None:
        self._store = store
        self._ahead: list[PushRow] = []  # read and not handed out yet: up to two batches' worth

    def batch(self, from_seq: int, size: int) -> list[PushRow]:
        ahead = self._ahead if self._ahead and self._ahead[0].device_seq == from_seq else []
        if len(ahead) < 2 * size:  # each event is read once, however many times it is looked ahead at
            ahead += self._store.pending_rows(ahead[-1].device_seq + 1 if ahead else from_seq, 2 * size - len(ahead))
        cut = unit_boundary([r.lpn for r in ahead], size)
        batch, self._ahead = ahead[:cut], ahead[cut:]
        return batch


def unit_boundary(lpns: list[str | None], size: int) -> int:
    """How many of these events, in order, make the next batch: the most, up to `size` and no fewer
    than half of it, after which none of the units they name comes up again in the rest; `size`
    when there is no such point. An event about no unit (a bin's) ends nowhere in particular."""
    if len(lpns) <= size:
        return len(lpns)
    last_seen = {lpn: i for i, lpn in enumerate(lpns) if lpn}
    cut, reach = size, -1  # reach: the last position at which a unit seen so far comes up
    for i, lpn in enumerate(lpns[:size]):
        if lpn:
            reach = max(reach, last_seen[lpn])
        if reach <= i and i + 1 >= max(1, size // 2):
            cut = i + 1
    return cut


def _settle(in_flight: deque[tuple[list[PushRow], Future[httpx.Response]]]) -> None:
    """Let the requests still on their way finish, whatever they end with: their batches are sent
    again, so their answers are not needed."""
    wait([answer for _, answer in in_flight])
    in_flight.clear()


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise ServerFailed("the central API sent an unreadable answer; trying again") from None


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    return body if isinstance(body, dict) else {"message": f"HTTP {response.status_code}"}
