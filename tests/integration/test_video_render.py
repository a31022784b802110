"""The offline video renderer: decoded frames, not file existence, show what a player would see.

Integration, not unit: every test runs ffmpeg and decodes the MP4 it wrote to a file."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import pytest

from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.adapters.providers.video import BuiltinVideoProvider
from dyngen.adapters.providers.video import provider as video_provider
from dyngen.adapters.providers.video.encoder import encode_mp4, ffmpeg_exe
from dyngen.adapters.providers.video.frames import blank_frames
from dyngen.adapters.providers.video.keyframes import CAPTION_HEIGHT, HEIGHT, WIDTH, keyframe
from dyngen.adapters.providers.video.provider import build_renderer, moods
from dyngen.adapters.providers.video.timeline import FULL, frame_count, plan
from dyngen.domain.contracts import GenerateContentRequest, Pacing, PayloadType, TransitionType
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ProviderCall, ProviderResult
from tests.support.procfs import children

TOP = HEIGHT - CAPTION_HEIGHT  # rows above the caption band


def request(**style: Any) -> GenerateContentRequest:
    target = style.pop("target", 3)
    return GenerateContentRequest.model_validate(
        {
            "type": "transition",
            "from_scene": {"id": "cafe", "mood": "romantic", "summary": "Mara kisses Theo.", "location": "corner_cafe"},
            "to_scene": {"id": "roof", "mood": "mysterious", "location": "city_rooftops"},
            "style": {"pacing": "medium", "transitionType": "gradual", **style},
            "duration": {"target": target},
        }
    )


async def render(req: GenerateContentRequest, seed: int = 7) -> ProviderResult:
    return await BuiltinVideoProvider().generate(ProviderCall(request=req, seed=seed, attempt=1, deadline_s=60))


@functools.cache
def rendered(kind: str, seed: int = 7) -> ProviderResult:
    """The 3 s transition of `kind` rendered once for the tests that only look at it (a render is ~1 s of
    CPU); the determinism test renders its second copy itself."""
    return asyncio.run(render(request(transitionType=kind), seed))


@functools.cache
def frames_of(kind: str, seed: int = 7) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        return decode(rendered(kind, seed).artifacts[0].data, Path(tmp))[1]


def decode(data: bytes, tmp_path: Path, name: str = "video.mp4") -> tuple[dict[str, Any], np.ndarray]:
    path = tmp_path / name
    path.write_bytes(data)
    meta, frames = read_rgb(path)
    return meta, np.stack(frames).astype(np.float32)


def read_rgb(path: Path) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The MP4's metadata and its frames as a player shows them, decoded at its frame rate (RGB, uint8)."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta: dict[str, Any] = next(reader)
    width, height = meta["size"]
    with warnings.catch_warnings():
        # imageio-ffmpeg leaves ffmpeg's stdout pipe for the garbage collector when ffmpeg exits on its own.
        warnings.simplefilter("ignore", ResourceWarning)
        frames = [np.frombuffer(f, dtype=np.uint8).reshape(height, width, 3) for f in reader]
        del reader
        gc.collect()
    return meta, frames


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a[:TOP].astype(np.float32) - b[:TOP].astype(np.float32)).mean())


def steps(frames: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(frames[:, :TOP], axis=0)).mean(axis=(1, 2, 3))


def ffmpeg_children() -> list[int]:
    """Child processes of this test process whose command is ffmpeg, reaped or not (from /proc)."""
    return [pid for pid, name in children(os.getpid(), exited=True) if "ffmpeg" in name]


def test_the_video_lasts_the_target_at_24_fps_and_480p(tmp_path: Path):
    result = asyncio.run(render(request(target=2.5)))
    meta, frames = decode(result.artifacts[0].data, tmp_path)
    assert frames.shape == (60, HEIGHT, WIDTH, 3), "decoded at 24 fps, as a player shows it"
    assert tuple(meta["size"]) == (854, 480)
    assert meta["duration"] == 2.5
    assert result.payload.type is PayloadType.VIDEO
    assert result.payload.duration == 2.5
    assert [(a.role, a.media_type, a.primary) for a in result.artifacts] == [
        ("video", "video/mp4", True),
        ("poster", "image/jpeg", False),
        ("captions", "text/vtt", False),
        ("script", "application/json", False),
    ]
    assert result.artifacts[1].data[:3] == b"\xff\xd8\xff", "the poster is a JPEG"


@pytest.mark.parametrize("kind", ["gradual", "abrupt"])
def test_a_hold_is_encoded_once_and_shown_until_the_next_change(kind: str, tmp_path: Path):
    """The MP4 holds one frame per change of recipe (and the last); decoded at 24 fps, each frame of the
    recipe is on screen at its own time (the frame-by-frame test below), and the video lasts its target."""
    req = request(transitionType=kind)
    script = asyncio.run(BuiltinProvider().generate(ProviderCall(request=req, seed=7, attempt=1, deadline_s=10)))
    changes = build_renderer(req, 7, script).changes()
    path = tmp_path / "video.mp4"
    path.write_bytes(rendered(kind).artifacts[0].data)

    stored, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))

    assert stored == len(changes) < frame_count(3) / 2
    assert seconds == 3
    assert len(frames_of(kind)) == frame_count(3)


@pytest.mark.parametrize("kind", ["gradual", "abrupt"])
def test_it_starts_on_the_source_keyframe_and_ends_on_the_destination(kind: str):
    req = request(transitionType=kind)
    frames = frames_of(kind)
    mood_from, mood_to = moods(req)
    source, destination = keyframe(req.from_scene, mood_from, 7), keyframe(req.to_scene, mood_to, 7)
    assert mad(source, destination) > 30, "the two scenes must look different for this test to mean anything"
    for first in frames[:3]:
        assert mad(first, source) < 4
        assert mad(first, destination) > 30
    for last in frames[-3:]:
        assert mad(last, destination) < 4
        assert mad(last, source) > 30


@pytest.mark.parametrize("kind", ["gradual", "abrupt"])
def test_every_frame_with_its_caption_band_matches_the_rgb_recipe(kind: str):
    """Frames are blended in YUV (what the encoder takes); the same recipe drawn in RGB is the reference,
    caption band, grade and flash included."""
    req = request(transitionType=kind)
    frames = frames_of(kind)
    script = asyncio.run(BuiltinProvider().generate(ProviderCall(request=req, seed=7, attempt=1, deadline_s=10)))
    renderer = build_renderer(req, 7, script)
    for i in range(0, renderer.count, 7):
        expected = np.frombuffer(renderer.rgb_frame(i), dtype=np.uint8).reshape(HEIGHT, WIDTH, 3).astype(np.float32)
        assert mad(frames[i], expected) < 4, f"frame {i}"
        assert mad(frames[i][TOP:], expected[TOP:]) < 6, f"frame {i}: the caption band"


def test_a_gradual_transition_moves_in_small_steps_and_an_abrupt_one_cuts_with_a_flash():
    gradual, abrupt = frames_of("gradual"), frames_of("abrupt")
    gradual_steps, abrupt_steps = steps(gradual), steps(abrupt)
    assert gradual_steps.max() < 10, "a dissolve has no jump"
    assert gradual_steps[gradual_steps > 0.5].size > 10, "and it does move, over many frames"
    assert abrupt_steps.max() > 40, "a cut is one large jump"
    assert (abrupt_steps > 6).sum() <= 1 + 4, "the cut, then the flash fading over a few frames; nothing else"
    brightness = abrupt[:, :TOP].mean(axis=(1, 2, 3))
    assert brightness.max() > 245, "the cut flashes white"
    assert gradual[:, :TOP].mean(axis=(1, 2, 3)).max() < 200


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_frames():
    first, again = rendered("gradual"), asyncio.run(render(request(), 7))  # two renders of their own
    assert first.artifacts[0].data == again.artifacts[0].data
    assert first.artifacts[1].data == again.artifacts[1].data
    assert mad(frames_of("gradual")[0], frames_of("gradual", 8)[0]) > 5


def test_captions_follow_the_text_providers_beats():
    req = request(target=12)
    result = asyncio.run(render(req))
    beats = result.payload.beats or []
    assert len(beats) >= 2
    states = plan(target_s=12, transition=TransitionType.GRADUAL, pacing=Pacing.MEDIUM, beats=beats)
    shown = [s.caption for s in states]
    for i, beat in enumerate(beats):
        assert shown[round(beat.start * 24) + 1] == i


def test_pacing_shapes_the_dissolve():
    def dissolving(pacing: Pacing) -> int:
        states = plan(target_s=10, transition=TransitionType.GRADUAL, pacing=pacing, beats=[])
        return sum(0 < s.mix < FULL for s in states)

    assert dissolving(Pacing.SLOW) > dissolving(Pacing.MEDIUM) > dissolving(Pacing.FAST) > 0
    assert frame_count(2.51) == 60
    assert frame_count(10) == 240


class GreySteps:
    """Small solid frames in steps of four: two frames that change, then a hold of two; 150 holds."""

    width, height, count = 64, 48, 600

    def level(self, i: int) -> int:
        return 16 + 40 * ((i // 4) % 5) + (20 if i % 4 else 0)  # Y, limited range

    def frame(self, i: int) -> bytes:
        luma, chroma = self.width * self.height, self.width * self.height // 2
        return bytes([self.level(i)]) * luma + bytes([128]) * chroma

    def changes(self) -> list[int]:
        return [i for i in range(self.count) if i % 4 < 2 or i == self.count - 1]


def test_hundreds_of_holds_each_show_their_frame_until_the_next(tmp_path: Path):
    source = GreySteps()
    video = asyncio.run(
        encode_mp4(source, width=source.width, height=source.height, fps=24, deadline_s=60, exe=ffmpeg_exe())
    )
    path = tmp_path / "steps.mp4"
    path.write_bytes(video)

    assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == len(source.changes())
    meta, frames = read_rgb(path)
    assert meta["duration"] == 25
    greys = [float(frame.mean()) for frame in frames]
    assert len(greys) == source.count
    expected = [(source.level(i) - 16) * 255 / 219 for i in range(source.count)]
    assert max(abs(a - b) for a, b in zip(greys, expected, strict=True)) < 6


def test_keyframes_that_cannot_be_drawn_fail_the_render_with_their_error_and_leave_no_ffmpeg(
    monkeypatch: pytest.MonkeyPatch,
):
    """ffmpeg starts while the keyframes are drawn: a drawing that fails stops it, with the drawing's error."""

    def broken(*args: object, **kwargs: object) -> None:
        raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, "no keyframes today")

    monkeypatch.setattr(video_provider, "keyframe", broken)
    with pytest.raises(DyngenError, match="no keyframes today"):
        asyncio.run(render(request()))
    assert ffmpeg_children() == []


