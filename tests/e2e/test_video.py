"""`builtin_video` through the HTTP API: a designer asks for a transition and gets a seekable video."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from dyngen.adapters.providers.video.frames import FrameRenderer
from tests.integration.test_video_render import ffmpeg_children

CAFE = {"id": "cafe_date", "mood": "romantic", "summary": "Mara finally kisses Theo.", "location": "corner_cafe"}
ROOFTOPS = {"id": "rooftop_chase", "mood": "intense", "location": "city_rooftops"}


def video_request(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "type": "transition",
        "node_id": "cafe_to_rooftops",
        "from_scene": CAFE,
        "to_scene": ROOFTOPS,
        "style": {"pacing": "fast", "transitionType": "abrupt"},
        "duration": {"min": 1, "max": 30, "target": 3},
        "strategy": "always",
        "fallback": {"mode": "skip", "timeoutMs": 30000},
        "provider": "builtin_video",
    }
    request.update(changes)
    return request


async def test_a_transition_renders_to_a_video_that_a_browser_can_seek(client: httpx.AsyncClient):
    response = await client.post("/api/generate-content", json=video_request())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "complete"
    content = body["content"]
    assert (content["type"], content["duration"]) == ("video", 3)
    assert content["beats"], "the captions come with the video"

    video = await client.get(content["url"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.headers["accept-ranges"] == "bytes"
    assert video.content[4:8] == b"ftyp"
    size = len(video.content)

    middle = await client.get(content["url"], headers={"Range": "bytes=100-199"})
    assert middle.status_code == 206
    assert middle.headers["content-range"] == f"bytes 100-199/{size}"
    assert middle.content == video.content[100:200]
    tail = await client.get(content["url"], headers={"Range": "bytes=-50"})
    assert (tail.status_code, tail.content) == (206, video.content[-50:])
    rest = await client.get(content["url"], headers={"Range": f"bytes={size - 10}-"})
    assert (rest.status_code, rest.content) == (206, video.content[-10:])
    beyond = await client.get(content["url"], headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"

    record = (await client.get(f"/api/generations/{body['generation_id']}")).json()
    roles = {a["role"]: a for a in record["artifacts"]}
    assert set(roles) == {"video", "poster", "captions", "script"}
    captions = await client.get(f"/api/artifacts/{roles['captions']['id']}")
    assert captions.headers["content-type"].startswith("text/vtt")
    cues = captions.text.split("\n\n")
    assert cues[0] == "WEBVTT"
    assert len([c for c in cues[1:] if "-->" in c]) == len(content["beats"]), "one cue per beat"
    poster = await client.get(f"/api/artifacts/{roles['poster']['id']}")
    assert (poster.status_code, poster.headers["content-type"]) == (200, "image/jpeg")
    assert poster.content[:3] == b"\xff\xd8\xff"


async def test_a_render_slower_than_the_node_timeout_falls_back_and_leaves_no_ffmpeg(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
):
    draw = FrameRenderer.frame

    def slow_frame(self: FrameRenderer, i: int) -> bytes:
        time.sleep(0.05)  # slower than the timeout by construction: a frame drawn at 50 ms at best
        return draw(self, i)

    monkeypatch.setattr(FrameRenderer, "frame", slow_frame)
    request = video_request(duration={"min": 1, "max": 120, "target": 120}, fallback={"mode": "skip", "timeoutMs": 400})
    response = await client.post("/api/generate-content", json=request)
    body = response.json()
    assert (body["status"], body["error"]["code"]) == ("failed", "GEN_TIMEOUT")
    assert body["fallback"]["applied"] is True
    # The provider reaps ffmpeg before the fallback answer goes out, so none may be left even for a moment.
    assert ffmpeg_children() == []


async def test_content_cached_from_another_provider_is_not_served(client: httpx.AsyncClient):
    cached = video_request(strategy="per_playthrough", player_context={"playthroughId": "p1"}, provider="builtin")
    text = (await client.post("/api/generate-content", json=cached)).json()
    assert text["content"]["type"] == "dialogue"

    video = (await client.post("/api/generate-content", json=cached | {"provider": "builtin_video"})).json()

    assert video["cache_key"] == text["cache_key"], "the provider is not part of the key..."
    assert video["cache"]["hit"] is False, "...but text made by another provider is not served for it"
    assert video["content"]["type"] == "video"
