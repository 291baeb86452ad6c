"""The fault proxy of tests/faults.py, fault by fault, between a real httpx client and a real uvicorn server.

The upstream counts the requests it answered, which tells "the API applied it" from "the API never saw it".
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.faults import Fault, FaultProxy
from tests.processes import free_port

pytestmark = pytest.mark.filterwarnings("error")  # an unclosed socket or transport fails the test

MB2 = 2 * 1024 * 1024


def payload(size: int) -> bytes:
    return (bytes(range(251)) * (size // 251 + 1))[:size]


class Upstream:
    """A stand-in API: uvicorn in a thread; `/echo` answers with a Content-Length body, `/stream` chunked."""

    def __init__(self, keep_alive_s: float = 5) -> None:
        self.received = 0
        self.port = free_port()
        app = Starlette(routes=[Route("/echo", self.echo, methods=["GET", "POST"]), Route("/stream", self.stream)])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="off", ws="none", log_config=None,
                                timeout_keep_alive=keep_alive_s)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="upstream", daemon=True)

    def __enter__(self) -> Upstream:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "upstream did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()

    async def echo(self, request: Request) -> Response:
        body = await request.body()
        self.received += 1
        size = int(request.query_params.get("size", "10"))
        return Response(payload(size), headers={"x-body-sha256": hashlib.sha256(body).hexdigest()})

    async def stream(self, request: Request) -> StreamingResponse:
        self.received += 1
        data = payload(int(request.query_params["size"]))

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 256 * 1024):
                yield data[start:start + 256 * 1024]

        return StreamingResponse(chunks())


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with Upstream() as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def quiet_event_loops(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No event loop logged trouble (a failed connection task, a task destroyed pending), no proxy left running."""
    yield
    trouble = [r.getMessage() for when in ("setup", "call", "teardown") for r in caplog.get_records(when)
               if r.name == "asyncio" and r.levelno >= logging.WARNING]
    assert not trouble
    assert "fault-proxy" not in {t.name for t in threading.enumerate()}


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.port) as proxy:
        yield proxy


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        yield client


def stalled(proxy: FaultProxy, client: httpx.Client, pool: ThreadPoolExecutor) -> Future:
    """A request the proxy holds (STALL), running in `pool`; returned once the proxy has it."""
    proxy.next_faults([Fault.STALL])
    future = pool.submit(client.get, "/echo")
    deadline = time.monotonic() + 5
    while proxy.counts[Fault.STALL] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return future


