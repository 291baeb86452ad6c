"""A fault-injecting HTTP/1.1 proxy on real loopback sockets, between a device's httpx client and the API.

Sync tests and benchmarks point the client at `proxy.url`; the proxy forwards to 127.0.0.1:upstream_port
and breaks chosen requests in the ways a real network does (see `Fault`). Faults are decided per HTTP
request, not per connection, because httpx keeps connections alive. h11 finds the message boundaries;
each message is read whole before it is passed on, so a fault never lands mid-message by accident.

    with FaultProxy(api_port, seed=1) as proxy:
        proxy.set_faults({Fault.DROP_RESPONSE: 0.05, Fault.ERROR_5XX: 0.05})
        proxy.next_faults([Fault.DROP_RESPONSE])  # forced on the very next request
        ...  # sync against proxy.url
        proxy.offline(); ...; proxy.online()

The proxy runs its own event loop in a daemon thread; every public method may be called from any thread.
"""

from __future__ import annotations

import asyncio
import enum
import json
import random
import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping

import h11

READ_SIZE = 64 * 1024


class Fault(enum.StrEnum):
    DROP_REQUEST = "drop_request"  # close after reading the request; the API never sees it
    DROP_RESPONSE = "drop_response"  # the API applies the request; the client gets no answer
    CUT_RESPONSE = "cut_response"  # the client gets the head and about half the body, then a close
    ERROR_5XX = "error_5xx"  # 503 from the proxy; the API never sees the request
    ERROR_5XX_AFTER = "error_5xx_after"  # the API applies the request; the client sees 502
    DELAY = "delay"  # the answer arrives `delay_s` late
    STALL = "stall"  # nothing is forwarded or answered until the client gives up


Message = list[h11.Event]  # a head, its body pieces and EndOfMessage


