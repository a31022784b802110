"""With nothing configured, a transition is rendered to video: what a designer pressing Test Generation
expects. (The rest of the suite pins text transitions for speed; see tests/conftest.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.entrypoints.api.app import create_app
from tests.e2e.test_video import video_request


@pytest.fixture
async def default_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.delenv("DYNGEN_PROVIDERS_BY_TYPE", raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    services = await build(settings)
    await services.start()
    try:
        transport = httpx.ASGITransport(app=create_app(settings, services=services))
        async with httpx.AsyncClient(transport=transport, base_url="http://dyngen.test") as http:
            yield http
    finally:
        await services.aclose()


async def test_a_transition_that_names_no_provider_is_a_video(default_client: httpx.AsyncClient) -> None:
    request = video_request()
    del request["provider"]

    body = (await default_client.post("/api/generate-content", json=request)).json()

    assert body["status"] == "complete", body
    assert body["content"]["type"] == "video"
    assert body["content"]["beats"], "the captions come with the video"
    video = await default_client.get(body["content"]["url"])
    assert (video.headers["content-type"], video.content[4:8]) == ("video/mp4", b"ftyp")
    record = (await default_client.get(f"/api/generations/{body['generation_id']}")).json()
    assert record["provider"] == "builtin_video"


async def test_dialogue_still_comes_from_the_text_provider(default_client: httpx.AsyncClient) -> None:
    request = video_request(type="dialogue")
    del request["provider"]

    body = (await default_client.post("/api/generate-content", json=request)).json()

    assert body["status"] == "complete", body
    assert body["content"]["type"] == "dialogue"
