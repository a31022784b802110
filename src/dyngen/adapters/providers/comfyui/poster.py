"""The poster of a video output: its first frame as a JPEG (Pillow for animated WebP/GIF, ffmpeg for
MP4/WebM, run as a child process with a deadline and killed past it)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import tempfile
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from dyngen.adapters.providers.video.encoder import ffmpeg_exe

log = logging.getLogger("dyngen.providers.comfyui")

POSTER_TIMEOUT_S = 20.0


def frame_count(data: bytes) -> int:
    """Frames of an image file (1 for a still, more for an animated WebP/GIF, 0 when Pillow cannot read it)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(getattr(image, "n_frames", 1))
    except (UnidentifiedImageError, OSError, ValueError):
        return 0


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


async def first_frame(data: bytes, media_type: str, *, ffmpeg: str | None = None) -> bytes | None:
    """The first frame as a JPEG, or None when it cannot be taken (logged: a missing poster is no failure)."""
    if media_type.startswith("image/"):
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.seek(0)
                return _jpeg(image)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            log.warning("comfyui.poster_failed media=%s error=%s", media_type, type(exc).__name__)
            return None
    with tempfile.TemporaryDirectory(prefix="dyngen-poster-") as tmp:
        source = Path(tmp) / "video"
        target = Path(tmp) / "poster.jpg"
        source.write_bytes(data)
        process = await asyncio.create_subprocess_exec(
            ffmpeg or ffmpeg_exe(),
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(source),
            "-frames:v",
            "1",
            "-q:v",
            "3",
            "-y",
            str(target),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(POSTER_TIMEOUT_S):
                _, err = await process.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            log.warning("comfyui.poster_failed media=%s error=timeout", media_type)
            return None
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        if process.returncode != 0 or not target.exists():
            log.warning("comfyui.poster_failed media=%s error=%s", media_type, err.decode(errors="replace")[:200])
            return None
        return target.read_bytes()
