"""Server-Sent Events for the event streams of jobs and warm-up runs: one framing, resumable with
`Last-Event-ID`, with a keep-alive comment while nothing happens."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

from fastapi.responses import StreamingResponse


class StreamEvent(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...


def resume_after(last_event_id: str | None) -> int:
    """The event id to resume after: the client's `Last-Event-ID`, 0 when it sent none (or garbage).

    ASCII digits only (`str.isdigit()` takes superscripts, which `int()` refuses), and no more than a
    database integer holds.
    """
    if not last_event_id or not last_event_id.isascii() or not last_event_id.isdigit() or len(last_event_id) > 18:
        return 0
    return int(last_event_id)


def event_stream(events: AsyncIterator[StreamEvent | None], *, about: dict[str, str]) -> StreamingResponse:
    """`events` as an SSE response; None from the iterator is a keep-alive. Each event's data is prefixed
    with `about` (the id of what it is about, e.g. `{"job_id": ...}`)."""

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 1000\n\n"
        async for event in events:
            if event is None:
                yield b": keep-alive\n\n"
                continue
            data = json.dumps({**about, **event.data}, separators=(",", ":"))
            yield f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
