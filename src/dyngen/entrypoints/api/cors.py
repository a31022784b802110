"""`Cors`: cross-origin access for browser games served from another origin (`DYNGEN_CORS_ORIGINS`).

A pure ASGI middleware rather than Starlette's `CORSMiddleware`, which answers a preflight with 200 and
a body; this one answers it with 204 and no body. It is installed only when origins are configured, and a
request without an `Origin` header (every server-to-server call, and the bench's hits) passes through
untouched: one scan of the request headers is all it costs.

- Preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`): 204 with the methods, the
  headers a client sends (`Authorization`, `X-API-Key`, `Content-Type`, `Prefer`, `Idempotency-Key`,
  `Last-Event-ID`, `Range`) and `Access-Control-Max-Age`; 403 for an origin that is not allowed.
- Any other request from an allowed origin: its answer gets `Access-Control-Allow-Origin` and
  `Access-Control-Expose-Headers` (`Location`, `Retry-After`, `ETag`, ...). An origin that is not
  allowed gets the answer without them, which the browser then refuses to show the page.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = "Authorization, X-API-Key, Content-Type, Prefer, Idempotency-Key, Last-Event-ID, Range, If-None-Match"
EXPOSE_HEADERS = "Location, Retry-After, ETag, Content-Disposition, Content-Range, Preference-Applied"


class Cors:
    """Answers preflights and marks answers to allowed origins (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, origins: list[str], allow_credentials: bool, max_age_s: int) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(o.encode("latin-1") for o in origins if o != "*")
        self.allow_credentials = allow_credentials
        self.max_age = str(max_age_s).encode()

    def _allowed(self, origin: bytes) -> bool:
        return self.any_origin or origin in self.origins

    def _origin_headers(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        # `*` is sent as such only without credentials (settings refuse the pair); otherwise the origin is
        # echoed, and the answer then varies by origin for any cache in between.
        if self.any_origin and not self.allow_credentials:
            headers = [(b"access-control-allow-origin", b"*")]
        else:
            headers = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        if self.allow_credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin: bytes | None = None
        preflight = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = True
        if origin is None:
            await self.app(scope, receive, send)
            return
        if preflight and scope["method"] == "OPTIONS":
            await self._preflight(origin, send)
            return
        if not self._allowed(origin):
            await self.app(scope, receive, send)
            return
        extra = [*self._origin_headers(origin), (b"access-control-expose-headers", EXPOSE_HEADERS.encode())]

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, marked)

    async def _preflight(self, origin: bytes, send: Send) -> None:
        if not self._allowed(origin):
            body = json.dumps(
                {"error": {"code": "FORBIDDEN", "message": "this origin may not call the API"}, "details": []}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        headers = [
            *self._origin_headers(origin),
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
            (b"access-control-max-age", self.max_age),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
