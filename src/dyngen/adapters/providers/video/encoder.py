"""H.264 MP4 encoding through the ffmpeg binary that `imageio-ffmpeg` ships, and the poster JPEG.

ffmpeg runs as a child process (never through a shell) reading raw YUV 4:2:0 frames on stdin and writing
to a private temporary file (`+faststart` needs a seekable output), or, `fragmented`, a fragmented MP4
(an empty `moov`, then a `moof`+`mdat` pair per half second) on its stdout, which is handed
on box by box as it comes (`sink`), so that a player can start on the first second while the rest
renders. Only the frames the source says change are sent (`FrameSource.changes`); a `setpts` filter gives
each its time, so a hold is one long frame of a variable-frame-rate MP4 (x264 spends about as long on a
repeated frame as on a new one). Frames are rendered in small batches on a worker thread while another thread writes the
batch before to ffmpeg's stdin (`_Feed`): drawing overlaps encoding, the event loop stays free and a
cancellation lands between batches.
The whole encode has a deadline: past it, or when the caller is cancelled, ffmpeg is killed and reaped
before the error propagates, so no process outlives the request. Flags make the output bit-exact: a
fixed thread count, no metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from PIL import Image

from dyngen.domain.errors import DyngenError, ErrorCode

log = logging.getLogger("dyngen.providers.video")
BATCH = 12
# x264's frame threads: a fixed count, so the bytes are the same on every machine (x264 is deterministic
# for a given count, not across counts); two let the encode use a second core (0.54-0.77 s instead of
# 0.74-0.95 s wall for 720 frames alone). Sizes and SSIM stay within 1 % and 0.00001 of one thread's.
THREADS = 2
# ffmpeg's stdin pipe: 1 MiB (the default cap of /proc/sys/fs/pipe-max-size) instead of 64 KiB, so a
# frame (600 KB) goes in one or two writes and reads, not ten of each.
PIPE_BYTES = 1 << 20


class FrameSource(Protocol):
    @property
    def count(self) -> int: ...

    def frame(self, i: int) -> bytes: ...

    def changes(self) -> Sequence[int]:
        """The frames to encode, ascending, the first and the last included; each one shows until the next."""
        ...


# Past this many holds, every frame is encoded instead: the `setpts` expression has a term per hold.
MAX_HOLDS = 1000


def encoded_frames(source: FrameSource) -> list[int]:
    """The indices of the frames of `source` to encode: its changes, or all of them when those hold too often."""
    changes = list(source.changes())
    holds = sum(1 for a, b in itertools.pairwise(changes) if b - a > 1)
    return changes if holds <= MAX_HOLDS else list(range(source.count))


def timestamps_filter(frames: Sequence[int], fps: int) -> str | None:
    """A `setpts` filter giving the Nth frame sent the time of frame `frames[N]` (N plus every skip
    before it); None when no frame is skipped."""
    pairs = enumerate(itertools.pairwise(frames), 1)
    terms = [f"{b - a - 1}*gte(N,{k})" for k, (a, b) in pairs if b - a > 1]
    if not terms:
        return None
    return f"setpts='(N+{_sum(terms)})/({fps}*TB)'"


def _sum(terms: Sequence[str]) -> str:
    """`terms` added as a balanced tree: ffmpeg's expression parser recurses once per `+` of a flat sum and
    refuses one of about 100 terms; a tree nests log2(terms) deep."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return f"({_sum(terms[:half])}+{_sum(terms[half:])})"


