"""The plain wire (`adapters/providers/plain_wire.py`): the provider client's guarded calls to plain-http URLs go
through reqwest, off the event loop's thread, with the contract aiohttp's path keeps (test_http_transport.py
holds the calls both paths answer alike): keep-alive, one bound on the whole call, each failure as the httpx
error a provider maps, an answer dropped half-read never handed to the next call, proxies still applied, and
nothing sent once the client is closed. A raw asyncio server on loopback sees the bytes and misbehaves."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dyngen.adapters.providers.http_transport import AiohttpTransport, ProviderClient
from dyngen.adapters.providers.ssrf import UrlRule, guarded_request
from dyngen.config import outbound_proxies
from dyngen.domain.errors import DyngenError
from tests.support.raw_http import Serve, cut_off_on, echo_path, ok, raw_servers
from tests.support.servers import free_port
from tests.support.waiting import hang_guard


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async with raw_servers() as start:
        yield start


@pytest.fixture
def aiohttp_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs that went through aiohttp (`AiohttpTransport.send`), still sent."""
    called: list[str] = []
    send = AiohttpTransport.send

    async def counted(self: AiohttpTransport, method: str, url: httpx.URL, *args: Any, **kwargs: Any) -> Any:
        called.append(str(url))
        return await send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(AiohttpTransport, "send", counted)
    return called


@pytest.fixture
async def http() -> AsyncIterator[ProviderClient]:
    async with ProviderClient(transport=AiohttpTransport(), timeout=30) as client:
        yield client


async def call(http: ProviderClient, url: str, *, timeout_s: float = 10, max_bytes: int = 1 << 20) -> httpx.Response:
    rule = UrlRule.for_instance([url])
    return await guarded_request(http, "POST", url, rule=rule, timeout_s=timeout_s, max_bytes=max_bytes, json={})


async def test_plain_http_calls_go_through_the_plain_wire_on_one_kept_alive_connection(
    serve: Serve, http: ProviderClient, aiohttp_calls: list[str]
) -> None:
    port, seen = await serve(echo_path)
    for i in range(3):
        answer = await call(http, f"http://127.0.0.1:{port}/v1/{i}?q=1")
        assert (answer.status_code, answer.content) == (200, f"/v1/{i}?q=1".encode())
        assert answer.headers.get_list("x-twice") == ["a", "b"]
    assert aiohttp_calls == []
    assert seen.connections == 1
    assert all(head.startswith(b"POST /v1/") for head in seen.heads)


async def test_with_the_plain_wire_off_the_same_call_goes_through_aiohttp(
    serve: Serve, aiohttp_calls: list[str]
) -> None:
    port, _ = await serve(echo_path)
    async with ProviderClient(transport=AiohttpTransport(plain_wire=False), timeout=30) as http:
        assert (await call(http, f"http://127.0.0.1:{port}/v1")).content == b"/v1"
    assert aiohttp_calls == [f"http://127.0.0.1:{port}/v1"]


