"""`BodyLimit`: the one front door of every request body, before any route parses it.

It refuses a body over the configured size (413), a body that is not `application/json` (415: a browser
sends `text/plain` or a form cross-site without asking first, so no route may take one) and JSON that is
not UTF-8 (422, as any other malformed JSON); and it drops a leading UTF-8 byte order mark, so that every
route, those FastAPI parses and those that parse their raw body themselves, reads JSON the same way.

Upload routes (`uploads`: a POST path and its own size cap) take raw bytes instead; the route takes an
image type or `application/octet-stream` (`is_upload_type`: never a type a browser sends cross-site
without asking first) and checks what the bytes are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BOM = b"\xef\xbb\xbf"
UPLOAD_TYPES = frozenset({b"image/png", b"image/jpeg", b"image/webp", b"application/octet-stream"})


def route_path(scope: Scope) -> str:
    """The path the routes match, as Starlette's router takes it: behind `--root-path` (a proxy's prefix,
    which uvicorn puts in front of the request's path), the path without the root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def is_upload_type(content_type: bytes) -> bool:
    """A type an upload route takes: an image type or `application/octet-stream`, with any parameters."""
    return content_type.split(b";", 1)[0].strip().lower() in UPLOAD_TYPES


def is_json(content_type: bytes) -> bool:
    """`application/json` or a `+json` type (`application/merge-patch+json`), with any parameters."""
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


class BodyLimit:
    """Pure ASGI middleware: buffers at most `max_bytes` of a request body, else answers 413."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, uploads: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = dict(uploads or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        upload = scope["method"] == "POST" and path in self.uploads
        max_bytes = self.uploads[path] if upload else self.max_bytes
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > max_bytes:
                    await self._refuse(send, 413, "PAYLOAD_TOO_LARGE", f"request body over {max_bytes} bytes")
                    return
            elif name == b"content-type":
                content_type = value
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await self._refuse(send, 413, "PAYLOAD_TOO_LARGE", f"request body over {max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if upload:
            pass  # the route checks the type after the key (`is_upload_type`): its bytes are not JSON
        elif body:  # an empty body (a POST that takes none) may come with any type, or none
            if not is_json(content_type):
                shown = content_type.decode("latin-1") or "none"
                await self._refuse(
                    send, 415, "UNSUPPORTED_MEDIA_TYPE", f"send the body as application/json (Content-Type was {shown})"
                )
                return
            if body.startswith(BOM):
                body = body[len(BOM) :]
                scope = {**scope, "headers": _with_length(scope["headers"], len(body))}
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                detail = {
                    "field": "body",
                    "message": f"JSON must be UTF-8 (bad byte at {exc.start})",
                    "type": "json_invalid",
                }
                await self._refuse(send, 422, "GEN_INVALID_CONFIG", "the body is not valid JSON", [detail])
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(
        self, send: Send, status: int, code: str, message: str, details: list[dict[str, str]] | None = None
    ) -> None:
        body = json.dumps({"error": {"code": code, "message": message}, "details": details or []}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    return [(n, str(length).encode() if n == b"content-length" else v) for n, v in headers]
