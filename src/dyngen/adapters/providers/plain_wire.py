"""`PlainWire`: the providers' calls to plain-http URLs, on reqwest (hyper's HTTP/1.1 client, through pyreqwest),
whose sending and reading run in a Rust thread of their own, off the event loop's thread.

Plain http is where a studio's own model servers answer: Ollama, vLLM, llama.cpp, LM Studio and ComfyUI on the
machine or the studio's network. A call through aiohttp cost the event loop's thread ~0.11-0.15 ms of CPU at 32
calls in flight; through reqwest ~0.02-0.03 ms of it (and ~0.04 ms in reqwest's thread, without the GIL). On a
miss through a 50 ms upstream at concurrency 32, the loop's thread is what bounds the rate
(`python -m bench.miss --only upstream`: 535 -> 561 misses/s, in turns with aiohttp, issue 18).

What it keeps of `ProviderClient.exchange`'s contract (`http_transport.py`):
- the headers are sent as given (the Host header too: the SSRF rule pins the address and keeps the URL's host
  there); nothing is decoded (no decompression is enabled: httpx's decoders decode), redirected, stored
  (no cookie store) or proxied (`no_proxy`: a call a proxy would carry goes through aiohttp instead);
- one bound, `timeout_s`, on the whole call: connecting, sending, the answer's headers and its body. Every
  provider passes the time left to its own deadline, so that is the bound it means;
- every failure is an `httpx.TransportError` of the matching kind (`_as_httpx`): a connection refused or a name
  that does not resolve is `ConnectError`, a silent server `ReadTimeout` (`ConnectTimeout` when the connection
  itself was not made in time), a server that hangs up mid-answer `RemoteProtocolError`.

Two differences from aiohttp's path, both bounded by the call's own deadline:
- a call whose caller is cancelled goes on in reqwest until its bound (pyreqwest 0.15 cannot stop a request
  once sent; closing the client does not either). So a provider passes what is left of its deadline to every
  request (`openai._left`), and a request the deadline would cut off is not sent;
- an answer's headers are handed on once its first 64 KiB (`READ_BYTES`) or all of it came: a server that
  declares a body over the cap and then stalls is a timeout, not a refusal at once.

In a process forked after a client was made here (pyreqwest's runtime does not survive a fork: a call would hang,
a new client fails), every call goes through aiohttp (`usable`).

Not here: https (aiohttp keeps TLS, on the process's SSL context and with the pinned call's server name, which
reqwest cannot set per call), calls through a proxy, and streamed uploads (`ProviderClient.send_now`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from dyngen.adapters.providers.wire_answer import WireAnswer

if TYPE_CHECKING:  # imported on the first call, as aiohttp is
    from pyreqwest.client import Client
    from pyreqwest.request import StreamRequest
    from pyreqwest.response import Response

# How much of an answer's body one read hands over (reqwest keeps what came in, up to its buffer's limit).
READ_BYTES = 64 * 1024


class _Runtime:
    """Whether pyreqwest's runtime was started in this process (by a client made here), and whether it was before
    a fork: then the runtime this process has is its parent's, and unusable."""

    started = False
    inherited = False


def _after_fork_in_child() -> None:
    _Runtime.inherited = _Runtime.inherited or _Runtime.started


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def _as_httpx() -> Iterator[None]:
    """pyreqwest's failures as the httpx errors a caller of httpx handles."""
    from pyreqwest import exceptions as wire

    try:
        yield
    except wire.RequestTimeoutError as exc:
        # A bound that passes while connecting says so among its causes; any other passed on a made connection.
        if isinstance(exc, wire.ConnectTimeoutError) and _caused_by(exc, "client error (connect)"):
            raise httpx.ConnectTimeout("connect timed out") from exc
        raise httpx.ReadTimeout("the call did not finish within its timeout") from exc
    except wire.ConnectError as exc:  # refused, unreachable, no such name
        raise httpx.ConnectError(_said(exc)) from exc
    except wire.DecodeError as exc:  # the body ended early or broke its framing
        raise httpx.RemoteProtocolError(_said(exc)) from exc
    except wire.WriteError as exc:
        raise httpx.WriteError(_said(exc)) from exc
    except wire.ClientClosedError as exc:  # closed under a call in flight (at shutdown), as aiohttp's session
        raise httpx.ReadError("the providers' HTTP transport closed during the call") from exc
    except wire.RequestError as exc:  # a reset connection and any other failure of the wire
        raise httpx.ReadError(_said(exc)) from exc
    except ValueError as exc:  # a URL, header or bound the wire cannot send (BuilderError is one)
        raise httpx.LocalProtocolError(_said(exc)) from exc


