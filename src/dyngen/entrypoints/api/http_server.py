"""How `dyngen serve` speaks HTTP: uvicorn's httptools protocol, its writes of one event loop turn sent as one.

uvicorn writes a response's status line and headers when the app sends `http.response.start`, and its body
in a second write when the app sends `http.response.body`: two system calls and two TCP segments for every
answer of one body (a cache hit, any JSON answer). Here what a connection is given to write during a turn
of the event loop is held and written at the end of that turn, in one write (flush consolidation, as
Netty's and uWebSockets' servers do it); a write over `JOIN_MAX` goes at once, after what was held. The
bytes and their order are uvicorn's; an answer leaves at most one turn later (the turns of a busy server
are a fraction of a millisecond).

Issue 18, measured with `bench.http_cache_hits`' server and load generator (16 connections, cache hits of
varied player contexts, two rounds of two 3 s phases each, A B A B against `6b888ea`): 160-169 µs of server
CPU per hit against 190-253 µs, 5,800-6,200 hits/s against 3,900-5,200. Part of it is the writes (half as
many system calls: `strace -c`); part is that a turn's answers leave together, so a client's next requests
come back together and each turn of the loop (and each wake-up of the client) handles more of them. A
version that joined a head with its body at once, without waiting for the end of the turn, halved the writes
too but read the same as uvicorn's within this machine's noise.

An answer that took a while to make (a generation: `QUICK_S` or more since the app started on it) is written
as soon as it is whole instead: it is not one of a burst of quick answers, and the end of the turn is a turn
of the loop later, which each miss waited for (issue 18: misses with a 50 ms upstream at c=32, `bench.miss`'s
server and load generator, A B B A twice, 3 rounds each: a median of 555 misses/s before, 574 with this).
Quick answers go on leaving with their turn: flushing every answer when whole took cache hits from ~20,700
to ~16,600/s and 48 to 60 µs of server CPU each (`python -m bench http`), as the version above did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # uvicorn[standard] brings httptools

JOIN_MAX = 256 * 1024
"""Bytes: a write up to this size waits for the end of the turn with the others; a bigger one goes at once,
after what was held, rather than be copied."""


QUICK_S = 0.002
"""Seconds: an answer made within this time of its request's start leaves at the end of the turn with the
others; a slower one leaves as soon as it is whole."""


class CoalescingTransport:
    """A connection's transport whose writes of one event loop turn go out as one, at the end of the turn."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if len(data) > JOIN_MAX:
            self.flush()
            self._transport.write(data)
        elif self._held is not None:
            self._held.append(bytes(data))
        else:
            self._held = [bytes(data)]
            self._loop.call_soon(self.flush)

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def flush(self) -> None:
        """Write what is held (at the end of the turn it was written in, or before the connection closes)."""
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (sum(map(len, held)) if held else 0)

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...: the transport's
        return getattr(self._transport, name)


class _Timed:
    """A connection's app, noting on the connection when it starts on each request (`_begun`): the time an
    answer took to make is counted from there, not from when the request was read, which also counts the
    turns it waited for the loop (under load those alone passed `QUICK_S`, and quick answers lost their
    turn's company). The app's own coroutine is handed back: no frame is added to the request."""

    __slots__ = ("app", "protocol")

    def __init__(self, app: Any, protocol: CoalescingHttpToolsProtocol) -> None:
        self.app = app
        self.protocol = protocol

    def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        self.protocol._begun = self.protocol.clock()
        return self.app(scope, receive, send)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `CoalescingTransport`: what `dyngen serve` gives uvicorn as `http`."""

    clock: Callable[[], float] = time.monotonic  # tests set their own
    _begun = 0.0  # when the app started on the request being answered, by `clock`
    _timed: _Timed | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        # A connection's requests are answered one after another (a pipelined one starts once the one before
        # is answered), so one note per connection is each answer's own.
        timed = self._timed
        if timed is None or timed.app is not app:
            timed = self._timed = _Timed(app, self)
        super()._start_asgi_task(cycle, timed)

    def on_response_complete(self) -> None:
        if self.clock() - self._begun >= QUICK_S:
            self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()
