"""A video transition is answered as soon as its video is playable, and the video streams while it renders.

The render is driven by events (`FakeStreamingVideoProvider`: its first part is written at once, the rest
when the test sets `render`), so "the answer came before the render finished" is an order of events, not
a duration. The artifact's bytes are read through the ASGI app directly, message by message, because
httpx's ASGI transport hands a body over only once it is whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app
from dyngen.services.machinery.container import Services
from tests.e2e.test_video import video_request
from tests.fakes import FakeProvider, FakeStreamingVideoProvider


class Server:
    def __init__(self, services: Services, app: Any, http: httpx.AsyncClient, video: FakeStreamingVideoProvider):
        self.services, self.app, self.http, self.video = services, app, http, video

    async def stream(self, url: str, headers: dict[str, str] | None = None) -> Body:
        """GET `url` through the app, its body messages readable as they are sent."""
        body = Body()
        parts = urlsplit(url)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": parts.path,
            "raw_path": parts.path.encode(),
            "query_string": parts.query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
            + [(b"host", b"dyngen.test")],
            "client": ("127.0.0.1", 1),
            "server": ("dyngen.test", 80),
        }
        sent = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if not sent.is_set():
                sent.set()
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            await body.messages.put(message)

        body.task = asyncio.create_task(self.app(scope, receive, send))
        start = await body.messages.get()
        body.status = start["status"]
        body.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return body


class Body:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.status = 0
        self.headers: dict[str, str] = {}

    async def chunk(self) -> tuple[bytes, bool]:
        """The next body message: its bytes and whether more follow."""
        message = await self.messages.get()
        return message.get("body", b""), bool(message.get("more_body", False))

    async def rest(self) -> bytes:
        data, more = b"", True
        while more:
            part, more = await self.chunk()
            data += part
        return data


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    return await _server(tmp_path, {"video_streaming": True})


async def _server(tmp_path: Path, options: dict[str, Any], *, fail: bool = False) -> Server:
    settings = Settings(data_dir=tmp_path / "data", **options)
    video = FakeStreamingVideoProvider(fail=fail)
    services = await build(settings, providers={"builtin": FakeProvider(name="builtin"), "fake_video": video})
    await services.start()
    app = create_app(settings, services=services)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test")
    _opened.append((services, http))
    return Server(services, app, http, video)


_opened: list[tuple[Services, httpx.AsyncClient]] = []


@pytest.fixture(autouse=True)
async def _close() -> AsyncIterator[None]:
    yield
    while _opened:
        services, http = _opened.pop()
        await http.aclose()
        await services.aclose()


def _request(**changes: Any) -> dict[str, Any]:
    return video_request(provider="fake_video", strategy="once", **changes)


async def test_the_answer_comes_while_the_video_renders_and_the_video_streams_as_it_grows(server: Server) -> None:
    video = server.video

    answer = await server.http.post("/api/generate-content", json=_request())

    assert not video.render.is_set(), "answered before the render finished"
    body = answer.json()
    assert (answer.status_code, body["status"]) == (200, "complete"), body
    url = body["content"]["url"]
    stream = await server.stream(url)
    assert (stream.status, stream.headers["content-type"]) == (200, "video/mp4")
    assert "content-length" not in stream.headers
    assert stream.headers["cache-control"] == "no-store"
    first, more = await stream.chunk()
    assert (first, more) == (video.first, True), "the part rendered so far, and the stream stays open"
    assert await server.services.cache.get(body["cache_key"], lambda raw: raw) is None, "not cached before done"

    video.render.set()
    assert await stream.rest() == video.rest

    record = (await server.http.get(f"/api/generations/{body['generation_id']}")).json()
    assert record["status"] == "complete"
    [artifact] = record["artifacts"]
    assert url.startswith(f"/api/artifacts/{artifact['id']}?"), "the URL handed out names the recorded video"
    whole = await server.http.get(url)
    assert whole.content == video.first + video.rest
    assert whole.headers["cache-control"].startswith("public"), "served as a finished artifact now"
    again = (await server.http.post("/api/generate-content", json=_request())).json()
    assert again["cache"]["hit"] is True
    assert again["content"]["url"].split("?")[0] == url.split("?")[0]
    assert len(video.calls) == 1


async def test_a_second_caller_while_it_renders_gets_the_same_video_without_a_second_render(server: Server) -> None:
    first = (await server.http.post("/api/generate-content", json=_request())).json()
    second = (await server.http.post("/api/generate-content", json=_request())).json()

    assert second["content"]["url"].split("?")[0] == first["content"]["url"].split("?")[0]
    assert len(server.video.calls) == 1
    server.video.render.set()


async def test_a_render_that_fails_after_the_answer_ends_the_stream_with_an_error(tmp_path: Path) -> None:
    server = await _server(tmp_path, {"video_streaming": True}, fail=True)
    body = (await server.http.post("/api/generate-content", json=_request())).json()
    url = body["content"]["url"]
    stream = await server.stream(url)
    assert (await stream.chunk()) == (server.video.first, True)

    server.video.render.set()

    assert stream.task is not None
    with pytest.raises(Exception, match="failed while it was made"):
        await stream.task  # the app raises: the server cuts the connection, no end of the chunked body
    record = (await server.http.get(f"/api/generations/{body['generation_id']}")).json()
    assert (record["status"], record["error_code"]) == ("failed", "GEN_PROVIDER_UNAVAILABLE")
    assert (await server.http.get(url)).status_code == 404, "nothing is left behind the URL"
    assert await server.services.cache.get(body["cache_key"], lambda raw: raw) is None
    assert len(server.video.calls) == 1, "a video already handed out is not rendered again"


async def test_ranges_on_a_video_still_rendering(server: Server) -> None:
    url = (await server.http.post("/api/generate-content", json=_request())).json()["content"]["url"]
    first = server.video.first

    from_start = await server.stream(url, {"Range": "bytes=0-"})
    within = await server.http.get(url, headers={"Range": "bytes=6-"})
    beyond = await server.http.get(url, headers={"Range": f"bytes={len(first)}-"})
    head = await server.http.head(url)

    assert (from_start.status, (await from_start.chunk())[0]) == (200, first)
    assert (within.status_code, within.headers["content-range"], within.content) == (
        206,
        f"bytes 6-{len(first) - 1}/*",
        first[6:],
    )
    assert beyond.status_code == 416
    assert (head.status_code, head.content, head.headers.get("content-length")) == (200, b"", None)
    server.video.render.set()
    assert await from_start.rest() == server.video.rest


async def test_a_node_with_elements_to_check_is_answered_once_rendered(server: Server) -> None:
    request = _request(constraints={"requiredElements": ["rain"]})
    answer = asyncio.create_task(server.http.post("/api/generate-content", json=request))
    rendering = asyncio.create_task(server.video.rendering.wait())
    await asyncio.wait({answer, rendering}, return_when=asyncio.FIRST_COMPLETED)

    assert rendering.done()
    assert not answer.done(), "it waits on the render, which waits on the test"
    server.video.render.set()
    assert (await answer).status_code == 200


def test_streaming_is_off_by_default_and_on_in_the_embedded_mode_only(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).streams_video is False, "a game gets every artifact in the first answer"
    assert Settings(data_dir=tmp_path, video_streaming=True).streams_video is True
    on = {"data_dir": tmp_path, "video_streaming": True}
    assert Settings(**on, redis_url="redis://cache:6379/0").streams_video is False
    assert Settings(**on, object_store_url="s3://bucket/prefix").streams_video is False


async def test_with_streaming_off_the_answer_waits_for_the_whole_video(tmp_path: Path) -> None:
    server = await _server(tmp_path, {"video_streaming": False})
    server.video.render.set()

    body = (await server.http.post("/api/generate-content", json=_request())).json()

    assert server.services.live is None
    assert server.video.calls[0].stream is None
    assert [a["role"] for a in body["artifacts"]] == ["video"], "answered once whole, with its artifacts"