class FaultProxy:
    def __init__(self, upstream_port: int, *, seed: int = 0, delay_s: float = 0.2) -> None:
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self.port = 0  # known once started
        self._lock = threading.Lock()  # guards the fault plan and the counts
        self._random = random.Random(seed)
        self._probabilities: dict[Fault, float] = {}
        self._forced: deque[Fault | None] = deque()
        self._counts: Counter[Fault | str] = Counter()
        self._online = True
        self._tasks: set[asyncio.Task] = set()  # one per client connection
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("fault proxy did not start listening")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)
        self._thread = self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_faults(self, probabilities: Mapping[Fault, float]) -> None:
        """Each request gets at most one fault, drawn with these probabilities (replacing the previous ones)."""
        if sum(probabilities.values()) > 1 or any(p < 0 for p in probabilities.values()):
            raise ValueError(f"fault probabilities must be >= 0 and add up to at most 1: {probabilities}")
        with self._lock:
            self._probabilities = {Fault(f): p for f, p in probabilities.items()}

    def next_faults(self, faults: Iterable[Fault | None]) -> None:
        """Force these faults, in order, on the next requests (None: pass that one through); before any draw."""
        with self._lock:
            self._forced.extend(faults)

    def offline(self) -> None:
        """A network outage: open connections are cut, new ones closed at once, until `online()`."""
        self._online = False
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._cut_all)

    def online(self) -> None:
        self._online = True

    @property
    def counts(self) -> dict[Fault | str, int]:
        """How many times each fault was injected, and under "forwarded" how many requests the API answered."""
        with self._lock:
            return {fault: self._counts[fault] for fault in Fault} | {"forwarded": self._counts["forwarded"]}

    def _choose(self) -> Fault | None:
        with self._lock:
            if self._forced:
                fault = self._forced.popleft()
            else:
                # One draw per request, so a seed replays the same faults for the same sequence of requests.
                draw, fault = self._random.random(), None
                for candidate, probability in self._probabilities.items():
                    if draw < probability:
                        fault = candidate
                        break
                    draw -= probability
            if fault is not None:
                self._counts[fault] += 1
            return fault

    def _count_forwarded(self) -> None:
        with self._lock:
            self._counts["forwarded"] += 1

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            self._cut_all()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _cut_all(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        upstream = _Upstream(self.upstream_port)
        client = h11.Connection(h11.SERVER)
        try:
            while self._online and (request := await _receive(client, reader)) is not None:
                # A request that arrives as the network goes down is lost with it.
                if not self._online or not await self._exchange(request, client, reader, writer, upstream):
                    break
                if client.our_state is not h11.DONE or client.their_state is not h11.DONE:
                    break  # either side asked to close
                client.start_next_cycle()
        except (OSError, h11.ProtocolError):
            pass  # the client went away or spoke broken HTTP: the connection just ends
        except asyncio.CancelledError:
            # An outage or stop(): what is in flight is lost. The task then ends quietly, since Python 3.11
            # logs an error for every cancelled connection task of asyncio.start_server.
            writer.transport.abort()
        finally:
            self._tasks.discard(task)
            upstream.close()
            writer.close()  # flushes what was written (a cut response's first half), then closes

    async def _exchange(self, request: Message, client: h11.Connection, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter, upstream: _Upstream) -> bool:
        """Handle one request under its fault; False when the client connection must close."""
        fault = self._choose()
        if fault is Fault.DROP_REQUEST:
            return False
        if fault is Fault.STALL:
            while await reader.read(READ_SIZE):
                pass  # hold the connection until the client closes it (or the proxy cuts it)
            return False
        if fault is Fault.ERROR_5XX:
            await _send(client, writer, _error(503))
            return True
        response = await upstream.exchange(request)
        if response is not None:
            self._count_forwarded()
        if response is None or fault is Fault.DROP_RESPONSE:
            return False  # an unreachable API shows as a closed connection, as it would without the proxy
        if fault is Fault.ERROR_5XX_AFTER:
            response = _error(502)
        elif fault is Fault.DELAY:
            await asyncio.sleep(self.delay_s)
        elif fault is Fault.CUT_RESPONSE:
            head = client.send(response[0])
            rest = b"".join(client.send(event) for event in response[1:])
            # With no body to halve (Content-Length: 0) half the head is cut instead, so the cut always shows.
            writer.write(head + rest[: len(rest) // 2] if rest else head[: len(head) // 2])
            await writer.drain()
            return False
        await _send(client, writer, response)
        return True


class _Upstream:
    """A client connection's own connection to the API, opened when a request first needs it.

    It is reopened when the API closed it while idle (keep-alive timeout), as httpx would do itself.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.conn: h11.Connection | None = None

    async def exchange(self, request: Message) -> Message | None:
        """Forward one request and return the whole response; None if the API is unreachable or hung up."""
        try:
            if self.writer is None or self.reader.at_eof():
                self.close()
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.conn = h11.Connection(h11.CLIENT)
            await _send(self.conn, self.writer, request)
            response = await _receive(self.conn, self.reader)
        except (OSError, h11.ProtocolError):
            response = None
        if response is not None and self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        else:
            self.close()
        return response

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()  # after a whole response nothing is pending; mid-request, it is an outage
            self.writer = None


async def _receive(conn: h11.Connection, reader: asyncio.StreamReader) -> Message | None:
    """The next whole message from the peer; None if it closed the connection between messages."""
    message: Message = []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_SIZE))
        elif isinstance(event, h11.ConnectionClosed):
            return None
        else:
            message.append(event)
            if isinstance(event, h11.EndOfMessage):
                return message


async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, message: Message) -> None:
    writer.write(b"".join(conn.send(event) for event in message))
    await writer.drain()


def _error(status: int) -> Message:
    body = json.dumps({"detail": f"fault proxy: injected {status}"}).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    return [h11.Response(status_code=status, headers=headers), h11.Data(data=body), h11.EndOfMessage()]
