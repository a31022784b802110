"""A minimal HTTP/1.1 client on raw asyncio streams, for tests that need hundreds of truly concurrent
requests: httpx's pool costs milliseconds per connection at that scale, which would be measured as
dyngen's latency."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def post_json(streams: tuple[asyncio.StreamReader, asyncio.StreamWriter], url: str, body: Any) -> RawResponse:
    """POST `body` as JSON over an open connection; the timer starts when the request is written."""
    reader, writer = streams
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    writer.write(head + payload)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    data = await reader.readexactly(length)
    return RawResponse(status, data, time.perf_counter() - started)
