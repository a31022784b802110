"""Scene images as keyframes: read from the assets folder only, capped, and drawn instead when refused."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dyngen.adapters.providers.video import images
from dyngen.adapters.providers.video.keyframes import HEIGHT, WIDTH, keyframe
from dyngen.adapters.providers.video.provider import scene_keyframe
from dyngen.domain.contracts import SceneRef
from dyngen.domain.graph import Scene

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "assets"


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def claiming(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (with a valid CRC), the pixel data left small."""
    assert data[12:16] == b"IHDR"
    body = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body))
    return data[:16] + body + crc + data[33:]


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    folder = tmp_path / "assets"
    folder.mkdir()
    (folder / "red.png").write_bytes(png(1200, 480))
    (folder / "notes.png").write_bytes(b"not an image at all")
    (folder / "bomb.png").write_bytes(claiming(png(8, 8), 20000, 20000))
    (tmp_path / "secret.png").write_bytes(png(10, 10))
    return folder


def test_an_image_is_scaled_to_cover_the_frame(assets: Path):
    pixels = images.load(assets, "red.png")
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert np.abs(pixels.astype(np.float32) - np.array([200, 40, 90])).mean() < 1


@pytest.mark.parametrize("name", ["../secret.png", "/etc/passwd", "sub/../../secret.png", str(Path("/etc/hosts"))])
def test_names_outside_the_assets_folder_are_refused(assets: Path, name: str):
    with pytest.raises(images.ImageRefusedError) as refused:
        images.load(assets, name)
    assert refused.value.reason == "outside"


def test_a_symlink_out_of_the_folder_is_refused(assets: Path):
    (assets / "link.png").symlink_to(assets.parent / "secret.png")
    with pytest.raises(images.ImageRefusedError) as refused:
        images.load(assets, "link.png")
    assert refused.value.reason == "outside"


def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(assets: Path):
    with pytest.raises(images.ImageRefusedError) as refused:
        images.load(assets, "bomb.png")
    assert refused.value.reason == "too_large"
    images.check_pixels(8000, 5000)
    with pytest.raises(images.ImageRefusedError):
        images.check_pixels(8000, 5001)


def test_too_many_bytes_are_refused():
    with pytest.raises(images.ImageRefusedError) as refused:
        images.decode(b"\x89PNG" + b"\0" * images.MAX_BYTES)
    assert refused.value.reason == "too_large"


def test_a_non_image_or_an_unsupported_format_is_refused(assets: Path):
    with pytest.raises(images.ImageRefusedError) as refused:
        images.load(assets, "notes.png")
    assert refused.value.reason == "unreadable"
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    with pytest.raises(images.ImageRefusedError):
        images.decode(gif.getvalue())


def test_missing_files_and_no_folder_are_refused(assets: Path):
    with pytest.raises(images.ImageRefusedError) as missing:
        images.load(assets, "nope.png")
    with pytest.raises(images.ImageRefusedError) as unset:
        images.load(None, "red.png")
    assert (missing.value.reason, unset.value.reason) == ("missing", "no_assets")


def test_a_refused_image_falls_back_to_the_drawn_keyframe_with_a_note(assets: Path):
    scene = SceneRef(id="cafe", mood="romantic", image="../secret.png")
    notes: list[str] = []
    pixels = scene_keyframe("from", scene, "romantic", 7, assets_dir=assets, notes=notes)
    assert np.array_equal(pixels, keyframe(scene, "romantic", 7))
    assert notes == ["keyframe:from:outside"]
    good = scene_keyframe("to", SceneRef(id="x", image="red.png"), None, 7, assets_dir=assets, notes=notes)
    assert np.array_equal(good, images.load(assets, "red.png"))
    assert notes == ["keyframe:from:outside"]


def test_a_nul_in_an_image_name_draws_the_keyframe_like_any_refused_name(assets: Path):
    # The wire contract refuses a NUL in `image`; a scene that reaches the provider another way (a graph
    # stored before, a model built in code) still gets its keyframe, not a failed provider.
    scene = SceneRef.model_construct(id="cafe", mood="romantic", image="red.png\x00../secret.png")
    notes: list[str] = []
    pixels = scene_keyframe("from", scene, "romantic", 7, assets_dir=assets, notes=notes)
    assert np.array_equal(pixels, keyframe(scene, "romantic", 7))
    assert notes == ["keyframe:from:outside"]


def test_the_example_images_are_small_and_load():
    for name in ("cafe.png", "rooftops.png"):
        assert (EXAMPLES / name).stat().st_size < 50_000
        assert images.load(EXAMPLES, name).shape == (HEIGHT, WIDTH, 3)


def test_a_graph_scene_passes_its_image_to_the_request():
    scene = Scene.model_validate({"id": "cafe", "image": "cafe.png"})
    assert scene.ref().image == "cafe.png"
    assert SceneRef.model_validate({"id": "cafe", "image": "cafe.png"}).model_dump(by_alias=True)["image"] == "cafe.png"
