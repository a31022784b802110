"""`AiohttpTransport`: the transport of the one `httpx.AsyncClient` every provider calls out through, on
aiohttp's connection pool.

httpx's own transport (httpcore 1.0) looks at every pooled connection when a request starts and when a
response ends, asking each idle connection's socket whether it is readable (a `select` each), and counts
the idle ones once per connection looked at. With 32 calls in flight to one upstream, that was about a
fifth of the server's event-loop thread, and the whole miss cost 7.6 ms of CPU through the `openai`
provider against 1.8 ms through the built-in one (`python -m bench.miss --only upstream`). aiohttp keeps
idle connections in a queue per host and takes one in constant time. The providers keep httpx's API
(`guarded_request`'s streaming reads, timeouts, the SSRF rule's pinned address and TLS server name);
only the wire under it changes.

A guarded call to a plain-http URL that no proxy carries goes through reqwest instead (`plain_wire.py`, picked
by `AiohttpTransport.exchange`), off the event loop's thread.

What httpx's transport contract asks, and how it is kept:
- the request's headers are sent as httpx built them (Host included: the SSRF rule pins the address and
  keeps the URL's host there), and nothing is decoded, redirected or stored on the way back (httpx
  decodes, follows redirects by hand where asked, and keeps cookies);
- the proxies it is given (`proxies`: what `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` and `NO_PROXY` name,
  read by `config.outbound_proxies` at start, as httpx reads them when its client is made) are used as
  httpx's client uses them (httpx itself mounts none once a transport is given), and `~/.netrc` is not
  read (httpx reads it only when asked to). aiohttp's own `trust_env` reads both again on every request,
  each in a thread of its own: two thread hops and a parse of the netrc file per provider call;
- `extensions["timeout"]` bounds connecting, reading and waiting for the pool, and the request as a whole
  until its answer's headers (aiohttp has no write timeout: an upload to a server that never reads is an
  `httpx.WriteTimeout`); `extensions["sni_hostname"]` is the TLS server name (and the name the certificate
  is checked against); `NO_PROXY` is matched against the Host header, the name the SSRF rule's pinned call
  still carries, not the address it connects to;
- every failure is an `httpx.TransportError` of the matching kind: a connection refused or a name that does
  not resolve is `ConnectError`, a silent server a `ConnectTimeout` or `ReadTimeout`, a server that hangs
  up mid-answer a `RemoteProtocolError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import httpx

from dyngen.adapters.providers.plain_wire import PlainWire
from dyngen.adapters.providers.wire_answer import WireAnswer

if TYPE_CHECKING:  # imported on the first call: a process that calls out to no provider never loads it
    import aiohttp

# An answer's body is handed on in chunks of at most this size (aiohttp's reads are up to 64 KiB anyway).
CHUNK_BYTES = 64 * 1024
# How long an idle connection is kept for the next call (httpx's default keep-alive expiry).
KEEPALIVE_S = 5.0
# Hosts whose proxy (or none) is remembered; providers call a handful.
MAX_HOSTS_KNOWN = 256
# What aiohttp would add on its own: httpx's headers (or the caller's) are sent instead, or none.
_SKIPPED = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
# Methods httpx gives a `Content-Length: 0` when they carry no body.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(pool: float | None, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for httpx's (immutable, so made once per set of values)."""
    import aiohttp

    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


@functools.lru_cache(maxsize=256)
def _text(url: httpx.URL) -> str:
    """`str(url)`, once per URL: a provider calls the same few (`ssrf.parsed_url` keeps their objects)."""
    return str(url)


@contextlib.contextmanager
def _as_httpx(request: httpx.Request | None) -> Iterator[None]:
    """aiohttp's failures as the httpx errors a caller of httpx handles."""
    import aiohttp

    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
    except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except aiohttp.ClientConnectorError as exc:  # refused, unreachable, no such name, TLS refused
        raise httpx.ConnectError(str(exc), request=request) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
    except aiohttp.ClientError as exc:  # a reset connection and any other failure of the wire
        raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc


class Proxies:
    """The proxy a URL goes through: `named[<scheme>]` (then `named["all"]`), unless `named["no"]` lists the
    host (urllib's `NO_PROXY` rules; `named` as `urllib.request.getproxies_environment` gives it). Credentials
    in the proxy's URL are sent to the proxy (aiohttp makes them its Proxy-Authorization)."""

    def __init__(self, named: Mapping[str, str]) -> None:
        self._proxies = dict(named)
        self._known: dict[tuple[str, str], str | None] = {}

    def for_url(self, url: httpx.URL, netloc: str | None = None) -> str | None:
        """The proxy of `url`, whose host is `netloc` (`host[:port]`) when given: the Host header of a call
        the SSRF rule pinned to an address, so that `NO_PROXY` names the host, not the address."""
        key = (url.scheme, netloc or url.netloc.decode("ascii"))
        try:
            return self._known[key]
        except KeyError:
            pass
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if proxy and _bypassed(key[1], self._proxies):
            proxy = None
        if len(self._known) >= MAX_HOSTS_KNOWN:
            self._known.clear()
        self._known[key] = proxy
        return proxy