def test_without_ffmpeg_nothing_is_drawn_for_a_render_that_cannot_run(monkeypatch: pytest.MonkeyPatch):
    """The drawing starts once ffmpeg is found: a failed lookup (or a cancel there) leaves no keyframe or
    poster drawn after the call has ended, and no task whose error nobody retrieves."""
    drawn: list[str] = []

    def no_ffmpeg() -> str:
        raise RuntimeError("no ffmpeg here")

    def counted(*args: Any, **kwargs: Any) -> Any:
        drawn.append("keyframe")
        return keyframe(*args, **kwargs)

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="no ffmpeg here"):
            await render(request())
        await asyncio.get_running_loop().shutdown_default_executor()  # whatever was handed to a thread ran

    monkeypatch.setattr(video_provider, "ffmpeg_exe", no_ffmpeg)
    monkeypatch.setattr(video_provider, "keyframe", counted)
    asyncio.run(scenario())
    assert drawn == []


def test_an_encode_past_its_deadline_is_killed_and_reports_gen_timeout():
    async def scenario() -> None:
        with pytest.raises(DyngenError) as caught:
            await encode_mp4(
                blank_frames(24 * 120), width=WIDTH, height=HEIGHT, fps=24, deadline_s=0.3, exe=ffmpeg_exe()
            )
        assert caught.value.code is ErrorCode.GEN_TIMEOUT

    asyncio.run(scenario())
    assert ffmpeg_children() == []


