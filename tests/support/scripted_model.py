"""A scripted OpenAI-compatible chat completions server on loopback: a real HTTP server whose answers the
test writes.

`ScriptedModel(writer)` calls `writer(body)` for every `POST /v1/chat/completions`, with the request body
the provider sent (messages, `response_format` with its JSON Schema, seed); the writer returns the answer's
content (a dict is sent as JSON text, a str as it is) or an int, an HTTP status to fail with. Every body is
kept in `calls`, so a test counts how often the model was asked (and what). `GET /v1/models` answers for
health checks. It runs in a thread of its own (standard library only) and is a context manager.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Writer = Callable[[dict[str, Any]], dict[str, Any] | str | int]


def schema_of(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema the provider asked the answer to follow ({} when it asked for none)."""
    fmt = body.get("response_format") or {}
    return dict((fmt.get("json_schema") or {}).get("schema") or {})


def asked_elements(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The required and avoided element ids a content request's schema names (its `elements` part)."""
    elements = schema_of(body).get("properties", {}).get("elements", {}).get("properties", {})

    def enum(part: str) -> list[str]:
        values = elements.get(part, {}).get("items", {}).get("properties", {}).get("element", {}).get("enum", [])
        return [v for v in values if v]

    return enum("required"), enum("avoided")


def is_judge(body: dict[str, Any]) -> bool:
    """Whether a request is the judge's question (its schema is the verdicts', not content)."""
    return ((body.get("response_format") or {}).get("json_schema") or {}).get("name") == "verdicts"


class ScriptedModel:
    """The server. `writer` answers each chat completion; `calls` keeps every request body."""

    def __init__(self, writer: Writer, *, tokens: int = 150) -> None:
        self.writer = writer
        self.tokens = tokens
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet

            def _send(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"data": [{"id": "scripted"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with model._lock:
                    model.calls.append(body)
                answer = model.writer(body)
                if isinstance(answer, int):
                    self._send(answer, {"error": {"message": "scripted failure"}})
                    return
                content = answer if isinstance(answer, str) else json.dumps(answer)
                self._send(
                    200,
                    {
                        "choices": [{"message": {"role": "assistant", "content": content}}],
                        "usage": {"total_tokens": model.tokens},
                    },
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def content_calls(self) -> list[dict[str, Any]]:
        """The requests for content (not the judge's)."""
        return [c for c in self.calls if not is_judge(c)]

    def start(self) -> ScriptedModel:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