def ffmpeg_exe() -> str:
    """The path of imageio-ffmpeg's bundled binary (or the one IMAGEIO_FFMPEG_EXE names)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


# A fragmented MP4's fragments last this long (microseconds): the first frame waits for the first one to
# close. Cut by time, not at keyframes, so the keyframes (and the size) are those of the whole MP4.
FRAGMENT_US = 500_000
FRAGMENTED_FLAGS = "empty_moov+default_base_moof"
Sink = Callable[[bytes], Awaitable[None]]


def ffmpeg_args(
    exe: str,
    *,
    width: int,
    height: int,
    fps: int,
    preset: str,
    output: str,
    frames: Sequence[int],
    fragmented: bool = False,
) -> list[str]:
    """The command line: raw planar YUV 4:2:0 on stdin -> bit-exact H.264 MP4 (`THREADS` threads) at `output`
    (`+faststart`), or fragmented (`output` may then be `pipe:1`). `frames`: the indices of the frames
    sent (see `encoded_frames`)."""
    container = (
        ["-frag_duration", str(FRAGMENT_US), "-movflags", FRAGMENTED_FLAGS]
        if fragmented
        else ["-movflags", "+faststart"]
    )
    timestamps = timestamps_filter(frames, fps)
    # No B-frames when frames are retimed: with them, x264's reordering shows some frames a frame or two
    # late (presets from ultrafast to superfast have none anyway).
    retimed = ["-vf", timestamps, "-fps_mode", "passthrough", "-bf", "0"] if timestamps is not None else []
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
        *retimed,
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-pix_fmt",
        "yuv420p",
        "-threads",
        str(THREADS),
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-map_metadata",
        "-1",
        *container,
        "-f",
        "mp4",
        "-y",
        output,
    ]


async def encode_mp4(
    source: FrameSource,
    *,
    width: int,
    height: int,
    fps: int,
    deadline_s: float,
    exe: str,
    preset: str = "veryfast",
    fragmented: bool = False,
    sink: Sink | None = None,
) -> bytes:
    """Encode `source` (the frames it says change, each shown until the next) and return the MP4's bytes.

    Args:
        fragmented: Write a fragmented MP4 (see the module's docstring) instead of a `+faststart` one.
        sink: With `fragmented`, told of each complete top-level box (`ftyp`, `moov`, then a `moof` and
            its `mdat` per fragment) as ffmpeg writes it; the bytes returned are these boxes in order.

    Raises:
        DyngenError: GEN_TIMEOUT when the encode does not finish within `deadline_s` (ffmpeg is killed),
            GEN_PROVIDER_UNAVAILABLE when ffmpeg cannot start or fails.
    """
    workdir = None if fragmented else await asyncio.to_thread(tempfile.mkdtemp, prefix="dyngen-video-")
    output = "pipe:1" if workdir is None else str(Path(workdir) / "out.mp4")
    args = ffmpeg_args(
        exe,
        width=width,
        height=height,
        fps=fps,
        preset=preset,
        output=output,
        fragmented=fragmented,
        frames=(sent := encoded_frames(source)),
    )
    proc: asyncio.subprocess.Process | None = None
    feed: _Feed | None = None
    try:
        async with asyncio.timeout(deadline_s):
            read_end, write_end = os.pipe()
            feed = _Feed(write_end, source, sent)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *args,
                    stdin=read_end,
                    stdout=asyncio.subprocess.PIPE if workdir is None else asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
            except OSError as exc:
                raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"ffmpeg cannot start: {exc}") from exc
            finally:
                os.close(read_end)  # ffmpeg has its own copy: when it exits, a write fails instead of blocking
            assert proc.stderr is not None
            errors = asyncio.create_task(proc.stderr.read())
            boxes: asyncio.Task[bytes] | None = None
            if proc.stdout is not None:
                boxes = asyncio.create_task(_boxes(proc.stdout, sink))
            try:
                await feed.run()
                written = await boxes if boxes is not None else b""
                code = await proc.wait()
            except (BrokenPipeError, ConnectionResetError):
                code = await proc.wait()
                written = b""
            finally:
                stderr = await _finish(errors, proc)
                if boxes is not None and not boxes.done():
                    boxes.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await boxes
            if code != 0:
                detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
                raise DyngenError(ErrorCode.GEN_PROVIDER_UNAVAILABLE, f"ffmpeg failed ({code}): {detail[0][:200]}")
            if workdir is None:
                return written
            return await asyncio.to_thread(Path(output).read_bytes)
    except TimeoutError:
        raise DyngenError(ErrorCode.GEN_TIMEOUT, f"video not encoded within {deadline_s * 1000:.0f} ms") from None
    finally:
        if proc is not None and proc.returncode is None:
            await _kill(proc)
        if feed is not None:
            await feed.close()
        if workdir is not None:
            await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _boxes(stream: asyncio.StreamReader, sink: Sink | None) -> bytes:
    """Everything ffmpeg writes on stdout; each complete top-level box is handed to `sink` as it arrives."""
    whole = bytearray()
    sent = 0  # how much of `whole` the sink has had
    while chunk := await stream.read(256 * 1024):
        whole += chunk
        if sink is None:
            continue
        end = complete_boxes(whole, sent)
        if end > sent:
            await sink(bytes(whole[sent:end]))
            sent = end
    if sink is not None and sent < len(whole):
        await sink(bytes(whole[sent:]))  # a box cut short is ffmpeg's failure, which its exit code reports
    return bytes(whole)


def box_types(data: bytes) -> list[bytes]:
    """The types of the top-level boxes in `data` (which starts at a box), the last one maybe incomplete."""
    types, at = [], 0
    while len(data) - at >= 8:
        size = int.from_bytes(data[at : at + 4], "big")
        if size == 1 and len(data) - at >= 16:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        types.append(data[at + 4 : at + 8])
        if size < 8:
            break
        at += size
    return types


def samples(data: bytes) -> int:
    """How many samples (frames) the fragments (`moof` boxes) among the top-level boxes of `data` hold:
    the sum of their track runs' (`traf`/`trun`) sample counts."""
    total = 0
    for moof in _children(data, 0, len(data), b"moof"):
        for traf in _children(data, moof, _end(data, moof - 8), b"traf"):
            for trun in _children(data, traf, _end(data, traf - 8), b"trun"):
                total += int.from_bytes(data[trun + 4 : trun + 8], "big")  # after the version and flags
    return total


def _end(data: bytes, at: int) -> int:
    return min(len(data), at + int.from_bytes(data[at : at + 4], "big"))


def _children(data: bytes, start: int, stop: int, kind: bytes) -> list[int]:
    """Where the contents of each box of type `kind` among the boxes from `start` to `stop` begin (32-bit
    sizes: fragments are small)."""
    found, at = [], start
    while stop - at >= 8:
        size = int.from_bytes(data[at : at + 4], "big")
        if size < 8:
            break
        if data[at + 4 : at + 8] == kind:
            found.append(at + 8)
        at += size
    return found


def complete_boxes(data: bytes | bytearray, start: int) -> int:
    """The offset where the last complete top-level ISO BMFF box from `start` on ends (`start` if none)."""
    at = start
    while len(data) - at >= 8:
        size = int.from_bytes(data[at : at + 4], "big")
        if size == 1:
            if len(data) - at < 16:
                break
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        if size < 8 or len(data) - at < size:  # 0 (to the end of the file) is only known at the end
            break
        at += size
    return at


class _Feed:
    """Frames to ffmpeg's stdin, a blocking pipe this owns: a worker thread renders the next batch while
    another writes the one before, so Python draws while ffmpeg encodes (a write to an asyncio pipe
    waited for ffmpeg to read the whole batch before the next one was drawn) and no event-loop turn is
    spent per pipe buffer of a frame's bytes. Only the frames at its indices are sent (`encoded_frames`)."""

    def __init__(self, fd: int, source: FrameSource, indices: Sequence[int]) -> None:
        self._fd: int | None = fd
        self._source, self._indices = source, indices
        self._writing: asyncio.Future[None] | None = None
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux only; elsewhere the default size
            with contextlib.suppress(OSError):  # over a lowered pipe-max-size: the default size
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)

    async def run(self) -> None:
        """Render and write the frames of the source at its indices, then close the pipe (ffmpeg's end of input)."""
        loop, indices = asyncio.get_running_loop(), self._indices
        for start in range(0, len(indices), BATCH):
            frames = await asyncio.to_thread(_render, self._source, indices[start : start + BATCH])
            await self._written()
            assert self._fd is not None
            self._writing = loop.run_in_executor(None, _write, self._fd, frames)
        await self._written()
        await self.close()

    async def _written(self) -> None:
        """Wait for the write under way; it goes on if this is cancelled (`close` waits for it)."""
        if self._writing is not None:
            await asyncio.shield(self._writing)
            self._writing = None

    async def close(self) -> None:
        """Close the pipe once no thread writes to it: call it after ffmpeg has exited or been killed, so a
        blocked write fails at once."""
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writing)
            self._writing = None
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def _render(source: FrameSource, indices: Sequence[int]) -> list[bytes]:
    return [source.frame(i) for i in indices]


def _write(fd: int, frames: list[bytes]) -> None:
    for frame in frames:
        view = memoryview(frame)
        while view:
            view = view[os.write(fd, view) :]


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
