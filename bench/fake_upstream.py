"""An OpenAI-compatible chat completions upstream that answers every call after a fixed latency, run as its
own process (`python -m bench.fake_upstream PORT LATENCY_MS`).

It is a bare `asyncio.Protocol` (uvloop when installed): it reads a request's headers and body, and writes
one canned completion `LATENCY_MS` later from a timer, so that it costs tens of microseconds of CPU per
call and the upstream-limited rate of a client (concurrency / latency) is what the latency alone allows.
`GET /v1/models` answers at once (the provider's health check).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"

CONTENT = {
    "beats": [
        {"kind": "narration", "text": "Rain beads on the station glass; a train whistle cuts the dark."},
        {"kind": "dialogue", "speaker": "Mara", "text": "I read the letter. All of it."},
        {"kind": "narration", "text": "Jonah looks away as the last train pulls in."},
    ],
    "choices": [{"id": "c1", "text": "Board the train"}, {"id": "c2", "text": "Stay on the platform"}],
}


def _response(body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


COMPLETION = _response(
    json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(CONTENT)}}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 120, "total_tokens": 420},
        }
    ).encode()
)
MODELS = _response(b'{"object":"list","data":[{"id":"bench-model","object":"model"}]}')


class _Upstream(asyncio.Protocol):
    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(_HEADER_END)
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            at = head.find(_CONTENT_LENGTH)
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + len(_CONTENT_LENGTH) : stop if stop > 0 else None])
            total = end + len(_HEADER_END) + length
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            if head.startswith(b"get"):
                self._send(MODELS)
            else:
                asyncio.get_running_loop().call_later(self.latency_s, self._send, COMPLETION)

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, latency_s: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = await asyncio.get_running_loop().create_server(lambda: _Upstream(latency_s), sock=sock, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    port, latency_ms = int(sys.argv[1]), float(sys.argv[2])
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port, latency_ms / 1000))
    else:
        uvloop.run(serve(port, latency_ms / 1000))


if __name__ == "__main__":
    main()
