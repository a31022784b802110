"""The SSRF rule every provider applies to a URL before fetching it.

A URL may be fetched when it is http(s) with a host, the host is on the allow-list (when there is one),
and every address it resolves to is public: no loopback, link-local, private, reserved or multicast
address. An instance may let exactly its own private hosts through (`private_hosts`: a local ComfyUI at
127.0.0.1 names "127.0.0.1", which lets no other private address through); `allow_private_hosts` lifts the
address rule entirely (kept for callers of `check_url`; no configuration key sets it any more).

An instance's own configured URLs (an OpenAI-compatible `base_url`, a video API's submit URL) are its
`own_origins`: the operator named them, so they may be private (a local Ollama at 127.0.0.1:11434), but
only that exact host and port; a redirect or an answer naming another private address is still refused.

The caller connects to the very address that was checked (`pinned`): resolving the name again at connect
time could give another answer (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic_core

from dyngen.adapters.providers.http_transport import ProviderClient
from dyngen.adapters.providers.wire_answer import WireAnswer
from dyngen.domain.errors import DyngenError, ErrorCode


def _address_refused(address: str) -> str | None:
    """Why a resolved address may not be fetched from (None when it may)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # `::ffff:127.0.0.1` and 6to4 `2002:7f00:1::` reach an IPv4 address: judge that one.
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    for rule, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved or ip.is_unspecified or not ip.is_global),
    ):
        if hit:
            return rule
    return None


@functools.lru_cache(maxsize=256)
def parsed_url(url: str) -> httpx.URL:
    """`httpx.URL(url)`, parsed once per URL (~16 µs each, with its host checks): a provider calls the same
    few URLs on every generation. `httpx.URL` is immutable (`copy_with` makes a new one)."""
    return httpx.URL(url)


@functools.lru_cache(maxsize=256)
def _at_address(url: httpx.URL, address: str) -> httpx.URL:
    """`url` with its host replaced by `address` (~27 µs each: httpx checks the host again)."""
    return url.copy_with(host=address)


def origin(url: str | httpx.URL) -> str:
    """`host:port` of a URL (the scheme's default port when none is given), lower case: what
    `own_origins` holds."""
    parsed = url if isinstance(url, httpx.URL) else parsed_url(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.host.lower().rstrip('.')}:{port}"


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """True when `host` equals an allowed host, or ends with `.suffix` for an entry `*.suffix`."""
    host = host.lower().rstrip(".")
    for raw in allowed_hosts:
        entry = raw.lower().strip().rstrip(".")
        if entry.startswith("*.") and host.endswith(entry[1:]):
            return True
        if host == entry:
            return True
    return False


async def check_url(
    url: str, *, allowed_hosts: Iterable[str], allow_private_hosts: bool, private_hosts: Iterable[str] = ()
) -> httpx.URL:
    """The URL, when the SSRF rule lets it be fetched.

    Raises:
        DyngenError: GEN_PROVIDER_UNAVAILABLE naming the rule the URL breaks.
    """
    checked = await check_address(
        url, allowed_hosts=allowed_hosts, allow_private_hosts=allow_private_hosts, private_hosts=private_hosts
    )
    return checked[0]


