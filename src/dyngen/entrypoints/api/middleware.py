"""`BodyLimit`: refuses request bodies over the configured size (413) and JSON bodies that are not
UTF-8 (422, as any other malformed JSON), before any parsing."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """Pure ASGI middleware: buffers at most `max_bytes` of a request body, else answers 413."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        is_json = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send, 413, "PAYLOAD_TOO_LARGE", f"request body over {self.max_bytes} bytes")
                    return
            elif name == b"content-type":
                is_json = b"json" in value.lower()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, 413, "PAYLOAD_TOO_LARGE", f"request body over {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if is_json:
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
