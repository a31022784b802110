"""A video transition is answered as soon as its video is playable, and the video streams while it renders.
The answer names every artifact a whole answer names (poster, captions, script), each loadable at once, and
it is the answer a later cache hit gets, field by field.

The render is driven by events (`FakeStreamingVideoProvider`: its first part is written at once, the rest
when the test sets `render`; `FakeHeldRender` holds a real `builtin_video` render once it is playable), so
"the answer came before the render finished" is an order of events, not a duration. The artifact's bytes
are read through the ASGI app directly, message by message, because httpx's ASGI transport hands a body
over only once it is whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.adapters.providers.video import BuiltinVideoProvider
from dyngen.bootstrap import build
from dyngen.bootstrap_ports import warmup_ports
from dyngen.config import Settings
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.entrypoints.api.app import create_app
from dyngen.ports import Provider
from dyngen.services.generation.outcomes import CacheEntry
from dyngen.services.machinery.container import Services
from tests.e2e.test_video import video_request
from tests.fakes import FakeHeldRender, FakeProvider, FakeStreamingVideoProvider


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


async def _server(
    tmp_path: Path, options: dict[str, Any], *, fail: bool = False, providers: dict[str, Provider] | None = None
) -> Server:
    settings = Settings(data_dir=tmp_path / "data", **options)
    video = FakeStreamingVideoProvider(fail=fail)
    providers = {"builtin": FakeProvider(name="builtin"), "fake_video": video, **(providers or {})}
    services = await build(settings, providers=providers)
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
    artifact = record["artifacts"][0]
    assert artifact["role"] == "video"
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
    assert [_unsigned(a) for a in second["artifacts"]] == [_unsigned(a) for a in first["artifacts"]]
    assert len(server.video.calls) == 1
    server.video.render.set()


async def test_a_render_that_fails_after_the_answer_ends_the_stream_with_an_error(tmp_path: Path) -> None:
    server = await _server(tmp_path, {"video_streaming": True}, fail=True)
    body = (await server.http.post("/api/generate-content", json=_request())).json()
    url = body["content"]["url"]
    poster = _link(body, "poster")["url"]
    assert (await server.http.get(poster)).status_code == 200
    stream = await server.stream(url)
    assert (await stream.chunk()) == (server.video.first, True)

    server.video.render.set()

    assert stream.task is not None
    with pytest.raises(Exception, match="failed while it was made"):
        await stream.task  # the app raises: the server cuts the connection, no end of the chunked body
    record = (await server.http.get(f"/api/generations/{body['generation_id']}")).json()
    assert (record["status"], record["error_code"]) == ("failed", "GEN_PROVIDER_UNAVAILABLE")
    assert (await server.http.get(url)).status_code == 404, "nothing is left behind the URL"
    assert (await server.http.get(poster)).status_code == 404, "nor behind the poster's"
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


def test_streaming_is_on_by_default_in_the_embedded_mode_only(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).streams_video is True, "the early answer carries every artifact"
    assert Settings(data_dir=tmp_path, video_streaming=False).streams_video is False
    assert Settings(data_dir=tmp_path, redis_url="redis://cache:6379/0").streams_video is False
    assert Settings(data_dir=tmp_path, object_store_url="s3://bucket/prefix").streams_video is False
    assert Settings(data_dir=tmp_path).unstreamed().streams_video is False, "`dyngen generate` ends with its answer"


async def test_with_streaming_off_the_answer_waits_for_the_whole_video(tmp_path: Path) -> None:
    server = await _server(tmp_path, {"video_streaming": False})
    server.video.render.set()

    body = (await server.http.post("/api/generate-content", json=_request())).json()

    assert server.services.live is None
    assert server.video.calls[0].stream is None
    assert [a["role"] for a in body["artifacts"]] == ROLES, "answered once whole, with its artifacts"
    assert all(isinstance(a["bytes"], int) for a in body["artifacts"])


ROLES = ["video", "poster", "captions", "script"]


def _unsigned(link: dict[str, Any]) -> dict[str, Any]:
    """An artifact link without its URL's signature (signed anew for every answer)."""
    return {**link, "url": link["url"].split("?")[0]}


def _link(body: dict[str, Any], role: str) -> dict[str, Any]:
    return next(a for a in body["artifacts"] if a["role"] == role)