def _causes(exc: Exception) -> list[str]:
    details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    return [str(cause.get("message", "")) for cause in details.get("causes") or [] if isinstance(cause, dict)]


def _caused_by(exc: Exception, words: str) -> bool:
    return any(words in cause.lower() for cause in _causes(exc))


def _said(exc: Exception) -> str:
    """The error's message and its causes, innermost last: `connection error: ... tcp connect error: ...`."""
    return ": ".join([str(exc.args[0]) if exc.args else type(exc).__name__, *_causes(exc)])


class PlainWire:
    """One pyreqwest client, made on the first call and closed by `aclose`.

    Args:
        max_connections: Calls in flight at once (a call past it waits, within its timeout).
        keepalive_s: How long an idle connection is kept for the next call.
    """

    def __init__(self, *, max_connections: int, keepalive_s: float) -> None:
        self._limit = max_connections
        self._keepalive = timedelta(seconds=keepalive_s)
        self._client: Client | None = None
        self._closed = False

    @property
    def usable(self) -> bool:
        """False in a process forked after a client was made (its calls then go through aiohttp)."""
        return not _Runtime.inherited

    def _open(self) -> Client:
        if self._client is None:
            if self._closed:  # a call after shutdown would open a client nothing closes
                raise RuntimeError("the providers' HTTP transport is closed")
            from pyreqwest.client import ClientBuilder

            _Runtime.started = True

            self._client = (
                ClientBuilder()
                .http1_only()
                .follow_redirects(False)  # `ssrf.guarded_request` follows them, hop by hop
                .gzip(False)
                .brotli(False)
                .zstd(False)
                .deflate(False)
                .no_proxy()  # the environment's proxies are `AiohttpTransport`'s to apply
                .default_cookie_store(False)
                .max_connections(self._limit)
                .pool_idle_timeout(self._keepalive)
                .build()
            )
        return self._client

    async def send(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None, *, timeout_s: float
    ) -> PlainAnswer:
        """The answer to `method url` with `headers` (sent as they are) and `body`, its body still to read
        (`PlainAnswer.aclose` when done); the whole call, body included, within `timeout_s`."""
        with _as_httpx():
            builder = self._open().request(method, url).headers(headers)
            builder = builder.timeout(timedelta(seconds=max(timeout_s, 0.0)))
            if body:
                builder = builder.body_bytes(body)
            request = builder.streamed_read_buffer_limit(READ_BYTES).build_streamed()
            response = await request.__aenter__()
        return PlainAnswer(request, response)

    async def aclose(self) -> None:
        self._closed = True
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _readable(response: Response) -> list[tuple[str, str]]:
    """The answer's headers; one whose value is not visible ASCII (a UTF-8 file name), which pyreqwest cannot
    hand over, is left out rather than failing the whole answer."""
    headers = response.headers
    try:
        return list(headers.items())
    except ValueError:
        kept: list[tuple[str, str]] = []
        for name in dict.fromkeys(headers.keys()):
            try:
                kept.extend((name, value) for value in headers.getall(name))
            except ValueError:
                continue
        return kept


class PlainAnswer(WireAnswer):
    """An answer `PlainWire.send` got (`wire_answer.WireAnswer`), its body read from reqwest."""

    def __init__(self, request: StreamRequest, response: Response) -> None:
        super().__init__(response.status, httpx.Headers(_readable(response)))
        self._request = request
        self._response = response

    async def _raw(self) -> AsyncIterator[bytes]:
        reader = self._response.body_reader
        while True:
            with _as_httpx():
                chunk = await reader.read(READ_BYTES)
            if chunk is None:
                return
            yield bytes(chunk)

    async def aclose(self) -> None:
        await self._request.__aexit__(None, None, None)
