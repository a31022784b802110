"""The SSRF rule every provider applies to a URL before fetching it.

A URL may be fetched when it is http(s) with a host, the host is on the allow-list (when there is one),
and every address it resolves to is public: no loopback, link-local, private, reserved or multicast
address. An instance may let exactly its own private hosts through (`private_hosts`: a local ComfyUI at
127.0.0.1 names "127.0.0.1", which lets no other private address through); `allow_private_hosts` lifts the
address rule entirely (the generic `http_video` escape hatch, for tests and closed networks).

The caller connects to the very address that was checked (`pinned`): resolving the name again at connect
time could give another answer (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

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
    what: str = "result URL",
) -> tuple[httpx.URL, str | None]:
    """The URL and the address it was checked at, when the SSRF rule lets it be fetched.

    The address (None when private hosts are allowed and nothing is checked) is the one to connect to.
    A host named in `private_hosts` (exactly, no wildcard) may resolve to a private address; its address
    is still pinned.

    Raises:
        DyngenError: GEN_PROVIDER_UNAVAILABLE naming the rule the URL breaks.
    """
    allowed = list(allowed_hosts)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise refused(f"the {what} is not a URL", what) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise refused("only http(s) URLs with a host are fetched", what)
    if allowed and not host_allowed(parsed.host, allowed):
        raise refused(f"host {parsed.host!r} is not in the allowed hosts", what)
    if allow_private_hosts:
        return parsed, None
    own = parsed.host.lower().rstrip(".") in {h.lower().strip().rstrip(".") for h in private_hosts if h.strip()}
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
                f"host {parsed.host!r} resolves to a {rule} address (private hosts are not allowed; "
                f"name this host in the instance's private_hosts to allow it)",
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
    return url.copy_with(host=address), {"Host": url.netloc.decode("ascii")}, extensions


def refused(why: str, what: str = "result URL") -> DyngenError:
    return DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"{what} refused by the SSRF rule: {why}")


MAX_REDIRECTS = 3
MIN_SECRET = 8  # shorter words (`Bearer`, `Key`) are not secrets


@dataclass(frozen=True, slots=True)
class UrlRule:
    """One instance's SSRF rule: the hosts it may fetch from, and the private hosts it may reach."""

    allowed_hosts: tuple[str, ...] = ()
    allow_private_hosts: bool = False
    private_hosts: tuple[str, ...] = ()

    async def check(self, url: str, *, what: str = "result URL") -> tuple[httpx.URL, str | None]:
        return await check_address(
            url,
            allowed_hosts=self.allowed_hosts,
            allow_private_hosts=self.allow_private_hosts,
            private_hosts=self.private_hosts,
            what=what,
        )


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
    """The bytes at `url` and their content type: every hop checked against `rule` and pinned to the
    address checked, redirects followed by hand, at most `max_bytes` read.

    Raises:
        DyngenError: GEN_PROVIDER_UNAVAILABLE (refused, failed, too large, too many redirects) or
            GEN_EMPTY_OUTPUT (nothing came back).
        httpx.TimeoutException: The download did not finish within `timeout_s`.
    """
    for _ in range(MAX_REDIRECTS + 1):
        target, address = await rule.check(url, what=f"{what} URL")
        connect, sent, extensions = pinned(target, address)
        try:
            async with client.stream(
                "GET",
                connect,
                headers={**(headers or {}), **sent},
                extensions=extensions,
                timeout=timeout_s,
                follow_redirects=False,
            ) as response:
                if response.is_redirect and "location" in response.headers:
                    url = str(target.join(response.headers["location"]))
                    headers = None  # credentials never follow a redirect
                    continue
                if response.status_code >= 400:
                    raise DyngenError(
                        ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the {what} download answered {response.status_code}"
                    )
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(what, max_bytes)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(what, max_bytes)
                    chunks.append(chunk)
                media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        except httpx.TimeoutException:
            raise
        except httpx.HTTPError as exc:
            raise DyngenError(
                ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the {what} download failed: {type(exc).__name__}"
            ) from exc
        if not chunks:
            raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, f"the {what} download is empty")
        return b"".join(chunks), media_type
    raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the {what} URL redirects more than {MAX_REDIRECTS} times")


def _too_large(what: str, max_bytes: int) -> DyngenError:
    return DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"the {what} is larger than {max_bytes} bytes")


def secret_parts(values: Iterable[str]) -> list[str]:
    """What to scrub from upstream text: each secret value and each long word of it (`Bearer KEY` gives
    `KEY` too, as a server may echo the key alone), longest first."""
    parts = {v for v in values if len(v) >= MIN_SECRET}
    parts |= {word for v in values for word in v.split() if len(word) >= MIN_SECRET}
    return sorted(parts, key=len, reverse=True)
