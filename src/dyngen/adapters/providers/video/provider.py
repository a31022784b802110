"""`builtin_video`: transitions rendered offline as H.264 video with burned-in captions.

The script comes from the text provider (`builtin`) for the same request and seed, so the captions
are exactly the beats a text-only client would get. Each scene gets a keyframe drawn from its mood
and summary (`keyframes`), the timeline (`timeline`) says how the frames move from one to the other,
`frames` composites them and `encoder` pipes them to ffmpeg. Artifacts: the MP4 (primary), a poster
JPEG (the middle frame) and the script JSON.
"""

from __future__ import annotations

import asyncio

from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.adapters.providers.video.encoder import encode_mp4, ffmpeg_exe, poster_jpeg
from dyngen.adapters.providers.video.frames import FrameRenderer
from dyngen.adapters.providers.video.keyframes import HEIGHT, WIDTH, grade_colour, keyframe
from dyngen.adapters.providers.video.timeline import FPS, plan
from dyngen.domain.contracts import GenerateContentRequest, GenerationType, PayloadType
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ArtifactBlob, ProviderCall, ProviderInfo, ProviderResult

FINGERPRINT = "builtin-video/1 (x264 {preset}, 854x480@24)"
MAX_SECONDS = 600.0


class BuiltinVideoProvider:
    """Offline, deterministic transition video: a dissolve (gradual) or a cut with a flash (abrupt).

    Args:
        preset: The x264 preset (`ultrafast` by default: see bench/video_render.py for the speed each preset buys).
        ffmpeg: Path of the ffmpeg binary; default: the one `imageio-ffmpeg` ships.
    """

    def __init__(self, *, preset: str = "ultrafast", ffmpeg: str | None = None) -> None:
        self.info = ProviderInfo(
            name="builtin_video",
            generation_types=frozenset({GenerationType.TRANSITION, GenerationType.VARIATION}),
            media=frozenset({"video/mp4", "image/jpeg", "application/json"}),
            deterministic=True,
        )
        self._preset = preset
        self._ffmpeg = ffmpeg
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
        if request.type not in self.info.generation_types:
            raise DyngenError(ErrorCode.GEN_INVALID_CONFIG, f"builtin_video renders transitions, not {request.type}")
        if request.duration.target > MAX_SECONDS:
            raise DyngenError(
                ErrorCode.GEN_INVALID_CONFIG, f"builtin_video renders at most {MAX_SECONDS:g} s per transition"
            )
        script = await self._text.generate(call)
        renderer = await asyncio.to_thread(build_renderer, request, call.seed, script)
        exe = self._ffmpeg if self._ffmpeg is not None else await asyncio.to_thread(ffmpeg_exe)
        video = await encode_mp4(
            renderer, width=WIDTH, height=HEIGHT, fps=FPS, deadline_s=call.deadline_s, exe=exe, preset=self._preset
        )
        poster = await asyncio.to_thread(_poster, renderer)
        payload = script.payload.model_copy(update={"type": PayloadType.VIDEO})
        scripts = [ArtifactBlob(role="script", media_type=a.media_type, data=a.data) for a in script.artifacts]
        return ProviderResult(
            payload=payload,
            artifacts=[
                ArtifactBlob(role="video", media_type="video/mp4", data=video, primary=True),
                ArtifactBlob(role="poster", media_type="image/jpeg", data=poster),
                *scripts,
            ],
            tokens=script.tokens,
            cost=0.0,
            fingerprint=FINGERPRINT.format(preset=self._preset),
        )


def moods(request: GenerateContentRequest) -> tuple[str | None, str | None]:
    """The moods of the two ends: the style's, else the scenes'."""
    style, before, after = request.style, request.from_scene, request.to_scene
    return style.mood_from or (before.mood if before else None), style.mood_to or (after.mood if after else None)


def build_renderer(request: GenerateContentRequest, seed: int, script: ProviderResult) -> FrameRenderer:
    """The keyframes, grade and timeline for `request`, captioned with `script`'s beats."""
    mood_from, mood_to = moods(request)
    beats = script.payload.beats or []
    last_mood = beats[-1].mood if beats else None
    states = plan(
        target_s=request.duration.target,
        transition=request.style.transition_type,
        pacing=request.style.pacing,
        beats=beats,
        mood_to=last_mood,
        fps=FPS,
    )
    return FrameRenderer(
        source=keyframe(request.from_scene, mood_from, seed),
        destination=keyframe(request.to_scene, mood_to, seed),
        grade_from=grade_colour(mood_from),
        grade_to=grade_colour(mood_to),
        states=states,
        beats=beats,
    )


def _poster(renderer: FrameRenderer) -> bytes:
    return poster_jpeg(renderer.frame(renderer.count // 2), width=WIDTH, height=HEIGHT)
