"""The fragmented render that a player starts on while it is made: ffmpeg's real output, decoded.

The render is held by a gate (a frame that waits on an event), so "the first fragment came before the
render finished" is an order of events, not a duration.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from dyngen.adapters.providers.video import BuiltinVideoProvider
from dyngen.adapters.providers.video.encoder import box_types, encode_mp4, ffmpeg_exe
from dyngen.adapters.providers.video.frames import FrameRenderer, blank_frames
from dyngen.adapters.providers.video.keyframes import HEIGHT, WIDTH
from dyngen.adapters.providers.video.timeline import FPS
from dyngen.ports import ProviderCall, ProviderResult
from tests.integration.test_video_render import decode, request

FRAMES = 72  # 3 s: six fragments
GATE_AT = 36  # frames from here on wait for the test


class GatedFrames:
    """Solid frames; the ones from `GATE_AT` on are rendered only once `gate` is set."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self._solid = blank_frames(FRAMES)
        self.count = FRAMES

    def changes(self) -> list[int]:
        return self._solid.changes()  # every frame

    def frame(self, i: int) -> bytes:
        if i >= GATE_AT:
            self.gate.wait(timeout=120)  # a safety net for a broken test, never how it waits
        return self._solid.frame(i)


async def _encode(source: object, **options: object) -> bytes:
    return await encode_mp4(
        source,  # type: ignore[arg-type]
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        deadline_s=120,
        exe=ffmpeg_exe(),
        preset="ultrafast",
        fragmented=True,
        **options,  # type: ignore[arg-type]
    )


async def test_the_first_fragment_is_handed_on_before_the_render_ends_and_plays_alone(tmp_path: Path) -> None:
    frames = GatedFrames()
    boxes: list[bytes] = []
    fragment = asyncio.Event()

    async def sink(data: bytes) -> None:
        boxes.append(data)
        if b"mdat" in box_types(data):
            fragment.set()

    encode = asyncio.create_task(_encode(frames, sink=sink))
    first = asyncio.create_task(fragment.wait())
    await asyncio.wait({encode, first}, return_when=asyncio.FIRST_COMPLETED)

    assert first.done(), "a fragment came while the render waits at its gate"
    assert not encode.done()
    prefix = b"".join(boxes)
    assert box_types(prefix)[:2] == [b"ftyp", b"moov"]
    _, played = decode(prefix, tmp_path, "prefix.mp4")
    assert 1 <= len(played) < FRAMES, "what was streamed so far plays on its own"

    frames.gate.set()
    whole = await encode

    assert b"".join(boxes) == whole, "the stream is the artifact, byte for byte"
    assert whole == await _encode(blank_frames(FRAMES)), "and the same as a render nobody streamed"
    _, decoded = decode(whole, tmp_path, "whole.mp4")
    assert len(decoded) == FRAMES


class RecordingStream:
    """Keeps what is streamed; `fragments` is set once `want` fragments have come."""

    def __init__(self, want: int = 0) -> None:
        self.data = b""
        self.playable_at: int | None = None
        self.early: ProviderResult | None = None
        self.want, self.count = want, 0
        self.fragments = asyncio.Event()

    async def write(self, data: bytes) -> None:
        self.data += data
        self.count += box_types(data).count(b"mdat")
        if self.count >= self.want:
            self.fragments.set()

    def playable(self, early: ProviderResult) -> None:
        self.playable_at, self.early = len(self.data), early


async def test_the_provider_streams_exactly_its_video_and_says_when_it_is_playable(tmp_path: Path) -> None:
    stream = RecordingStream()
    provider = BuiltinVideoProvider(fragmented=True)

    result = await provider.generate(
        ProviderCall(request=request(target=3), seed=7, attempt=1, deadline_s=120, stream=stream)
    )

    video = result.artifacts[0]
    assert (video.role, stream.data) == ("video", video.data)
    assert stream.early is not None
    assert stream.early.payload == result.payload
    assert stream.early.artifacts == result.artifacts[1:], "the poster, captions and script, said with the video"
    assert [a.role for a in stream.early.artifacts] == ["poster", "captions", "script"]
    assert stream.early.tokens == result.tokens
    assert stream.playable_at is not None
    assert stream.playable_at < len(video.data), "playable before the whole video was written"
    _, decoded = decode(video.data, tmp_path)
    assert len(decoded) == 72
    unstreamed = await provider.generate(ProviderCall(request=request(target=3), seed=7, attempt=1, deadline_s=120))
    assert unstreamed.artifacts[0].data == video.data


async def test_a_render_too_slow_for_its_deadline_is_never_said_playable(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = RecordingStream(want=8)
    provider = BuiltinVideoProvider(fragmented=True)
    draw = FrameRenderer.frame

    def slow_frame(self: FrameRenderer, i: int) -> bytes:
        time.sleep(0.05)  # the slowness under test, by construction: a frame drawn at 50 ms at best
        return draw(self, i)

    monkeypatch.setattr(FrameRenderer, "frame", slow_frame)
    # 600 s of video, about 400 frames to encode (the rest are holds): 20 s at least, in a 10 s deadline.
    call = ProviderCall(request=request(target=600), seed=7, attempt=1, deadline_s=10, stream=stream)
    task = asyncio.create_task(provider.generate(call))
    enough = asyncio.create_task(stream.fragments.wait())
    await asyncio.wait({task, enough}, return_when=asyncio.FIRST_COMPLETED)
    assert enough.done(), "eight fragments came (the render did not stop first)"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert stream.playable_at is None