def _sending_s(timeout: Mapping[str, float | None]) -> float | None:
    """How long a request may take to be sent and answered up to its headers: its pool, connect, write and
    read timeouts together (None when one of them is unbounded)."""
    parts = [timeout.get("pool"), timeout.get("connect"), timeout.get("write"), timeout.get("read")]
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


def _bypassed(netloc: str, proxies: Mapping[str, str]) -> bool:
    """Whether `NO_PROXY` lists the host of `netloc` (urllib's rules: a name, a domain suffix, `host:port`,
    `*`). An IPv6 host is also looked for without its brackets and port, as `NO_PROXY=::1` names it."""
    # proxy_bypass_environment is not in typeshed's stubs
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if bypass(netloc, proxies):
        return True
    return netloc.startswith("[") and bool(bypass(netloc[1:].partition("]")[0], proxies))


class _Body(httpx.AsyncByteStream):
    """An answer's body as it arrives; closing it gives the connection back (or drops it, when unread)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request | None) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx(self._request):
            async for chunk in self._response.content.iter_chunked(CHUNK_BYTES):
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport on one `aiohttp.ClientSession`, made on the first request (a session belongs to
    the event loop it was made on).

    Args:
        verify: The TLS context of https calls (True: the system's CA certificates, False: no check).
        max_connections: Connections open at once, over every host (httpx's default); a call past it waits
            for one, within its pool timeout.
        proxies: The proxies by scheme, and `no` for the hosts called directly (`config.outbound_proxies`);
            None: every call goes direct.
        plain_wire: Send `ProviderClient.exchange`'s calls to plain-http URLs that no proxy carries through
            reqwest (`plain_wire.py`), off the event loop's thread; False: through aiohttp too.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        max_connections: int = 100,
        proxies: Mapping[str, str] | None = None,
        plain_wire: bool = True,
    ) -> None:
        self._ssl: ssl.SSLContext | bool = verify
        self._limit = max_connections
        self._proxies = Proxies(proxies) if proxies else None
        self._session: aiohttp.ClientSession | None = None
        self._plain = PlainWire(max_connections=max_connections, keepalive_s=KEEPALIVE_S) if plain_wire else None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._closed:  # a call after shutdown would open a session nothing closes
                raise RuntimeError("the providers' HTTP transport is closed")
            import aiohttp

            connector = aiohttp.TCPConnector(
                ssl=self._ssl, limit=self._limit, limit_per_host=0, keepalive_timeout=KEEPALIVE_S
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps cookies
                auto_decompress=False,  # httpx decodes
                timeout=aiohttp.ClientTimeout(total=None),  # per request, from httpx's timeout
                trust_env=False,  # the proxies are this transport's (`Proxies`)
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout") or {}
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "transfer-encoding"]
        body: bytes | httpx.AsyncByteStream | None
        try:
            body = request.content or None
        except httpx.RequestNotRead:  # a streamed body (an upload): aiohttp sends it chunked or as declared
            assert isinstance(request.stream, httpx.AsyncByteStream)
            body = request.stream
        response = await self.send(
            request.method,
            request.url,
            headers,
            body,
            bounds=timeout,
            sni=request.extensions.get("sni_hostname"),
            host=request.headers.get("host"),
            request=request,
        )
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("utf-8", "replace"),
            },
        )

    async def send(
        self,
        method: str,
        url: httpx.URL,
        headers: Sequence[tuple[str, str]],
        body: bytes | httpx.AsyncByteStream | None,
        *,
        bounds: Mapping[str, float | None],
        sni: str | None,
        host: str | None,
        request: httpx.Request | None,
    ) -> aiohttp.ClientResponse:
        """aiohttp's answer to a request, its body still to read: `headers` sent as they are, `bounds` as
        httpx's timeouts (pool, connect, write, read), `sni` the TLS server name, `host` the Host header the proxy
        rules match. Failures are httpx's errors, naming `request` (None: a call `ProviderClient.exchange`
        made without one)."""
        proxy = None if self._proxies is None else self._proxies.for_url(url, host)
        session = self._open()
        try:
            # aiohttp has no write timeout: a server that accepts and never reads would hold an upload for
            # ever. The request, sent and answered up to its headers, gets pool + connect + write + read in all.
            async with asyncio.timeout(_sending_s(bounds)):
                with _as_httpx(request):
                    return await session.request(
                        method,
                        _text(url),
                        headers=headers,
                        data=body,
                        allow_redirects=False,
                        compress=None,
                        skip_auto_headers=_SKIPPED,
                        server_hostname=sni,
                        proxy=proxy,
                        timeout=_aiohttp_timeout(bounds.get("pool"), bounds.get("connect"), bounds.get("read")),
                    )
        except TimeoutError as exc:  # only the bound's own: `_as_httpx` made aiohttp's timeouts httpx's
            raise httpx.WriteTimeout("the request was not taken within its timeout", request=request) from exc

    async def exchange(
        self,
        method: str,
        url: httpx.URL,
        headers: list[tuple[str, str]],
        body: bytes | None,
        *,
        timeout_s: float,
        sni: str | None,
        host: str | None,
    ) -> WireAnswer:
        """`ProviderClient.exchange`'s call, its headers built: a plain-http one that no proxy carries through the
        plain wire, any other through aiohttp (every timeout `timeout_s`)."""
        plain = self._plain if url.scheme == "http" and self._plain is not None and self._plain.usable else None
        if plain is not None and (self._proxies is None or self._proxies.for_url(url, host) is None):
            if self._closed:
                raise RuntimeError("the providers' HTTP transport is closed")
            return await plain.send(method, _text(url), headers, body, timeout_s=timeout_s)
        bounds = dict.fromkeys(("pool", "connect", "write", "read"), timeout_s)
        response = await self.send(method, url, headers, body, bounds=bounds, sni=sni, host=host, request=None)
        return Exchange(response)

    async def aclose(self) -> None:
        self._closed = True
        if self._plain is not None:
            await self._plain.aclose()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class ProviderClient(httpx.AsyncClient):
    """The providers' one `httpx.AsyncClient`, on an `AiohttpTransport`. `send_now` hands a built request
    straight to the transport, without the client's `send`: its auth flow, redirect loop, cookie jar and
    response timing, none of which an SSRF-guarded call uses (`ssrf.guarded_request` follows redirects
    itself, hop by hop, and keeps no cookies between calls). That machinery was ~0.17 ms of CPU per
    provider call here, ~5 % of the event loop's share of a miss through a 50 ms upstream (issue 18).

    `exchange` goes further for a call with a body of bytes or none (every guarded call but an upload): no
    httpx request is built and the answer is read straight from the wire (aiohttp, or reqwest for a
    plain-http URL: `AiohttpTransport.exchange`). The headers sent are the ones
    httpx would build (the client's, then the call's, case-insensitively); an encoded answer is decoded by
    httpx's decoders as before. A call through `send_now` cost ~0.2 ms of CPU more than a bare aiohttp call
    (~0.2 ms) at 32 in flight; `exchange` took 7 % of the instructions of a whole miss through a 50 ms
    upstream (callgrind: 4.63 M to 4.31 M per miss).

    Args:
        transport: The wire.
        timeout: The default timeout of a call that names none (httpx's `timeout`).
    """

    def __init__(self, *, transport: AiohttpTransport, timeout: float) -> None:
        super().__init__(timeout=timeout, transport=transport)
        self._wire = transport
        self._defaults = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers.raw]

    async def send_now(self, request: httpx.Request) -> httpx.Response:
        """The answer to `request`, its body still to read (close the response when done)."""
        if self.is_closed:  # as httpx's `send` refuses
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        return await self._wire.handle_async_request(request)

    async def exchange(
        self,
        method: str,
        url: httpx.URL,
        *,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout_s: float,
        sni: str | None,
    ) -> WireAnswer:
        """The answer to `method url` with `headers` over the client's and `content` (None: no body), its
        body still to read (`aclose` when done). Every timeout is `timeout_s`, as httpx's `timeout=timeout_s`
        (on the plain wire, one bound on the whole call); `sni` is the TLS server name."""
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        given = {name.lower(): (name, value) for name, value in headers.items()}
        for name, value in given.values():
            if not (name.isascii() and value.isascii()):
                value.encode("ascii")  # httpx's refusal: UnicodeEncodeError, nothing sent
                name.encode("ascii")
        sent = [(name, value) for name, value in self._defaults if name.lower() not in given]
        sent.extend(given.values())
        if "content-length" not in given and "transfer-encoding" not in given:
            if content:
                sent.append(("Content-Length", str(len(content))))
            elif method.upper() in _BODY_METHODS:
                sent.append(("Content-Length", "0"))  # as httpx sends it; no header for an empty GET
        host = given.get("host", (None, None))[1]
        return await self._wire.exchange(method, url, sent, content or None, timeout_s=timeout_s, sni=sni, host=host)


class Exchange(WireAnswer):
    """An answer `ProviderClient.exchange` got from aiohttp (`wire_answer.WireAnswer`)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        super().__init__(response.status, httpx.Headers(list(response.raw_headers)))
        self._response = response

    async def _raw(self) -> AsyncIterator[bytes]:
        with _as_httpx(None):
            async for chunk in self._response.content.iter_chunked(CHUNK_BYTES):
                yield chunk

    async def aclose(self) -> None:
        self._response.release()
