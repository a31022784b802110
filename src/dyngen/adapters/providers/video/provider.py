"""`builtin_video`: transitions rendered offline as H.264 video with burned-in captions.

The script comes from the text provider (`builtin`) for the same request and seed, so the captions
are exactly the beats a text-only client would get; in a pipeline (`ProviderCall.script`) it is the
script stage's beats instead (a model's lines), burned in and captioned as they were written.
Each scene gets a keyframe drawn from its mood and summary (`keyframes`), the timeline (`timeline`) says how
the frames move from one to the other, `frames` composites them and `encoder` pipes them to ffmpeg. Artifacts:
the MP4 (primary), a poster JPEG (the middle frame), the captions as WebVTT (for a player's own caption track)
and the script JSON. All but the MP4 are made before the render starts, so that a video streamed while it
renders is answered with them (`ports.MediaStream.playable`).

A scene with an `image` starts or ends on that image instead: a stored artifact's bytes, which the
service reads and passes in `ProviderCall.images`, or else a file name under the assets folder (see
`images`). An image that is refused (outside the folder, missing, over the size or pixel caps, not
PNG/JPEG/WebP) falls back to the drawn keyframe, logs a warning and adds a tag to the payload's
metadata: `keyframe:<from|to>:<reason>` (reasons: outside, missing, too_large, unreadable, no_assets).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.adapters.providers.video import images as scene_images
from dyngen.adapters.providers.video.captions import webvtt
from dyngen.adapters.providers.video.encoder import (
    Sink,
    box_types,
    encode_mp4,
    encoded_frames,
    ffmpeg_exe,
    poster_jpeg,
    samples,
)
from dyngen.adapters.providers.video.frames import FrameRenderer, PendingFrames
from dyngen.adapters.providers.video.keyframes import HEIGHT, WIDTH, Pixels, grade_colour, keyframe
from dyngen.adapters.providers.video.timeline import FPS, FrameState, plan
from dyngen.domain.contracts import GenerateContentRequest, GenerationType, PayloadType, SceneRef
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.responses import ContentMetadata
from dyngen.ports import ArtifactBlob, MediaStream, ProviderCall, ProviderInfo, ProviderResult

# /2: its captions come from builtin-text/2; /3: x264 runs two threads (same frames, other bytes than /2);
# /4: a hold is one frame (variable frame rate: the same pictures at the same times, other bytes than /3)
FINGERPRINT = "builtin-video/4 (x264 {preset}, 854x480@24)"
MAX_SECONDS = 600.0
log = logging.getLogger("dyngen.video")


class BuiltinVideoProvider:
    """Offline, deterministic transition video: a dissolve (gradual) or a cut with a flash (abrupt).

    Args:
        preset: The x264 preset (`ultrafast` by default: see bench/video_render.py for the speed each preset buys).
        ffmpeg: Path of the ffmpeg binary; default: the one `imageio-ffmpeg` ships.
        assets_dir: The folder scene images are read from; None = scenes are always drawn.
        fragmented: Write fragmented MP4 (a fragment a second), streamed to `ProviderCall.stream` while it
            renders when the service hands one; False: a `+faststart` MP4, returned once whole.
    """

    def __init__(
        self,
        *,
        preset: str = "ultrafast",
        ffmpeg: str | None = None,
        assets_dir: Path | None = None,
        fragmented: bool = False,
    ) -> None:
        self.info = ProviderInfo(
            name="builtin_video",
            generation_types=frozenset({GenerationType.TRANSITION, GenerationType.VARIATION}),
            media=frozenset({"video/mp4", "image/jpeg", "application/json"}),
            deterministic=True,
            uses_scene_images=True,
        )
        self._preset = preset
        self._ffmpeg = ffmpeg
        self._assets_dir = assets_dir
        self._fragmented = fragmented
        self._text = BuiltinProvider()

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        """Zero: rendering runs locally and costs nothing."""
        return 0.0

    async def generate(self, call: ProviderCall) -> ProviderResult:
        """Render the transition for `call.request`, determined by it and `call.seed` alone.

        Raises:
            DyngenError: GEN_INVALID_CONFIG for an unsupported type or an over-long duration,
                GEN_TIMEOUT when rendering overruns `call.deadline_s`, plus the text provider's codes.
        """
        request = call.request
        started = asyncio.get_running_loop().time()  # the clock `deadline_s` is kept on (asyncio.timeout)
        if request.type not in self.info.generation_types:
            raise DyngenError(ErrorCode.GEN_INVALID_CONFIG, f"builtin_video renders transitions, not {request.type}")
        if request.duration.target > MAX_SECONDS:
            raise DyngenError(
                ErrorCode.GEN_INVALID_CONFIG, f"builtin_video renders at most {MAX_SECONDS:g} s per transition"
            )
        script = await self._script(call)
        notes: list[str] = []
        # ffmpeg starts on the timeline while the keyframes are drawn on a thread; then the poster is.
        frames = PendingFrames(timeline(request, script))
        make = functools.partial(
            build_renderer,
            request,
            call.seed,
            script,
            assets_dir=self._assets_dir,
            notes=notes,
            images=call.images,
            states=frames.states,
        )
        exe = self._ffmpeg if self._ffmpeg is not None else await asyncio.to_thread(ffmpeg_exe)
        building = asyncio.ensure_future(asyncio.to_thread(frames.build, make))
        poster = asyncio.ensure_future(_poster_of(building))

        async def early() -> ProviderResult:  # all of the result but the video, said with it once playable
            data = await poster  # the keyframes are drawn, `notes` complete
            payload = script.payload.model_copy(update={"type": PayloadType.VIDEO})
            if notes:
                metadata = payload.metadata or ContentMetadata()
                tags = [*(metadata.tags or []), *notes]
                payload = payload.model_copy(update={"metadata": metadata.model_copy(update={"tags": tags})})
            return ProviderResult(
                payload=payload,
                artifacts=[
                    ArtifactBlob(role="poster", media_type="image/jpeg", data=data),
                    ArtifactBlob(role="captions", media_type="text/vtt", data=webvtt(payload.beats or [])),
                    *(ArtifactBlob(role="script", media_type=a.media_type, data=a.data) for a in script.artifacts),
                ],
                tokens=script.tokens,
                cost=0.0,
                fingerprint=FINGERPRINT.format(preset=self._preset) + (", fragmented" if self._fragmented else ""),
                report=script.report,
            )

        try:
            video = await encode_mp4(
                frames,
                width=WIDTH,
                height=HEIGHT,
                fps=FPS,
                deadline_s=call.deadline_s,
                exe=exe,
                preset=self._preset,
                fragmented=self._fragmented,
                sink=(
                    _sink(
                        call.stream,
                        early,
                        frames=len(encoded_frames(frames)),
                        started=started,
                        deadline_s=call.deadline_s,
                    )
                    if self._fragmented and call.stream is not None
                    else None
                ),
            )
            rest = await early()
        finally:
            for task in (building, poster):  # a failed render's: nobody waits for them (threads finish alone)
                task.cancel()
                task.add_done_callback(_quiet)
        primary = ArtifactBlob(role="video", media_type="video/mp4", data=video, primary=True)
        return dataclasses.replace(rest, artifacts=[primary, *rest.artifacts])

    async def _script(self, call: ProviderCall) -> ProviderResult:
        """The beats to render: a pipeline's script stage's (free here: it was paid for and recorded as its
        own stage), else the built-in text's for the same request and seed."""
        if call.script is None:
            return await self._text.generate(call)
        if not call.script.beats:
            raise DyngenError(ErrorCode.GEN_EMPTY_OUTPUT, "the script to render has no beats")
        content = call.script.model_dump(mode="json", include={"beats", "dialogue", "choices"}, exclude_none=True)
        data = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        return ProviderResult(
            payload=call.script,
            artifacts=[ArtifactBlob(role="script", media_type="application/json", data=data)],
        )


