"""`AiohttpTransport`, the wire under every provider's outbound call: what httpx's own transport does, seen
from a server on loopback (a raw asyncio server, so that the test sees the bytes sent and can misbehave):
the request as httpx built it, keep-alive, uploads, encoded answers, the SSRF rule's pinned address and TLS
server name, and each failure as the httpx error a provider maps (a refused connection, a server that
accepts and never answers, one that hangs up mid-answer), with every URL that answered before answering
again afterwards."""

from __future__ import annotations

import asyncio
import base64
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import trustme

from dyngen.adapters.providers.http_transport import AiohttpTransport, ProviderClient, Proxies
from dyngen.adapters.providers.ssrf import UrlRule, guarded_request, pinned
from dyngen.config import outbound_proxies
from dyngen.domain.errors import DyngenError
from tests.support.raw_http import Seen, Serve, cut_off_on, echo_path, ok, raw_servers
from tests.support.servers import free_port
from tests.support.waiting import hang_guard


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async with raw_servers() as start:
        yield start


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=10) as http:
        yield http


async def test_a_request_arrives_as_httpx_built_it_and_the_answer_comes_back_whole(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], client: httpx.AsyncClient
) -> None:
    port, seen = await serve(echo_path)
    response = await client.post(
        f"http://127.0.0.1:{port}/v1/chat?x=1", json={"model": "m"}, headers={"Authorization": "Bearer k"}
    )
    assert (response.status_code, response.content, response.reason_phrase) == (200, b"/v1/chat?x=1", "OK")
    assert response.headers.get_list("x-twice") == ["a", "b"]
    head = seen.heads[0].decode()
    assert head.startswith("POST /v1/chat?x=1 HTTP/1.1\r\n")
    sent = [line.split(":", 1)[0].lower() for line in head.split("\r\n")[1:] if line]
    assert sorted(sent) == sorted(
        [
            "host",
            "accept",
            "accept-encoding",
            "connection",
            "user-agent",
            "authorization",
            "content-length",
            "content-type",
        ]
    ), "httpx's headers, each once, and nothing added"
    assert f"user-agent: python-httpx/{httpx.__version__}" in head.lower()
    assert seen.bodies == [b'{"model":"m"}']


async def test_calls_one_after_another_share_one_connection(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], client: httpx.AsyncClient
) -> None:
    port, seen = await serve(echo_path)
    for i in range(5):
        assert (await client.get(f"http://127.0.0.1:{port}/{i}")).content == f"/{i}".encode()
    assert seen.connections == 1


async def test_an_upload_and_a_gzip_answer(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], client: httpx.AsyncClient
) -> None:
    packed = gzip.compress(b"decoded by httpx")

    async def gzipped(_h: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(packed, headers=b"Content-Encoding: gzip\r\n"))

    port, seen = await serve(gzipped)
    response = await client.post(f"http://127.0.0.1:{port}/upload", files={"image": ("a.png", b"\x89PNG" * 5000)})
    assert response.content == b"decoded by httpx"
    assert b"\x89PNG" * 5000 in seen.bodies[0]
    assert b'filename="a.png"' in seen.bodies[0]


async def test_the_ssrf_rules_pinned_address_keeps_the_hosts_name_and_tls_server_name(
    serve: Callable[..., Awaitable[tuple[int, Seen]]],
) -> None:
    authority = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("models.example").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    authority.configure_trust(client_tls)
    port, seen = await serve(echo_path, tls=server_tls)
    # What guarded_request sends once the rule has checked models.example (which resolves nowhere here) at
    # 127.0.0.1: the call goes to the address, the server sees the name.
    connect, headers, extensions = pinned(httpx.URL(f"https://models.example:{port}/v1/models"), "127.0.0.1")
    async with httpx.AsyncClient(transport=AiohttpTransport(verify=client_tls)) as http:
        with pytest.raises(httpx.ConnectError):  # the certificate names models.example, not 127.0.0.1
            await http.get(f"https://127.0.0.1:{port}/v1/models")
        pinned_call = await http.get(connect, headers=headers, extensions=extensions)
    assert pinned_call.content == b"/v1/models"
    assert f"host: models.example:{port}" in seen.heads[-1].decode().lower()


