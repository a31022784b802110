"""`builtin_video` through the HTTP API with scene images: the video starts on the scene's picture."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from dyngen.config import Settings
from dyngen.services.machinery.container import Services
from tests.e2e.test_video import CAFE, ROOFTOPS, video_request
from tests.fakes import FakeHangingCall
from tests.integration.test_keyframes import png
from tests.integration.test_video_render import TOP, decode
from tests.support.waiting import hang_guard

COLOUR = (30, 160, 220)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "blue.png").write_bytes(png(640, 640, COLOUR))
    (tmp_path / "outside.png").write_bytes(png(64, 64, COLOUR))
    return Settings(data_dir=tmp_path / "data", retry_backoff_ms=1, assets_dir=assets)


async def first_frame(client: httpx.AsyncClient, tmp_path: Path, image: str) -> tuple[dict, np.ndarray]:
    request = video_request(from_scene={**CAFE, "image": image}, to_scene=ROOFTOPS)
    response = await client.post("/api/generate-content", json=request)
    assert response.status_code == 200, response.text
    content = response.json()["content"]
    video = await client.get(content["url"])
    _, frames = decode(video.content, tmp_path)
    return content, frames[0]


def distance(frame: np.ndarray) -> float:
    return float(np.abs(frame[:TOP] - np.array(COLOUR, np.float32)).mean())


async def test_a_scene_with_an_image_starts_on_that_image(client: httpx.AsyncClient, tmp_path: Path):
    content, frame = await first_frame(client, tmp_path, "blue.png")
    assert distance(frame) < 8
    assert not [t for t in (content.get("metadata") or {}).get("tags") or [] if t.startswith("keyframe:")]


@pytest.mark.parametrize("image", ["../outside.png", "/etc/passwd"])
async def test_an_image_outside_the_assets_folder_is_drawn_instead_and_tagged(
    client: httpx.AsyncClient, tmp_path: Path, image: str
):
    content, frame = await first_frame(client, tmp_path, image)
    assert distance(frame) > 30, "the drawn romantic keyframe, not the picture"
    assert "keyframe:from:outside" in content["metadata"]["tags"]


async def test_a_scene_image_may_name_a_stored_artifact(client: httpx.AsyncClient, tmp_path: Path):
    blue = video_request(from_scene={**CAFE, "image": "blue.png"}, to_scene={**ROOFTOPS, "image": "blue.png"})
    made = (await client.post("/api/generate-content", json=blue)).json()
    record = (await client.get(f"/api/generations/{made['generation_id']}")).json()
    roles = {a["role"]: a["id"] for a in record["artifacts"]}
    poster_bytes = (await client.get(f"/api/artifacts/{roles['poster']}")).content
    poster = np.asarray(Image.open(io.BytesIO(poster_bytes)).convert("RGB"), dtype=np.float32)

    content, frame = await first_frame(client, tmp_path, roles["poster"])

    assert float(np.abs(frame[:TOP] - poster[:TOP]).mean()) < 8, "the video starts on the stored poster"
    assert not [t for t in (content.get("metadata") or {}).get("tags") or [] if t.startswith("keyframe:")]


async def test_an_artifact_that_is_not_an_image_is_drawn_instead(client: httpx.AsyncClient, tmp_path: Path):
    made = (await client.post("/api/generate-content", json=video_request())).json()
    record = (await client.get(f"/api/generations/{made['generation_id']}")).json()
    script = next(a["id"] for a in record["artifacts"] if a["role"] == "script")

    content, frame = await first_frame(client, tmp_path, script)

    assert distance(frame) > 30, "the drawn keyframe: a script is never decoded as a picture"
    assert "keyframe:from:missing" in content["metadata"]["tags"]


async def test_an_assets_file_name_costs_no_artifact_lookup(
    client: httpx.AsyncClient, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    looked_up: list[str] = []
    real = services.repository.get_artifact

    async def counting(artifact_id: str) -> Any:
        looked_up.append(artifact_id)
        return await real(artifact_id)

    monkeypatch.setattr(services.repository, "get_artifact", counting)

    _, frame = await first_frame(client, tmp_path, "blue.png")

    assert distance(frame) < 8
    assert "blue.png" not in looked_up, "a file name is never looked up as an artifact id"


async def test_a_scene_image_lookup_that_hangs_draws_the_keyframe_within_the_deadline(
    client: httpx.AsyncClient, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A database that never answers the image's lookup holds the scene only as long as the deadline leaves
    for it (before: until the database's own timeouts, with no bound in memory or on SQLite)."""
    image, hanging, real = "ab" * 16, FakeHangingCall(), services.repository.get_artifact

    async def lookup(artifact_id: str) -> Any:  # only the scene image's lookup hangs, not the video's
        return await (hanging if artifact_id == image else real)(artifact_id)

    monkeypatch.setattr(services.repository, "get_artifact", lookup)
    try:
        async with hang_guard("the video despite the hung image lookup"):  # the unbounded wait of before
            content, frame = await first_frame(client, tmp_path, image)
    finally:
        hanging.release()

    assert hanging.calls == [(image,)]
    assert distance(frame) > 30, "the drawn keyframe, as for a missing image"
    assert "keyframe:from:missing" in content["metadata"]["tags"]
