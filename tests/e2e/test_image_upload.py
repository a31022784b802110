"""`POST /api/artifacts`: an image uploaded in the editor is told by its magic bytes, checked against the
byte and pixel caps (the pixels read from the header: a decompression bomb is refused unread), stored
through the artifact store (a folder, or S3), served back by `GET /api/artifacts/{id}`, listed for
choosing, usable as a scene image, and refused without an editor key."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from dyngen.bootstrap import build
from dyngen.config import Settings
from dyngen.domain.access import Scope
from dyngen.entrypoints.api.app import create_app
from dyngen.services.machinery.container import Services
from tests.support.keys import make_key
from tests.support.servers import MotoS3Server


def image(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 200)).save(out, format=fmt)
    return out.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A PNG header claiming `width` x `height` pixels, with a tiny (and wrong) body: only the header is read."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + b"\0" * 64


@pytest.fixture(params=["local", "s3"])
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    extra: dict[str, Any] = {}
    if request.param == "s3":
        s3: MotoS3Server = request.getfixturevalue("s3_server")
        extra = {
            "object_store_url": f"s3://up-{uuid.uuid4().hex[:12]}/dyngen",
            "s3_endpoint_url": s3.endpoint,
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
            "s3_create_bucket": True,
        }
    settings = Settings(data_dir=tmp_path / "data", example_graph=None, upload_max_bytes=200_000, **extra)
    services = await build(settings)
    app = create_app(settings, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dyngen.test") as http:
            yield http, services
    finally:
        await services.aclose()


@pytest.mark.parametrize(("fmt", "media_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
async def test_an_uploaded_image_is_stored_served_and_listed(
    served: tuple[httpx.AsyncClient, Services], fmt: str, media_type: str
) -> None:
    client, _ = served
    data = image(fmt)
    # The declared type is not trusted: the bytes say what the image is.
    answer = await client.post(
        "/api/artifacts", content=data, params={"name": "cafe.img"}, headers={"content-type": "image/png"}
    )

    assert answer.status_code == 201, answer.text
    uploaded = answer.json()
    assert (uploaded["media_type"], uploaded["width"], uploaded["height"]) == (media_type, 64, 48)
    assert uploaded["bytes"] == len(data)
    assert uploaded["url"] == f"/api/artifacts/{uploaded['artifact_id']}"
    served_back = await client.get(uploaded["url"])
    assert served_back.content == data
    assert served_back.headers["content-type"] == media_type
    signed = await client.get(uploaded["signed_url"])
    assert signed.status_code == 200
    listed = (await client.get("/api/artifacts")).json()["images"]
    assert [(i["artifact_id"], i["name"]) for i in listed] == [(uploaded["artifact_id"], "cafe.img")]


async def test_refusals_store_nothing(served: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = served
    as_png = {"content-type": "image/png"}

    not_an_image = await client.post("/api/artifacts", content=b"GIF89a" + b"\0" * 100, headers=as_png)
    assert not_an_image.status_code == 415
    assert not_an_image.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    json_body = await client.post("/api/artifacts", json={"image": "cafe.png"})
    assert json_body.status_code == 415
    too_large = await client.post("/api/artifacts", content=image("PNG")[:8] + b"\0" * 200_001, headers=as_png)
    assert too_large.status_code == 413
    bomb = await client.post("/api/artifacts", content=png_bomb(50_000, 50_000), headers=as_png)
    assert bomb.status_code == 413
    assert "50000x50000 pixels is over the 40000000 pixel cap" in bomb.json()["error"]["message"]
    cut_short = await client.post("/api/artifacts", content=image("PNG")[:20], headers=as_png)
    assert cut_short.status_code == 415

    assert (await client.get("/api/artifacts")).json()["images"] == []


async def test_an_upload_takes_an_editor_key(served: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = served
    _, runtime = await make_key(services, "game", Scope.RUNTIME)
    _, editor = await make_key(services, "designer", Scope.EDITOR)
    data = image("PNG")

    anonymous = await client.post("/api/artifacts", content=data, headers={"content-type": "image/png"})
    assert anonymous.status_code == 401
    refused = await client.post(
        "/api/artifacts", content=data, headers={"content-type": "image/png", "X-API-Key": runtime}
    )
    assert refused.status_code == 403
    accepted = await client.post(
        "/api/artifacts", content=data, headers={"content-type": "image/png", "X-API-Key": editor}
    )
    assert accepted.status_code == 201


async def test_an_uploaded_image_is_a_scene_image_a_generation_reads(
    served: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = served
    uploaded = (await client.post("/api/artifacts", content=image("PNG"), headers={"content-type": "image/png"})).json()
    record = await services.repository.get_artifact(uploaded["artifact_id"])

    assert record is not None
    assert await services.artifacts.get(record.storage_uri) == image("PNG")


async def test_an_upload_behind_a_proxys_prefix_is_taken_as_an_upload(tmp_path: Path) -> None:
    """Behind `uvicorn --root-path /dyngen` the request's path starts with the prefix: the body limit still
    knows the upload route (it took the PNG for a JSON body and refused it with a 415)."""
    settings = Settings(data_dir=tmp_path / "data", example_graph=None, upload_max_bytes=200_000)
    services = await build(settings)
    app = create_app(settings, services=services)
    try:
        transport = httpx.ASGITransport(app=app, root_path="/dyngen")
        async with httpx.AsyncClient(transport=transport, base_url="http://dyngen.test") as http:
            answer = await http.post(
                "/dyngen/api/artifacts", content=image("PNG"), headers={"content-type": "image/png"}
            )
            assert answer.status_code == 201, answer.text
            too_large = await http.post(
                "/dyngen/api/artifacts",
                content=image("PNG")[:8] + b"\0" * 200_001,
                headers={"content-type": "image/png"},
            )
            assert too_large.status_code == 413, "the upload's own cap"
    finally:
        await services.aclose()
