"""H.264 MP4 encoding through the ffmpeg binary that `imageio-ffmpeg` ships, and the poster JPEG.

ffmpeg runs as a child process (never through a shell) reading raw YUV 4:2:0 frames on stdin and writing
to a private temporary file (`+faststart` needs a seekable output). Frames are rendered in small
batches on a worker thread so the event loop stays free and a cancellation lands between batches.
The whole encode has a deadline: past it, or when the caller is cancelled, ffmpeg is killed and reaped
before the error propagates, so no process outlives the request. Flags make the output bit-exact:
one thread, no metadata, no encoder version strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from PIL import Image

from dyngen.domain.errors import DyngenError, ErrorCode

log = logging.getLogger("dyngen.providers.video")
BATCH = 12


class FrameSource(Protocol):
    @property
    def count(self) -> int: ...

    def frame(self, i: int) -> bytes: ...


def ffmpeg_exe() -> str:
    """The path of imageio-ffmpeg's bundled binary (or the one IMAGEIO_FFMPEG_EXE names)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg_args(exe: str, *, width: int, height: int, fps: int, preset: str, output: str) -> list[str]:
    """The command line: raw planar YUV 4:2:0 on stdin -> bit-exact single-threaded H.264 MP4 at `output`."""
    return [
        exe,
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "pipe:0",
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-pix_fmt",
        "yuv420p",
        "-threads",
        "1",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-map_metadata",
        "-1",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        "-y",
        output,
    ]


async def encode_mp4(
    source: FrameSource, *, width: int, height: int, fps: int, deadline_s: float, exe: str, preset: str = "veryfast"
) -> bytes:
    """Encode every frame of `source` and return the MP4's bytes.

    Raises:
        DyngenError: GEN_TIMEOUT when the encode does not finish within `deadline_s` (ffmpeg is killed),
            GEN_PROVIDER_UNAVAILABLE when ffmpeg cannot start or fails.
    """
    workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="dyngen-video-")
    output = str(Path(workdir) / "out.mp4")
    proc: asyncio.subprocess.Process | None = None
    try:
        async with asyncio.timeout(deadline_s):
            try:
                proc = await asyncio.create_subprocess_exec(
                    *ffmpeg_args(exe, width=width, height=height, fps=fps, preset=preset, output=output),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
            except OSError as exc:
                raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"ffmpeg cannot start: {exc}") from exc
            assert proc.stdin is not None
            assert proc.stderr is not None
            errors = asyncio.create_task(proc.stderr.read())
            try:
                for start in range(0, source.count, BATCH):
                    stop = min(source.count, start + BATCH)
                    chunk = await asyncio.to_thread(_render, source, start, stop)
                    proc.stdin.write(chunk)
                    await proc.stdin.drain()
                proc.stdin.close()
                code = await proc.wait()
            except (BrokenPipeError, ConnectionResetError):
                code = await proc.wait()
            finally:
                stderr = await _finish(errors, proc)
            if code != 0:
                detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
                raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"ffmpeg failed ({code}): {detail[0][:200]}")
            return await asyncio.to_thread(Path(output).read_bytes)
    except TimeoutError:
        raise DyngenError(ErrorCode.GEN_TIMEOUT, f"video not encoded within {deadline_s * 1000:.0f} ms") from None
    finally:
        if proc is not None and proc.returncode is None:
            await _kill(proc)
        await asyncio.to_thread(shutil.rmtree, workdir, True)


def _render(source: FrameSource, start: int, stop: int) -> bytes:
    return b"".join(source.frame(i) for i in range(start, stop))


async def _finish(errors: asyncio.Task[bytes], proc: asyncio.subprocess.Process) -> bytes:
    """stderr's text once ffmpeg has exited; on an early exit (cancelled, timed out) kill it first."""
    if proc.returncode is None:
        await _kill(proc)
    try:
        return await errors
    except asyncio.CancelledError:
        return b""


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    # Reap it even when our task is being cancelled, so no zombie or orphan is left behind.
    await asyncio.shield(proc.wait())
    log.info("video.ffmpeg_killed pid=%s", proc.pid)


def poster_jpeg(frame: bytes, *, width: int, height: int, quality: int = 85) -> bytes:
    """One raw RGB frame as a JPEG."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), frame).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