async def check_address(
    url: str,
    *,
    allowed_hosts: Iterable[str],
    allow_private_hosts: bool,
    private_hosts: Iterable[str] = (),
    own_origins: Iterable[str] = (),
    what: str = "result URL",
) -> tuple[httpx.URL, str | None]:
    """The URL and the address it was checked at, when the SSRF rule lets it be fetched.

    The address (None when private hosts are allowed and nothing is checked) is the one to connect to.
    A host named in `private_hosts` (exactly, no wildcard) may resolve to a private address; its address is
    still pinned. A URL on a `host:port` of `own_origins` is not resolved here (None: any address will do).

    Raises:
        DyngenError: GEN_PROVIDER_UNAVAILABLE naming the rule the URL breaks.
    """
    allowed = list(allowed_hosts)
    try:
        parsed = parsed_url(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise refused(f"the {what} is not a URL", what) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise refused("only http(s) URLs with a host are fetched", what)
    if allowed and not host_allowed(parsed.host, allowed):
        raise refused(f"host {parsed.host!r} is not in the allowed hosts", what)
    if allow_private_hosts:
        return parsed, None
    own = parsed.host.lower().rstrip(".") in {h.lower().strip().rstrip(".") for h in private_hosts if h.strip()}
    if origin(parsed) in set(own_origins):
        return parsed, None  # the instance's own URL: any address is fine, so there is nothing to pin
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise refused(f"host {parsed.host!r} does not resolve", what) from exc
    if not infos:
        raise refused(f"host {parsed.host!r} does not resolve", what)
    for *_, sockaddr in infos:
        rule = _address_refused(str(sockaddr[0]))
        if rule is not None and not own:
            raise refused(
                f"host {parsed.host!r} resolves to a {rule} address (private hosts are not allowed beyond the "
                f"instance's own; name this host in the instance's private_hosts to allow it)",
                what,
            )
    return parsed, str(infos[0][4][0])


def pinned(url: httpx.URL, address: str | None) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """What to send so the connection goes to `address` while the server still sees `url`'s host.

    The request goes to the address; the Host header and, for https, the TLS server name (which is also
    the name the certificate is checked against) stay the URL's host.
    """
    if address is None:
        return url, {}, {}
    extensions: dict[str, Any] = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return _at_address(url, address), {"Host": url.netloc.decode("ascii")}, extensions


def _plain(content: object) -> bool:
    """Whether a call's `content` is one `ProviderClient.exchange` sends as it is: bytes, or none."""
    return content is None or isinstance(content, bytes)


@dataclass(frozen=True, slots=True)
class Fetched:
    """An answer `guarded_request` read whole: what its callers read of an `httpx.Response` (`status_code`,
    `headers`, `content`, `json()`, `text`), without httpx's response machinery (its stream, decoders and
    chunkers ran over bytes already read and decoded: ~18 µs an answer, ~1.5 % of a miss's event-loop time
    through an OpenAI-compatible upstream, issue 18)."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        """The body as JSON (UTF-8, -16 or -32, as httpx reads it).

        Raises:
            ValueError: The body is not JSON.
        """
        return json.loads(self.content)

    @property
    def text(self) -> str:
        """The body as text, in the charset its Content-Type names (UTF-8 when none, or an unknown one)."""
        charset = "utf-8"
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


def refused(why: str, what: str = "result URL") -> DyngenError:
    return DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"{what} refused by the SSRF rule: {why}")


MAX_REDIRECTS = 3
# What describes an answer's body as it came over the wire, not as `guarded_request` returns it (decoded).
_ENCODED_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_CHUNKED = frozenset({"transfer-encoding"})
MIN_SECRET = 8  # shorter words (`Bearer`, `Key`) are not secrets


@dataclass(frozen=True, slots=True)
class UrlRule:
    """One instance's SSRF rule: the hosts it may fetch from, and the private hosts it may reach.

    Attributes:
        allowed_hosts: Hosts it may fetch from at all (`*.suffix` entries too); empty = any.
        allow_private_hosts: Lift the address rule (not set from configuration).
        private_hosts: Hosts (any port) that may resolve to private addresses, as the operator named them.
        own_origins: `host:port` of the instance's own configured URLs, which may be private too.
    """

    allowed_hosts: tuple[str, ...] = ()
    allow_private_hosts: bool = False
    private_hosts: tuple[str, ...] = ()
    own_origins: tuple[str, ...] = ()

    @classmethod
    def for_instance(
        cls, own_urls: Iterable[str], *, private_hosts: Iterable[str] = (), allowed_hosts: Iterable[str] = ()
    ) -> UrlRule:
        """The rule of an instance whose configured URLs are `own_urls` (templates with `{id}` are fine)."""
        return cls(
            allowed_hosts=tuple(h for h in allowed_hosts if h.strip()),
            private_hosts=tuple(h for h in private_hosts if h.strip()),
            own_origins=tuple(sorted({origin(u.replace("{id}", "x")) for u in own_urls if u})),
        )

    async def check(self, url: str, *, what: str = "result URL") -> tuple[httpx.URL, str | None]:
        return await check_address(
            url,
            allowed_hosts=self.allowed_hosts,
            allow_private_hosts=self.allow_private_hosts,
            private_hosts=self.private_hosts,
            own_origins=self.own_origins,
            what=what,
        )


async def guarded_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    rule: UrlRule,
    timeout_s: float,
    max_bytes: int,
    what: str = "result",
    headers: dict[str, str] | None = None,
    max_redirects: int = MAX_REDIRECTS,
    body_what: str | None = None,
    **kwargs: Any,
) -> Fetched:
    """The answer of `method url`, its body read (at most `max_bytes`): every hop checked against `rule`
    and pinned to the address checked, redirects followed by hand (a GET any; another method only a 307
    or 308, which keep the method and body), the headers sent only while the hop stays on the first origin.
    With `max_redirects=0` a redirect is the answer. Messages name `what` (`what` URL refused, the
    `body_what` (default `what`) larger than `max_bytes`).

    Raises:
        DyngenError: GEN_PROVIDER_UNAVAILABLE (a hop refused by the rule, a body over `max_bytes`, too many
            redirects).
        httpx.HTTPError: The transport failed (httpx.TimeoutException past `timeout_s`): the caller maps it.
    """
    first: str | None = None
    body_headers: dict[str, str] = {}
    if "json" in kwargs:  # encoded once for every hop, by pydantic's encoder (~4x json.dumps, the same bytes)
        kwargs["content"] = pydantic_core.to_json(kwargs.pop("json"))
        if not any(name.lower() == "content-type" for name in headers or {}):  # the caller's, as httpx keeps it
            body_headers = {"Content-Type": "application/json"}
    for _ in range(max_redirects + 1):
        target, address = await rule.check(url, what=f"{what} URL")
        connect, sent, extensions = pinned(target, address)
        here = f"{target.scheme}://{origin(target)}"  # an https origin's headers never go to its http twin
        first = first or here
        same = here == first
        hop_headers = {**((headers or {}) if same else {}), **body_headers, **sent}
        request: httpx.Request | None = None
        response: httpx.Response | WireAnswer
        if isinstance(client, ProviderClient) and kwargs.keys() <= {"content"} and _plain(kwargs.get("content")):
            response = await client.exchange(  # the server's client, a body of bytes or none: straight to aiohttp
                method,
                connect,
                headers=hop_headers,
                content=kwargs.get("content"),
                timeout_s=timeout_s,
                sni=extensions.get("sni_hostname"),
            )
        else:
            request = client.build_request(
                method, connect, headers=hop_headers, extensions=extensions, timeout=timeout_s, **kwargs
            )
            if isinstance(client, ProviderClient):  # an upload: straight to its transport
                response = await client.send_now(request)
            else:
                response = await client.send(request, stream=True, follow_redirects=False)
        try:
            follow = max_redirects > 0 and response.is_redirect and "location" in response.headers
            if follow and (method.upper() in ("GET", "HEAD") or response.status_code in (307, 308)):
                url = str(target.join(response.headers["location"]))
                continue
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(body_what or what, max_bytes)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(body_what or what, max_bytes)
                chunks.append(chunk)
            # The chunks are decoded and whole: the answer keeps no Content-Encoding to decode them again by,
            # nor the length or chunking of the wire (a plain answer keeps its length: HEAD's says the size).
            wire = _ENCODED_BODY_HEADERS if "content-encoding" in response.headers else _CHUNKED
            # As the bytes came (a ComfyUI file name in Content-Disposition may be UTF-8: not ASCII, as str is sent)
            kept = [(k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in wire]
            body = b"".join(chunks)
            if "content-length" not in response.headers or wire is _ENCODED_BODY_HEADERS:
                kept.append((b"content-length", str(len(body)).encode()))  # the length handed on, as httpx's
            return Fetched(response.status_code, httpx.Headers(kept), body)
        finally:
            await response.aclose()
    raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the {what} URL redirects more than {max_redirects} times")


async def guarded_get(
    client: httpx.AsyncClient,
    url: str,
    *,
    rule: UrlRule,
    timeout_s: float,
    max_bytes: int,
    what: str = "result",
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """The bytes at `url` and their content type, through `guarded_request` (the rule on every hop, the
    size cap; credentials never follow a redirect to another origin).

    Raises:
        DyngenError: GEN_PROVIDER_UNAVAILABLE (refused, failed, too large, too many redirects) or
            GEN_EMPTY_OUTPUT (nothing came back).
        httpx.TimeoutException: The download did not finish within `timeout_s`.
    """
    try:
        response = await guarded_request(
            client, "GET", url, rule=rule, timeout_s=timeout_s, max_bytes=max_bytes, what=what, headers=headers
        )
    except httpx.TimeoutException:
        raise
    except httpx.HTTPError as exc:
        raise DyngenError(
            ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the {what} download failed: {type(exc).__name__}"
        ) from exc
    if response.status_code >= 400:
        raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the {what} download answered {response.status_code}")
    if not response.content:
        raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, f"the {what} download is empty")
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
    return response.content, media_type


def _too_large(what: str, max_bytes: int) -> DyngenError:
    return DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the {what} is larger than {max_bytes} bytes")


def secret_parts(values: Iterable[str]) -> list[str]:
    """What to scrub from upstream text: each secret value and each long word of it (`Bearer KEY` gives
    `KEY` too, as a server may echo the key alone), longest first."""
    parts = {v for v in values if len(v) >= MIN_SECRET}
    parts |= {word for v in values for word in v.split() if len(word) >= MIN_SECRET}
    return sorted(parts, key=len, reverse=True)