def _fake_ffmpeg(tmp_path: Path, body: str) -> str:
    script = tmp_path / "ffmpeg"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_an_ffmpeg_that_exits_at_once_fails_the_encode_with_its_message(tmp_path: Path):
    exe = _fake_ffmpeg(tmp_path, "echo 'no encoder here' >&2\nexit 3")

    async def scenario() -> None:
        with pytest.raises(DyngenError) as caught:
            await encode_mp4(blank_frames(240), width=WIDTH, height=HEIGHT, fps=24, deadline_s=60, exe=exe)
        assert caught.value.code is ErrorCode.GEN_PROVIDER_UNAVAILABLE
        assert "no encoder here" in str(caught.value)

    asyncio.run(scenario())


def test_an_ffmpeg_that_never_reads_its_frames_is_killed_at_the_deadline(tmp_path: Path):
    """The frames are written by a thread blocked on the full pipe: killing ffmpeg releases it, and the
    encode answers (the test's own timeout, 120 s, is what a write left blocked for 600 s would hit)."""
    exe = _fake_ffmpeg(tmp_path, "exec sleep 600")

    async def scenario() -> None:
        with pytest.raises(DyngenError) as caught:
            await encode_mp4(blank_frames(240), width=WIDTH, height=HEIGHT, fps=24, deadline_s=0.5, exe=exe)
        assert caught.value.code is ErrorCode.GEN_TIMEOUT

    asyncio.run(scenario())