async def test_refused_silent_and_cut_off_calls_fail_as_httpx_errors_and_every_url_answers_again(
    serve: Serve, http: ProviderClient
) -> None:
    never = asyncio.Event()

    async def silent(_h: bytes, _r: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
        await never.wait()

    good, _ = await serve(echo_path)
    quiet, seen_quiet = await serve(silent)
    cut, seen_cut = await serve(cut_off_on(2))  # a kept-alive connection dropped halfway through the second answer
    good_url, cut_url = f"http://127.0.0.1:{good}/", f"http://127.0.0.1:{cut}/"
    assert (await call(http, good_url)).content == b"/"
    with pytest.raises(httpx.ConnectError):
        await call(http, f"http://127.0.0.1:{free_port()}/")
    async with hang_guard("a call to a server that accepts and never answers"):
        with pytest.raises(httpx.ReadTimeout):
            await call(http, f"http://127.0.0.1:{quiet}/", timeout_s=0.2)
    assert seen_quiet.heads, "the request was sent: the server accepted and kept quiet"
    assert (await call(http, cut_url)).content == b"whole"
    with pytest.raises(httpx.RemoteProtocolError):
        await call(http, cut_url)
    assert (await call(http, cut_url)).content == b"whole"
    assert seen_cut.connections == 2
    assert (await call(http, good_url)).content == b"/"
    never.set()


async def test_a_body_that_trickles_past_the_calls_bound_is_a_read_timeout(serve: Serve, http: ProviderClient) -> None:
    # Each read comes soon, the whole never: a per-read timeout would wait for ever; the call's bound ends it.
    stop = asyncio.Event()

    async def trickle(_h: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.01)

    port, _ = await serve(trickle)
    try:
        async with hang_guard("a body that never ends"):
            with pytest.raises(httpx.ReadTimeout):
                await call(http, f"http://127.0.0.1:{port}/", timeout_s=0.3)
    finally:
        stop.set()


async def test_an_answer_over_its_cap_is_refused_and_its_connection_not_handed_to_the_next_call(
    serve: Serve, http: ProviderClient
) -> None:
    async def sized(head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if b" /big " in head:  # no Content-Length to refuse it by: chunked, read until over the cap
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(40):
                writer.write(b"%x\r\n%s\r\n" % (50_000, b"x" * 50_000))
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(ok(b"small"))

    port, seen = await serve(sized)
    with pytest.raises(DyngenError, match="larger than 65536 bytes"):
        await call(http, f"http://127.0.0.1:{port}/big", max_bytes=1 << 16)
    assert (await call(http, f"http://127.0.0.1:{port}/small")).content == b"small"
    assert seen.heads[-1].startswith(b"POST /small ")


async def test_a_proxy_in_the_environment_still_carries_plain_http_calls_and_no_proxy_hosts_take_the_plain_wire(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, aiohttp_calls: list[str]
) -> None:
    proxy, via_proxy = await serve(echo_path)
    direct, seen_direct = await serve(echo_path)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with ProviderClient(transport=AiohttpTransport(proxies=outbound_proxies()), timeout=30) as http:
        rule = UrlRule(allow_private_hosts=True)
        proxied = await guarded_request(
            http, "GET", "http://models.example:9/v1/models", rule=rule, timeout_s=10, max_bytes=1 << 20
        )
        assert proxied.content == b"http://models.example:9/v1/models"
        assert (await call(http, f"http://127.0.0.1:{direct}/v1")).content == b"/v1"
    assert via_proxy.heads[0].startswith(b"GET http://models.example:9/v1/models HTTP/1.1")
    assert seen_direct.heads[0].startswith(b"POST /v1 HTTP/1.1")
    assert aiohttp_calls == ["http://models.example:9/v1/models"]


async def test_a_closed_client_sends_nothing_on_the_plain_wire(serve: Serve) -> None:
    port, seen = await serve(echo_path)
    http = ProviderClient(transport=AiohttpTransport(), timeout=5)
    assert (await call(http, f"http://127.0.0.1:{port}/before")).content == b"/before"
    await http.aclose()
    with pytest.raises(RuntimeError):
        await call(http, f"http://127.0.0.1:{port}/late")
    transport = AiohttpTransport()
    await transport.aclose()
    with pytest.raises(RuntimeError):
        await transport.exchange(
            "GET", httpx.URL(f"http://127.0.0.1:{port}/late"), [], None, timeout_s=5, sni=None, host=None
        )
    assert [head.split(b" ")[1] for head in seen.heads] == [b"/before"]


async def test_a_call_in_flight_when_the_client_closes_fails_as_a_transport_error(serve: Serve) -> None:
    # At shutdown the client closes under calls still waiting (a warm-up interrupted): a provider maps an httpx
    # error to "unavailable"; anything else would be logged as the provider crashing.
    arrived, never = asyncio.Event(), asyncio.Event()

    async def silent(_h: bytes, _r: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
        arrived.set()
        await never.wait()

    port, _ = await serve(silent)
    http = ProviderClient(transport=AiohttpTransport(), timeout=30)
    waiting = asyncio.create_task(call(http, f"http://127.0.0.1:{port}/slow", timeout_s=60))
    async with hang_guard("the call reaching the server"):
        await arrived.wait()
    await http.aclose()
    async with hang_guard("the call in flight failing"):
        with pytest.raises(httpx.TransportError):
            await waiting
    never.set()


async def test_a_cancelled_call_ends_upstream_at_its_own_bound_and_the_next_call_is_answered(serve: Serve) -> None:
    # pyreqwest cannot stop a request once sent: a call whose caller is cancelled goes on until its own bound
    # (every provider passes what is left of its deadline), then hangs up. The caller is not kept waiting.
    arrived, hung_up, never = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def silent(_h: bytes, reader: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
        arrived.set()
        await reader.read()  # the end of the connection: the client hung up
        hung_up.set()
        await never.wait()

    quiet, _ = await serve(silent)
    good, _ = await serve(echo_path)
    async with ProviderClient(transport=AiohttpTransport(), timeout=30) as http:
        waiting = asyncio.create_task(call(http, f"http://127.0.0.1:{quiet}/slow", timeout_s=0.5))
        async with hang_guard("the call reaching the server"):
            await arrived.wait()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert (await call(http, f"http://127.0.0.1:{good}/next")).content == b"/next"
        async with hang_guard("the cancelled call's own bound"):
            await hung_up.wait()
    never.set()


@pytest.mark.parametrize(
    ("headers", "timeout_s", "error"),
    [
        ({"X Bad Name": "v"}, 5.0, httpx.LocalProtocolError),  # a header name the wire cannot send
        ({}, -0.5, httpx.TimeoutException),  # no time left: nothing sent, a timeout
    ],
)
async def test_what_the_wire_refuses_to_send_is_an_httpx_error(
    serve: Serve, http: ProviderClient, headers: dict[str, str], timeout_s: float, error: type[Exception]
) -> None:
    port, _ = await serve(echo_path)
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(error):
        await guarded_request(
            http, "GET", url, rule=UrlRule.for_instance([url]), timeout_s=timeout_s, max_bytes=1000, headers=headers
        )
    assert (await call(http, url)).content == b"/v1"


@pytest.mark.parametrize("plain", [True, False], ids=["plain wire", "aiohttp"])
@pytest.mark.parametrize(
    "value", ['filename="café_00001_.png"'.encode(), 'filename="café.png"'.encode("latin-1")], ids=["utf-8", "latin-1"]
)
async def test_an_answer_with_a_header_past_ascii_is_handed_on(serve: Serve, plain: bool, value: bytes) -> None:
    # ComfyUI's /view names the file in Content-Disposition, as UTF-8: the answer used to fail as a provider crash.
    async def named(_h: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(b"PNG", headers=b"Content-Type: image/png\r\nContent-Disposition: " + value + b"\r\n"))

    port, _ = await serve(named)
    url = f"http://127.0.0.1:{port}/view?filename=x"
    async with ProviderClient(transport=AiohttpTransport(plain_wire=plain), timeout=30) as http:
        answer = await guarded_request(http, "GET", url, rule=UrlRule.for_instance([url]), timeout_s=5, max_bytes=1000)
    assert (answer.content, answer.headers["content-type"]) == (b"PNG", "image/png")
    if plain:  # pyreqwest hands over visible ASCII only: the header is left out, the answer kept
        assert "content-disposition" not in answer.headers
    else:
        assert answer.headers["content-disposition"] == value.decode("utf-8" if b"\xc3" in value else "latin-1")


_FORKED = """
import asyncio, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from dyngen.adapters.providers.http_transport import AiohttpTransport, ProviderClient
from dyngen.adapters.providers.ssrf import UrlRule, guarded_request

class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args): pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/"
made_before = ProviderClient(transport=AiohttpTransport(), timeout=5)

async def one(http):
    return (await guarded_request(http, "GET", url, rule=UrlRule.for_instance([url]), timeout_s=3, max_bytes=9)).content

print("parent", asyncio.run(one(made_before)).decode(), flush=True)
pid = os.fork()
if pid == 0:
    try:
        made_after = ProviderClient(transport=AiohttpTransport(), timeout=5)
        for name, http in (("same client", made_before), ("new client", made_after)):
            print("child", name, asyncio.run(asyncio.wait_for(one(http), 20)).decode(), flush=True)
    finally:
        os._exit(0)
os.waitpid(pid, 0)
"""


def test_a_process_forked_after_a_plain_call_calls_through_aiohttp_instead_of_hanging() -> None:
    # pyreqwest's runtime does not survive a fork (a call would hang past its own bound, a new client fails).
    done = subprocess.run([sys.executable, "-c", _FORKED], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.splitlines() == ["parent ok", "child same client ok", "child new client ok"], done.stderr