def assert_same_answer(early: dict[str, Any], later: dict[str, Any], *, video_bytes: int) -> None:
    """`early` (answered while its video rendered) and `later` (a cache hit once it was recorded) agree field
    by field. What may differ is what a game does not act on: how each was served (`cache`, `cost`), the
    signatures of their URLs, and the video's size, which only the later one knows."""
    assert "bytes" not in _link(early, "video"), "the video's size is not known while it renders"
    assert _link(later, "video")["bytes"] == video_bytes
    served = {"cache", "cost"}
    for field in sorted((set(early) | set(later)) - served):
        mine, theirs = early.get(field), later.get(field)
        if field == "content":
            mine, theirs = _unsigned(mine), _unsigned(theirs)
        if field == "artifacts":
            mine = [_unsigned(a) for a in mine]
            theirs = [{k: v for k, v in _unsigned(a).items() if a["role"] != "video" or k != "bytes"} for a in theirs]
        assert mine == theirs, f"{field}: {mine!r} != {theirs!r}"


async def test_the_early_answer_names_the_poster_captions_and_script_each_loadable_while_it_renders(
    server: Server,
) -> None:
    video = server.video

    body = (await server.http.post("/api/generate-content", json=_request())).json()

    assert not video.render.is_set(), "answered before the render finished"
    assert [a["role"] for a in body["artifacts"]] == ROLES
    assert body["content"]["dialogue"] == [video.LINE], "the script's lines come inline"
    assert [b["text"] for b in body["content"]["beats"]] == [video.LINE]
    assert body["cost"]["tokens"] == 6, "what the run costs, as a whole answer says"
    for blob in video.companions:
        link = _link(body, blob.role)
        assert (link["media_type"], link["bytes"]) == (blob.media_type, len(blob.data))
        loaded = await server.http.get(link["url"])
        assert (loaded.status_code, loaded.content, loaded.headers["content-type"].split(";")[0]) == (
            200,
            blob.data,
            blob.media_type,
        ), blob.role
        assert loaded.headers["cache-control"] == "no-cache", "not kept for good before it is recorded"
        again = await server.http.get(link["url"], headers={"If-None-Match": loaded.headers["etag"]})
        assert again.status_code == 304
        part = await server.http.get(link["url"], headers={"Range": "bytes=1-3"})
        assert (part.status_code, part.content) == (206, blob.data[1:4])
    assert not video.render.is_set(), "all of it while the video still renders"

    video.render.set()
    record = (await server.http.get(f"/api/generations/{body['generation_id']}")).json()
    assert [(a["role"], a["id"]) for a in record["artifacts"]] == [
        (a["role"], a["url"].split("?")[0].removeprefix("/api/artifacts/")) for a in body["artifacts"]
    ], "each artifact handed out is recorded under the id it was handed out with"
    for blob in video.companions:
        recorded = await server.http.get(_link(body, blob.role)["url"])
        assert recorded.content == blob.data
        assert recorded.headers["cache-control"].startswith("public"), "served from its record now"


async def test_the_early_answer_is_the_answer_a_later_hit_gets(server: Server) -> None:
    early = (await server.http.post("/api/generate-content", json=_request())).json()
    server.video.render.set()
    await server.http.get(f"/api/generations/{early['generation_id']}")  # answered once the render is recorded

    later = (await server.http.post("/api/generate-content", json=_request())).json()

    assert (early["cache"], later["cache"]["hit"]) == ({"hit": False}, True)
    assert_same_answer(early, later, video_bytes=len(server.video.first + server.video.rest))