def test_requests_and_responses_pass_through_whole_in_both_framings(proxy, client, upstream):
    before = upstream.received
    body = payload(MB2)
    sha = hashlib.sha256(body).hexdigest()
    assert client.get("/echo", params={"size": MB2}).content == payload(MB2)
    assert client.post("/echo", content=body).headers["x-body-sha256"] == sha  # Content-Length
    chunked = client.post("/echo", content=iter([body[:MB2 // 2], body[MB2 // 2:]]))
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    assert chunked.headers["x-body-sha256"] == sha
    streamed = client.get("/stream", params={"size": MB2})
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert streamed.content == payload(MB2)
    assert upstream.received - before == 4
    assert proxy.counts == {fault: 0 for fault in Fault} | {"forwarded": 4}


@pytest.mark.parametrize(("fault", "forwarded"), [(Fault.DROP_REQUEST, 0), (Fault.DROP_RESPONSE, 1)])
def test_dropped_exchange_is_a_transport_error_and_the_next_request_works(proxy, client, upstream, fault, forwarded):
    before = upstream.received
    proxy.next_faults([fault])
    with pytest.raises(httpx.TransportError):
        client.post("/echo", content=b'{"events": []}')
    assert upstream.received - before == forwarded
    assert client.get("/echo").status_code == 200
    assert proxy.counts[fault] == 1


@pytest.mark.parametrize("path", ["/echo", "/stream"])
def test_cut_response_is_a_protocol_or_read_error_after_the_api_applied_it(proxy, client, upstream, path):
    before = upstream.received
    proxy.next_faults([Fault.CUT_RESPONSE])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(path, params={"size": MB2})
    assert upstream.received - before == 1


@pytest.mark.parametrize(("fault", "status", "forwarded"), [(Fault.ERROR_5XX, 503, 0), (Fault.ERROR_5XX_AFTER, 502, 1)])
def test_injected_server_error(proxy, client, upstream, fault, status, forwarded):
    before = upstream.received
    proxy.next_faults([fault])
    response = client.post("/echo", content=b"x" * 1000)
    assert response.status_code == status
    assert "injected" in response.json()["detail"]
    assert upstream.received - before == forwarded
    assert client.get("/echo").status_code == 200  # the connection stays usable


def test_delay_holds_the_answer_back(proxy, client):
    proxy.delay_s = 0.3
    proxy.next_faults([Fault.DELAY])
    start = time.monotonic()
    assert client.get("/echo").content == payload(10)
    assert time.monotonic() - start >= 0.3


def test_stall_makes_the_client_time_out_without_forwarding(proxy, upstream):
    before = upstream.received
    proxy.next_faults([Fault.STALL])
    with httpx.Client(base_url=proxy.url, timeout=httpx.Timeout(5, read=0.5)) as client:
        start = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get("/echo")
        assert time.monotonic() - start < 2
        assert upstream.received == before
        assert client.get("/echo").status_code == 200


def test_offline_cuts_open_connections_and_refuses_new_ones_until_online(proxy, client, upstream):
    with ThreadPoolExecutor(1) as pool:
        held = stalled(proxy, client, pool)
        proxy.offline()
        with pytest.raises(httpx.TransportError):
            held.result(timeout=2)
    before = upstream.received
    for _ in range(2):
        with pytest.raises(httpx.TransportError):
            client.get("/echo")
    assert upstream.received == before
    proxy.online()
    assert client.get("/echo").status_code == 200


def test_a_killed_api_is_a_quick_transport_error():
    with Upstream() as upstream, FaultProxy(upstream.port) as proxy, httpx.Client(base_url=proxy.url) as client:
        assert client.get("/echo").status_code == 200  # leaves a kept-alive upstream connection behind
        upstream.stop()
        for _ in range(2):  # on the kept-alive client connection, then on a fresh one
            start = time.monotonic()
            with pytest.raises(httpx.TransportError):
                client.get("/echo", timeout=5)
            assert time.monotonic() - start < 1


def test_an_api_closing_an_idle_connection_goes_unnoticed():
    with (Upstream(keep_alive_s=0.1) as upstream, FaultProxy(upstream.port) as proxy,
          httpx.Client(base_url=proxy.url, timeout=5) as client):
        for _ in range(3):
            assert client.get("/echo").status_code == 200
            time.sleep(0.3)  # the API closes its side; the proxy reconnects for the next request


def test_stop_cuts_held_requests_and_closes_the_listener(proxy, client):
    with ThreadPoolExecutor(1) as pool:
        held = stalled(proxy, client, pool)
        proxy.stop()
        with pytest.raises(httpx.TransportError):
            held.result(timeout=2)
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy.url + "/echo")


def test_drawn_faults_replay_with_the_same_seed(upstream):
    def run(seed: int) -> tuple[dict, list]:
        with FaultProxy(upstream.port, seed=seed) as proxy, httpx.Client(base_url=proxy.url, timeout=5) as client:
            proxy.set_faults({Fault.DROP_REQUEST: 0.2, Fault.ERROR_5XX: 0.2, Fault.DROP_RESPONSE: 0.1})
            outcomes = []
            for _ in range(40):
                try:
                    outcomes.append(client.get("/echo").status_code)
                except httpx.TransportError:
                    outcomes.append("dropped")
            return proxy.counts, outcomes

    counts, outcomes = run(seed=7)
    assert (counts, outcomes) == run(seed=7)
    assert all(counts[f] > 0 for f in (Fault.DROP_REQUEST, Fault.ERROR_5XX, Fault.DROP_RESPONSE))
    assert counts["forwarded"] == 40 - counts[Fault.DROP_REQUEST] - counts[Fault.ERROR_5XX]
    assert outcomes.count(503) == counts[Fault.ERROR_5XX]
