"""The offline video renderer: keyframes, timeline, frame compositing and ffmpeg encoding."""

from dyngen.adapters.providers.video.provider import BuiltinVideoProvider

__all__ = ["BuiltinVideoProvider"]