# A stream is said playable only when the render, at the pace of its fragments so far, ends within the
# call's deadline with this margin: a player is not handed a video whose render is likely to be cut off.
PACE_MARGIN = 1.25
# The pace is taken over this many frames at least (or as many as are left, if fewer): fragments come in
# bursts (ffmpeg writes one when the next frame's packet closes it), and a hold's fragment is one frame.
PACE_FRAMES = 12


def _sink(
    stream: MediaStream,
    early: Callable[[], Awaitable[ProviderResult]],
    *,
    frames: int,
    started: float,
    deadline_s: float,
) -> Sink:
    """The encoder's sink for `stream`: every box written on, and the stream told it is playable (with the
    rest of the result, from `early`) once the fragments' pace, in wall time per frame encoded over
    `PACE_FRAMES` at least, says the rest of the `frames` to encode render within `deadline_s` of
    `started` (loop time); a render too slow for its deadline is answered when done (or times out)."""
    loop = asyncio.get_running_loop()
    first: tuple[float, int] | None = None  # when the first fragment's media came, and the frames in by then
    announced = encoded = 0  # frames the fragments' headers (`moof`) announced; of those, frames whose media came
    told = False

    async def sink(data: bytes) -> None:
        nonlocal told, first, announced, encoded
        await stream.write(data)
        if told:
            return
        announced += samples(data)
        if b"mdat" not in box_types(data):
            return
        now, encoded = loop.time(), announced
        if first is None:
            first = (now, encoded)
        left = max(0, frames - encoded)
        if left and (now == first[0] or encoded - first[1] < min(PACE_FRAMES, left)):
            return  # not enough seen yet to tell the pace of what is left
        rest = left * (now - first[0]) / (encoded - first[1]) if left else 0.0
        if (now - started) + PACE_MARGIN * rest <= deadline_s:
            told = True
            stream.playable(await early())

    return sink