async def test_a_refused_connection_is_a_connect_error_not_a_timeout(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(httpx.ConnectError):
        await client.get("http://no-such-host.invalid/")


async def test_a_server_that_accepts_and_never_answers_is_a_read_timeout_and_the_others_still_answer(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], client: httpx.AsyncClient
) -> None:
    never = asyncio.Event()

    async def silent(_h: bytes, _r: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
        await never.wait()

    good, _ = await serve(echo_path)
    assert (await client.get(f"http://127.0.0.1:{good}/before")).content == b"/before"
    port, seen = await serve(silent)
    async with hang_guard("the read timeout"):
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(10, read=0.2))
    assert seen.heads, "the request was sent: the server accepted and kept quiet"
    assert (await client.get(f"http://127.0.0.1:{good}/before")).content == b"/before"
    never.set()


async def test_a_server_that_hangs_up_mid_answer_is_a_protocol_error_and_the_next_call_reconnects(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], client: httpx.AsyncClient
) -> None:
    port, seen = await serve(cut_off_on(2))  # a keep-alive connection the server drops halfway through the second
    assert (await client.get(f"http://127.0.0.1:{port}/")).content == b"whole"
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(f"http://127.0.0.1:{port}/")
    assert (await client.get(f"http://127.0.0.1:{port}/")).content == b"whole"
    assert seen.connections == 2


async def test_an_answer_not_read_to_its_end_gives_no_connection_back_with_bytes_left_in_it(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], client: httpx.AsyncClient
) -> None:
    async def big(head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(b"x" * 1_000_000 if b"/big" in head else b"small"))

    port, _ = await serve(big)
    async with client.stream("GET", f"http://127.0.0.1:{port}/big") as response:
        async for _chunk in response.aiter_bytes():
            break  # a body over its cap is dropped, as guarded_request does
    assert (await client.get(f"http://127.0.0.1:{port}/small")).content == b"small"


