"""`entrypoints/api/http_server.py`: a connection's writes of one event loop turn go out as one, at its end."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from dyngen.entrypoints.api import http_server
from dyngen.entrypoints.api.http_server import CoalescingHttpToolsProtocol, CoalescingTransport


class RecordingTransport:
    """What a connection's transport was asked to do."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name == "peername" else default


async def turn() -> None:
    """Let the event loop finish its current turn (and run what was scheduled for the next)."""
    await asyncio.sleep(0)


def coalescing() -> tuple[CoalescingTransport, RecordingTransport]:
    recorded = RecordingTransport()
    return CoalescingTransport(recorded, asyncio.get_running_loop()), recorded  # type: ignore[arg-type]


async def test_the_writes_of_one_turn_go_out_as_one_write_at_its_end() -> None:
    transport, recorded = coalescing()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(memoryview(b"{}"))

    assert recorded.writes == []
    await turn()
    assert recorded.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"next")
    await turn()
    assert recorded.writes[1:] == [b"next"]


async def test_a_big_write_goes_at_once_after_what_was_held() -> None:
    transport, recorded = coalescing()
    big = b"x" * (http_server.JOIN_MAX + 1)
    transport.write(b"head")
    transport.write(big)

    assert recorded.writes == [b"head", big]
    await turn()
    assert recorded.writes == [b"head", big]


async def test_close_and_eof_write_what_was_held_first_and_abort_drops_it() -> None:
    transport, recorded = coalescing()
    transport.write(b"last answer")
    transport.close()
    assert (recorded.writes, recorded.closing) == ([b"last answer"], True)

    transport, recorded = coalescing()
    transport.write(b"body")
    transport.write_eof()
    assert recorded.writes == [b"body", b"<eof>"]

    transport, recorded = coalescing()
    transport.write(b"never sent")
    transport.abort()
    await turn()
    assert (recorded.writes, recorded.aborted) == ([], True)


async def test_nothing_is_written_to_a_closing_transport_and_the_rest_is_the_transports() -> None:
    transport, recorded = coalescing()
    transport.write(b"12345")
    assert transport.get_write_buffer_size() == 7 + 5
    recorded.closing = True  # the peer went away before the end of the turn
    await turn()

    assert recorded.writes == []
    assert transport.is_closing() is True
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1234)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Plain answers, an answer without a body, a stream across turns, and a failure."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/boom":
        raise RuntimeError("a bug")
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for n in range(3):
            await asyncio.sleep(0.001)
            await send({"type": "http.response.body", "body": f"chunk {n};".encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    body = f"{scope['method']} {path}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200 if path != "/empty" else 204, "headers": headers})
    await send({"type": "http.response.body", "body": body if path != "/empty" else b""})


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # calls wait in the backlog until uvicorn has started
    config = uvicorn.Config(app, http=CoalescingHttpToolsProtocol, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving


async def test_uvicorn_on_the_coalescing_protocol_answers_every_kind_of_answer(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:  # one kept-alive connection for all of them
        answers = [await client.get(f"/{n}") for n in range(5)]
        head = await client.head("/x")
        empty = await client.get("/empty")
        async with client.stream("GET", "/stream") as streamed:
            chunks = [chunk async for chunk in streamed.aiter_bytes()]
        failed = await client.get("/boom")

    assert [a.text for a in answers] == [f"GET /{n}" for n in range(5)]
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "7")
    assert (empty.status_code, empty.content) == (204, b"")
    assert b"".join(chunks) == b"chunk 0;chunk 1;chunk 2;"
    assert failed.status_code == 500


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def connected(app: Any) -> tuple[CoalescingHttpToolsProtocol, Clock, RecordingTransport]:
    """The protocol serving `app` on a connection made to a recording transport, on a clock the test moves."""
    clock = Clock()
    config = uvicorn.Config(app, log_level="critical", lifespan="off")
    protocol = CoalescingHttpToolsProtocol(config, uvicorn.server.ServerState(), {}, asyncio.get_running_loop())
    protocol.clock = clock  # type: ignore[method-assign]
    recorded = RecordingTransport()
    protocol.connection_made(recorded)  # type: ignore[arg-type]
    return protocol, clock, recorded


async def test_an_answer_slower_than_quick_leaves_when_whole_and_a_quick_one_at_the_end_of_the_turn() -> None:
    gate = asyncio.Event()

    async def waiting_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    protocol, clock, recorded = connected(waiting_app)

    for waited, leaves_at_once in ((http_server.QUICK_S * 2, True), (http_server.QUICK_S / 2, False)):
        recorded.writes.clear()
        gate.clear()
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await turn()  # the app started and waits at the gate
        clock.now += waited
        gate.set()  # the app answers in the next turn, before this test goes on in that same turn
        await turn()

        assert len(recorded.writes) == (1 if leaves_at_once else 0), waited
        await turn()
        [answer] = recorded.writes
        assert answer.startswith(b"HTTP/1.1 200 OK")
        assert answer.endswith(b"\r\n\r\nok")
    protocol.connection_lost(None)


async def test_an_answer_made_at_once_after_waiting_for_the_loop_is_quick() -> None:
    """What counts is the time from the app's start: a hit read in one turn and started after the loop's busy
    turns (which alone pass `QUICK_S` under load) still leaves with its turn's others."""

    async def quick_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    protocol, clock, recorded = connected(quick_app)

    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.now += http_server.QUICK_S * 2  # the loop is busy before the request's task starts
    await turn()  # the app starts and answers in this turn

    assert recorded.writes == [], "held for the end of the turn"
    await turn()
    assert len(recorded.writes) == 1
    protocol.connection_lost(None)