async def test_a_builtin_video_answered_while_it_renders_carries_what_its_whole_answer_carries(
    tmp_path: Path,
) -> None:
    held = FakeHeldRender(BuiltinVideoProvider(fragmented=True))
    streaming = await _server(
        tmp_path / "streaming", {}, providers={"builtin": BuiltinProvider(), "builtin_video": held}
    )
    whole = await _server(
        tmp_path / "whole",
        {"video_streaming": False},
        providers={"builtin": BuiltinProvider(), "builtin_video": BuiltinVideoProvider()},
    )
    request = video_request(strategy="once", duration={"min": 1, "max": 30, "target": 6})

    early = (await streaming.http.post("/api/generate-content", json=request)).json()
    once_whole = (await whole.http.post("/api/generate-content", json=request)).json()

    assert early["status"] == once_whole["status"] == "complete", (early, once_whole)
    video_id = early["content"]["url"].split("?")[0].removeprefix("/api/artifacts/")
    assert streaming.services.live is not None
    assert streaming.services.live.get(video_id) is not None, "answered while the render runs"
    assert [a["role"] for a in early["artifacts"]] == [a["role"] for a in once_whole["artifacts"]] == ROLES
    for role in ROLES[1:]:
        mine, theirs = _link(early, role), _link(once_whole, role)
        assert (mine["media_type"], mine["bytes"]) == (theirs["media_type"], theirs["bytes"]), role
        loaded = await streaming.http.get(mine["url"])
        assert loaded.content == (await whole.http.get(theirs["url"])).content, f"the same {role}, loadable now"
    assert {k: v for k, v in early["content"].items() if k != "url"} == {
        k: v for k, v in once_whole["content"].items() if k != "url"
    }
    for field in ("cache_key", "seed", "deterministic", "provider"):
        assert early[field] == once_whole[field], field
    assert early["cost"]["tokens"] == once_whole["cost"]["tokens"]

    held.release.set()
    record = (await streaming.http.get(f"/api/generations/{early['generation_id']}")).json()
    later = (await streaming.http.post("/api/generate-content", json=request)).json()
    assert later["cache"]["hit"] is True
    assert_same_answer(early, later, video_bytes=record["artifacts"][0]["size"])


async def test_an_always_fresh_video_is_kept_as_the_newest_once_recorded_not_as_answered(server: Server) -> None:
    body = (await server.http.post("/api/generate-content", json=video_request(provider="fake_video"))).json()
    assert body["status"] == "complete", body
    assert await server.services.cache.get(body["cache_key"], lambda raw: raw) is None, "not kept while it renders"

    server.video.render.set()
    await server.http.get(f"/api/generations/{body['generation_id']}")  # answered once the render is recorded

    found = await server.services.cache.get(body["cache_key"], CacheEntry.model_validate_json)
    assert found is not None, "kept as the node's newest content"
    kept, _ = found
    assert kept.outcome.generation_id == body["generation_id"]
    assert kept.outcome.artifacts is not None
    video = kept.outcome.artifacts[0]
    assert (video.role, video.bytes) == ("video", len(server.video.first + server.video.rest)), "the whole outcome"


async def test_a_pipeline_answered_while_it_renders_names_its_stages_as_a_later_hit_does(tmp_path: Path) -> None:
    pipelines = {"story": {"script": "builtin", "render": "fake_video"}}
    server = await _server(tmp_path, {"provider_pipelines": pipelines}, providers={"builtin": BuiltinProvider()})

    early = (
        await server.http.post("/api/generate-content", json=video_request(provider="story", strategy="once"))
    ).json()

    assert not server.video.render.is_set(), "answered before the render finished"
    assert [(s["stage"], s["provider"]) for s in early["stages"]] == [("script", "builtin"), ("render", "fake_video")]
    assert early["stages"][1]["generation_id"] == early["generation_id"]
    assert early["cost"]["tokens"] == sum(s["tokens"] for s in early["stages"]) > 6, (
        "the script's tokens and the render's"
    )
    server.video.render.set()
    await server.http.get(f"/api/generations/{early['generation_id']}")
    later = (
        await server.http.post("/api/generate-content", json=video_request(provider="story", strategy="once"))
    ).json()
    assert later["cache"]["hit"] is True
    assert_same_answer(early, later, video_bytes=len(server.video.first + server.video.rest))


async def test_a_warm_up_is_answered_once_the_video_is_whole_and_kept(server: Server) -> None:
    warm = warmup_ports(server.services)
    answer = asyncio.create_task(warm.generate(request=GenerateContentRequest.model_validate(_request())))
    await server.video.rendering.wait()
    server.video.render.set()

    body = await answer

    assert body.artifacts is not None
    assert body.artifacts[0].bytes == len(server.video.first + server.video.rest), "answered once whole"
    assert await server.services.cache.get(body.cache_key, lambda raw: raw) is not None, "kept when it says done"