async def test_a_proxy_named_in_the_environment_carries_the_call(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, seen = await serve(echo_path)  # a forward proxy gets the target in absolute form
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with httpx.AsyncClient(transport=AiohttpTransport(proxies=outbound_proxies())) as http:
        response = await http.get("http://models.example:9/v1/models")
    assert response.content == b"http://models.example:9/v1/models"
    assert seen.heads[0].startswith(b"GET http://models.example:9/v1/models HTTP/1.1")


async def test_the_proxys_credentials_go_to_the_proxy_and_no_proxy_hosts_are_called_directly(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, via_proxy = await serve(echo_path)
    direct, seen_direct = await serve(echo_path)
    monkeypatch.setenv("HTTP_PROXY", f"http://us%40er:p%3Ass@127.0.0.1:{proxy}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with httpx.AsyncClient(transport=AiohttpTransport(proxies=outbound_proxies())) as http:
        assert (await http.get("http://models.example:9/v1")).content == b"http://models.example:9/v1"
        assert (await http.get(f"http://127.0.0.1:{direct}/v1")).content == b"/v1"
    lines = dict(line.split(": ", 1) for line in via_proxy.heads[0].decode().split("\r\n")[1:] if line)
    assert lines["Proxy-Authorization"] == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert "Authorization" not in lines, "the proxy's credentials are never the server's"
    assert len(via_proxy.heads) == 1
    assert seen_direct.heads[0].startswith(b"GET /v1 HTTP/1.1")


async def test_a_netrc_file_is_not_read_and_a_call_takes_no_thread(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As httpx's own transport: no credentials from ~/.netrc, and nothing handed to a thread (aiohttp's
    `trust_env` reads the netrc file and the proxies in a thread on every request)."""
    port, seen = await serve(echo_path)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    handed: list[object] = []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn: Callable[..., object], /, *args: object, **kwargs: object) -> Future[object]:
            handed.append(fn)
            return super().submit(fn, *args, **kwargs)

    loop = asyncio.get_running_loop()
    executor = Counting(max_workers=1)
    loop.set_default_executor(executor)
    async with httpx.AsyncClient(transport=AiohttpTransport(proxies=outbound_proxies())) as http:
        await http.get(f"http://127.0.0.1:{port}/first")  # the session and its pool are made here
        handed.clear()
        for i in range(3):
            assert (await http.get(f"http://127.0.0.1:{port}/{i}")).content == f"/{i}".encode()
    assert handed == []
    assert all(b"authorization" not in head.lower() for head in seen.heads)


async def test_an_upload_to_a_server_that_never_reads_is_a_write_timeout_not_a_hang() -> None:
    """aiohttp has no write timeout: the request is bounded as a whole (pool + connect + write + read)."""
    held: list[asyncio.StreamWriter] = []

    async def never_reads(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepted, kept open, never read: the socket buffers fill and the upload stalls

    server = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ProviderClient(transport=AiohttpTransport(), timeout=30) as http:

            async def megabytes() -> AsyncIterator[bytes]:
                for _ in range(64):
                    yield b"x" * (1 << 20)

            request = http.build_request("POST", f"http://127.0.0.1:{port}/upload", content=megabytes(), timeout=0.2)
            async with hang_guard("an upload to a server that never reads"):
                with pytest.raises(httpx.WriteTimeout):
                    await http.send_now(request)
    finally:
        for writer in held:
            writer.close()
        server.close()


def test_no_proxy_is_matched_against_the_host_a_pinned_call_names_and_against_bare_ipv6() -> None:
    proxies = Proxies({"http": "http://proxy:3128", "no": "localhost,::1"})
    pinned_url, sent, _ = pinned(httpx.URL("http://localhost:8188/view"), "127.0.0.1")
    assert proxies.for_url(pinned_url, sent["Host"]) is None, "the host NO_PROXY names, not its address"
    assert proxies.for_url(httpx.URL("http://[::1]:8080/v1")) is None
    assert proxies.for_url(httpx.URL("http://models.example/v1")) == "http://proxy:3128"


def test_a_proxy_named_without_a_scheme_is_an_http_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    assert outbound_proxies() == {"http": "http://proxy.internal:3128", "no": "localhost"}


async def test_a_closed_client_sends_nothing_and_opens_no_session(
    serve: Callable[..., Awaitable[tuple[int, Seen]]],
) -> None:
    port, seen = await serve(echo_path)
    transport = AiohttpTransport()
    http = ProviderClient(transport=transport, timeout=5)
    await http.aclose()
    with pytest.raises(RuntimeError):
        await http.send_now(http.build_request("GET", f"http://127.0.0.1:{port}/late"))
    with pytest.raises(RuntimeError):
        await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{port}/late"))
    assert seen.heads == []


async def test_a_reason_phrase_outside_latin_1_is_an_answer(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], client: httpx.AsyncClient
) -> None:
    async def utf8_reason(_head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write("HTTP/1.1 200 成功\r\nContent-Length: 2\r\n\r\nok".encode())

    port, _ = await serve(utf8_reason)
    response = await client.get(f"http://127.0.0.1:{port}/")
    assert (response.status_code, response.content) == (200, b"ok")


async def test_a_json_body_keeps_the_content_type_its_caller_set(
    serve: Callable[..., Awaitable[tuple[int, Seen]]],
) -> None:
    port, seen = await serve(echo_path)
    url = f"http://127.0.0.1:{port}/v1/render"
    async with ProviderClient(transport=AiohttpTransport(), timeout=5) as http:
        await guarded_request(
            http,
            "POST",
            url,
            rule=UrlRule.for_instance([url]),
            timeout_s=5,
            max_bytes=1 << 20,
            json={"a": 1},
            headers={"content-type": "application/vnd.api+json"},
        )
        await guarded_request(
            http, "POST", url, rule=UrlRule.for_instance([url]), timeout_s=5, max_bytes=1 << 20, json={"a": 1}
        )
    types = [
        [line.lower() for line in head.split(b"\r\n") if line.lower().startswith(b"content-type:")]
        for head in seen.heads
    ]
    assert types == [[b"content-type: application/vnd.api+json"], [b"content-type: application/json"]]


@pytest.mark.parametrize("kind", ["provider client", "plain httpx client"])
async def test_a_compressed_answer_reaches_the_caller_of_guarded_request_decoded_once_and_capped_decoded(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], kind: str
) -> None:
    # httpx asks for gzip (its default Accept-Encoding) and hosted model APIs answer so: the body used to be
    # decoded twice, and every such call failed as "unreachable: DecodingError".
    answer = b'{"choices": [{"message": {"content": "hello"}}]}'
    bomb = gzip.compress(b"0" * 200_000)  # small on the wire, over the cap once decoded

    async def gzipped(head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = bomb if b" /bomb " in head else gzip.compress(answer)
        writer.write(ok(body, headers=b"Content-Encoding: gzip\r\nContent-Type: application/json\r\n"))

    port, seen = await serve(gzipped)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    rule = UrlRule.for_instance([url])
    http = ProviderClient(transport=AiohttpTransport(), timeout=5) if kind == "provider client" else httpx.AsyncClient()
    async with http:
        response = await guarded_request(http, "POST", url, rule=rule, timeout_s=5, max_bytes=1 << 16, json={"a": 1})
        assert (response.status_code, response.content) == (200, answer)
        assert response.json()["choices"][0]["message"]["content"] == "hello"
        assert "content-encoding" not in response.headers
        assert response.headers["content-length"] == str(len(answer))
        assert response.headers["content-type"] == "application/json"
        with pytest.raises(DyngenError, match="larger than 65536 bytes"):
            await guarded_request(
                http, "GET", f"http://127.0.0.1:{port}/bomb", rule=rule, timeout_s=5, max_bytes=1 << 16
            )
    assert b"accept-encoding: gzip" in seen.heads[0].lower()


def _header_lines(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return sorted(
        (name.strip().lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines if line)
    )


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("POST", {"json": {"model": "m"}}),
        ("POST", {}),
        ("GET", {}),
        ("GET", {"content": b""}),
        ("PUT", {"content": b"raw bytes"}),
    ],
)
async def test_a_guarded_call_of_the_provider_client_sends_what_httpx_would(
    serve: Callable[..., Awaitable[tuple[int, Seen]]], method: str, extra: dict[str, object]
) -> None:
    # The server's client sends a guarded call straight to aiohttp (`ProviderClient.exchange`), without an
    # httpx request: the same request line, headers and body must arrive as from httpx's own client.
    port, seen = await serve(echo_path)
    url = f"http://127.0.0.1:{port}/v1/x?y=1"
    rule = UrlRule.for_instance([url])
    answers = []
    for http in (ProviderClient(transport=AiohttpTransport(), timeout=5), httpx.AsyncClient()):
        async with http:
            answer = await guarded_request(
                http,
                method,
                url,
                rule=rule,
                timeout_s=5,
                max_bytes=1 << 20,
                headers={"Authorization": "Bearer k"},
                **extra,
            )
            answers.append((answer.status_code, answer.content, answer.headers.get_list("x-twice")))
    assert answers[0] == answers[1] == (200, b"/v1/x?y=1", ["a", "b"])
    lean, built = seen.heads
    assert lean.split(b"\r\n")[0] == built.split(b"\r\n")[0] == f"{method} /v1/x?y=1 HTTP/1.1".encode()
    assert _header_lines(lean) == _header_lines(built)
    assert seen.bodies[0] == seen.bodies[1]


async def test_the_provider_clients_guarded_calls_fail_as_httpx_errors_and_the_others_still_answer(
    serve: Callable[..., Awaitable[tuple[int, Seen]]],
) -> None:
    never = asyncio.Event()

    async def silent(_h: bytes, _r: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
        await never.wait()

    good, _ = await serve(echo_path)
    quiet, seen = await serve(silent)
    refused = free_port()
    urls = [f"http://127.0.0.1:{p}/" for p in (good, quiet, refused)]
    rule = UrlRule.for_instance(urls)
    async with ProviderClient(transport=AiohttpTransport(), timeout=5) as http:

        async def call(url: str, timeout_s: float = 5) -> httpx.Response:
            return await guarded_request(http, "POST", url, rule=rule, timeout_s=timeout_s, max_bytes=1024, json={})

        assert (await call(urls[0])).content == b"/"
        with pytest.raises(httpx.ConnectError):
            await call(urls[2])
        async with hang_guard("the read timeout"):
            with pytest.raises(httpx.ReadTimeout):
                await call(urls[1], timeout_s=0.2)
        assert seen.heads, "the request was sent: the server accepted and kept quiet"
        assert (await call(urls[0])).content == b"/"
    never.set()


async def test_a_head_answer_keeps_its_declared_size_and_a_header_httpx_refuses_is_refused_by_both(
    serve: Callable[..., Awaitable[tuple[int, Seen]]],
) -> None:
    async def sized(_h: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n")  # HEAD: the size, no body

    port, seen = await serve(sized)
    url = f"http://127.0.0.1:{port}/video.mp4"
    rule = UrlRule.for_instance([url])
    for http in (ProviderClient(transport=AiohttpTransport(), timeout=5), httpx.AsyncClient()):
        async with http:
            answer = await guarded_request(http, "HEAD", url, rule=rule, timeout_s=5, max_bytes=1 << 20)
            assert (answer.status_code, answer.headers["content-length"], answer.content) == (200, "12345", b"")
            with pytest.raises(UnicodeEncodeError):
                await guarded_request(
                    http, "GET", url, rule=rule, timeout_s=5, max_bytes=1 << 20, headers={"X-Name": "caf\u00e9"}
                )
    assert len(seen.heads) == 2, "nothing sent with the refused header"
