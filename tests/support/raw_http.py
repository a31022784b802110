"""A raw HTTP/1.1 server on loopback for the tests of the providers' wire: it sees the bytes sent (each
request's head and body, and how many connections) and answers as a test's `Answer` says, misbehaving when
asked (silent, cut off, trickling)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

Answer = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Seen:
    """What a server on loopback received: each request's head and body, and how many connections."""

    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    connections: int = 0


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """One request's head and body (Content-Length or chunked), None at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:])}
    if b"content-length" in lines:
        return head, await reader.readexactly(int(lines[b"content-length"]))
    body = b""
    if lines.get(b"transfer-encoding") == b"chunked":
        while size := int((await reader.readline()).strip(), 16):
            body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
    return head, body


Serve = Callable[..., Awaitable[tuple[int, Seen]]]


def ok(body: bytes, *, headers: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), headers, body)


@asynccontextmanager
async def raw_servers() -> AsyncIterator[Serve]:
    """`start(answer, tls=None)` starts a server and gives its port and what it sees; all close at the end."""
    servers: list[asyncio.Server] = []

    async def start(answer: Answer, *, tls: ssl.SSLContext | None = None) -> tuple[int, Seen]:
        seen = Seen()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.connections += 1
            try:
                while request := await read_request(reader):
                    seen.heads.append(request[0])
                    seen.bodies.append(request[1])
                    await answer(request[0], reader, writer)
                    await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(connection, "127.0.0.1", 0, ssl=tls)
        servers.append(server)
        return server.sockets[0].getsockname()[1], seen

    try:
        yield start
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


async def echo_path(head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(ok(head.split(b" ")[1], headers=b"X-Twice: a\r\nX-Twice: b\r\n"))


def cut_off_on(nth: int) -> Answer:
    """Whole answers but for the `nth` call's: the server drops the kept-alive connection halfway through it."""
    calls = 0

    async def answer(_head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        if calls == nth:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
            await writer.drain()
            writer.transport.abort()
            return
        writer.write(ok(b"whole"))

    return answer