def moods(request: GenerateContentRequest) -> tuple[str | None, str | None]:
    """The moods of the two ends: the style's, else the scenes'."""
    style, before, after = request.style, request.from_scene, request.to_scene
    return style.mood_from or (before.mood if before else None), style.mood_to or (after.mood if after else None)


def build_renderer(
    request: GenerateContentRequest,
    seed: int,
    script: ProviderResult,
    *,
    assets_dir: Path | None = None,
    notes: list[str] | None = None,
    images: Mapping[str, bytes] | None = None,
    states: Sequence[FrameState] | None = None,
) -> FrameRenderer:
    """The keyframes, grade and timeline for `request`, captioned with `script`'s beats (`states`: the
    timeline when the caller made it already).

    A scene's image is taken from `images` (stored artifacts the service read) or else the assets folder.
    A refused scene image is drawn instead, and `keyframe:<end>:<reason>` is appended to `notes`.
    """
    images = images or {}
    notes = notes if notes is not None else []
    mood_from, mood_to = moods(request)
    # The two keyframes are drawn at once, the destination on a second thread: Pillow's blur and
    # compositing, most of the drawing, let go of the GIL.
    to_notes: list[str] = []
    with ThreadPoolExecutor(1, thread_name_prefix="dyngen-keyframe") as pool:
        drawing = pool.submit(
            scene_keyframe, "to", request.to_scene, mood_to, seed, assets_dir=assets_dir, notes=to_notes, images=images
        )
        source = scene_keyframe(
            "from", request.from_scene, mood_from, seed, assets_dir=assets_dir, notes=notes, images=images
        )
        destination = drawing.result()
    notes.extend(to_notes)
    return FrameRenderer(
        source=source,
        destination=destination,
        grade_from=grade_colour(mood_from),
        grade_to=grade_colour(mood_to),
        states=timeline(request, script) if states is None else states,
        beats=script.payload.beats or [],
    )


def _poster(renderer: FrameRenderer) -> bytes:
    return poster_jpeg(renderer.rgb_frame(renderer.count // 2), width=WIDTH, height=HEIGHT)


async def _poster_of(building: Awaitable[FrameRenderer]) -> bytes:
    return await asyncio.to_thread(_poster, await building)


def _quiet(task: asyncio.Future[Any]) -> None:
    """Retrieve a finished task's exception, so that a failed render's leftovers log nothing."""
    if not task.cancelled():
        task.exception()


def timeline(request: GenerateContentRequest, script: ProviderResult) -> list[FrameState]:
    """The recipe of every frame of `request`'s transition, captioned with `script`'s beats."""
    beats = script.payload.beats or []
    return plan(
        target_s=request.duration.target,
        transition=request.style.transition_type,
        pacing=request.style.pacing,
        beats=beats,
        mood_to=beats[-1].mood if beats else None,
        fps=FPS,
    )


def scene_keyframe(
    end: str,
    scene: SceneRef | None,
    mood: str | None,
    seed: int,
    *,
    assets_dir: Path | None,
    notes: list[str],
    images: Mapping[str, bytes] | None = None,
) -> Pixels:
    """The scene's image when it has one that may be used, else its drawn keyframe (noting why).

    The image is a stored artifact's bytes from `images` when its name is there, else a file in `assets_dir`.
    """
    if scene is not None and scene.image:
        try:
            stored = (images or {}).get(scene.image)
            if stored is not None:
                return scene_images.decode(stored)
            return scene_images.load(assets_dir, scene.image)
        except scene_images.ImageRefusedError as refused:
            log.warning("scene %s: image refused, drawing its keyframe: %s", scene.id, refused)
            notes.append(f"keyframe:{end}:{refused.reason}")
    return keyframe(scene, mood, seed)
