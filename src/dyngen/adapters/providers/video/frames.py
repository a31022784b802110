"""Frames as raw YUV 4:2:0 bytes (what the encoder takes): keyframes blended, graded, flashed and
captioned per the timeline.

A frame whose recipe is the one before it is not encoded again (`changes`): the MP4 shows each encoded
frame until the next one's time, so a hold costs the encoder one frame, not one per 24th of a second.

All blending is 16-bit integer arithmetic with weights out of 256, done in place on the YUV planes (see
`yuv`: every step is an affine blend, so it commutes with the colour conversion). Consecutive frames with
the same recipe (the holds before and after a transition) are rendered once and reused. `rgb_frame`
renders the same recipe in RGB, for the poster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dyngen.adapters.providers.video import yuv
from dyngen.adapters.providers.video.keyframes import CAPTION_HEIGHT, HEIGHT, WIDTH, Pixels, Rgb, caption_card
from dyngen.adapters.providers.video.timeline import FULL, FrameState
from dyngen.domain.responses import Beat


@dataclass(slots=True)
class FrameRenderer:
    """Renders frame `i` of a transition from its two keyframes, grade colours, timeline and beats."""

    source: Pixels
    destination: Pixels
    grade_from: Rgb
    grade_to: Rgb
    states: Sequence[FrameState]
    beats: Sequence[Beat]
    every_frame: bool = False  # encode every frame, held or not (`changes`)
    _cards: dict[int, tuple[Pixels, Pixels]] = field(default_factory=dict)
    _last: tuple[FrameState, bytes] | None = None
    _out: Pixels | None = None
    _scratch: Pixels | None = None
    _bytes: npt.NDArray[np.uint8] | None = None
    _planes: tuple[yuv.Planes, yuv.Planes, yuv.Planes, yuv.Planes, yuv.Planes] | None = None  # see `planes`
    _yuv_cards: dict[int, yuv.Card] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.states)

    def changes(self) -> list[int]:
        """The frames to encode (`changes`); with `every_frame`, all of them."""
        return list(range(self.count)) if self.every_frame else changes(self.states)

    def frame(self, i: int) -> bytes:
        """Frame `i` as planar YUV 4:2:0 bytes (Y, then U, then V)."""
        state = self.states[i]
        if self._last is not None and self._last[0] == state:
            return self._last[1]
        out = self.planes(state)
        if self._bytes is None or self._bytes.shape != out.shape:
            self._bytes = np.empty(out.shape, dtype=np.uint8)
        np.copyto(self._bytes, out, casting="unsafe")  # values are 0..255 already
        data = self._bytes.tobytes()
        self._last = (state, data)
        return data

    def rgb_frame(self, i: int) -> bytes:
        """Frame `i` as HEIGHT x WIDTH x 3 bytes of RGB."""
        return self.pixels(self.states[i]).astype(np.uint8).tobytes()

    def planes(self, state: FrameState) -> yuv.Planes:
        """The frame for `state` as flat YUV planes (this renderer's working buffer, overwritten by the
        next call); the same steps as `pixels`, on half the samples."""
        if self._planes is None:
            source, destination = yuv.planes(self.source), yuv.planes(self.destination)
            # source x 256 and destination - source, both modulo 2**16: source x 256 + (destination - source)
            # x mix is source x (256 - mix) + destination x mix, which is 0..65280, so the wrapped uint16
            # sum is exact; one multiply and one add per frame instead of two and one.
            scaled, difference = (source << 8).astype(np.uint16), (destination - source).astype(np.uint16)
            self._planes = (source, destination, scaled, difference, np.empty_like(source))
        source, destination, scaled, difference, out = self._planes
        if state.mix <= 0:
            np.copyto(out, source)
        elif state.mix >= FULL:
            np.copyto(out, destination)
        else:
            np.multiply(difference, np.uint16(state.mix), out=out)
            out += scaled
            out >>= 8
        if state.grade > 0:
            grade_from, grade_to = self._grades()
            tint = (
                (grade_from[0] * (FULL - state.grade_at) + grade_to[0] * state.grade_at) >> 8,
                (grade_from[1] * (FULL - state.grade_at) + grade_to[1] * state.grade_at) >> 8,
                (grade_from[2] * (FULL - state.grade_at) + grade_to[2] * state.grade_at) >> 8,
            )
            out *= np.uint16(FULL - state.grade)
            _add(out, yuv.colour(tint), state.grade)
            out >>= 8
        if state.flash > 0:
            out *= np.uint16(FULL - state.flash)
            _add(out, yuv.WHITE, state.flash)
            out >>= 8
        if state.caption is not None:
            for plane, (inverse, over) in zip(yuv.views(out), self._yuv_card(state.caption), strict=True):
                rows = plane[plane.shape[0] - inverse.shape[0] :]
                rows *= inverse
                rows += over
                rows >>= 8
        return out

    def pixels(self, state: FrameState) -> Pixels:
        """The frame for `state` as a HEIGHT x WIDTH x 3 uint16 array (values 0..255).

        The array is this renderer's working buffer, overwritten by the next call; every step works in
        place, since allocating a 2.4 MB array per step costs more than the arithmetic.
        """
        if self._out is None:
            self._out = np.empty_like(self.source)
            self._scratch = np.empty_like(self.source)
        out, scratch = self._out, self._scratch
        assert scratch is not None
        if state.mix <= 0:
            np.copyto(out, self.source)
        elif state.mix >= FULL:
            np.copyto(out, self.destination)
        else:
            np.multiply(self.source, np.uint16(FULL - state.mix), out=out)
            np.multiply(self.destination, np.uint16(state.mix), out=scratch)
            out += scratch
            out >>= 8
        if state.grade > 0:
            tint = np.array(
                [(a * (FULL - state.grade_at) + b * state.grade_at) >> 8 for a, b in zip(*self._grades(), strict=True)],
                dtype=np.uint16,
            )
            out *= np.uint16(FULL - state.grade)
            out += tint * np.uint16(state.grade)
            out >>= 8
        if state.flash > 0:
            out *= np.uint16(FULL - state.flash)
            out += np.uint16(255 * state.flash)
            out >>= 8
        if state.caption is not None:
            inverse, premultiplied = self._card(state.caption)
            band = out[HEIGHT - CAPTION_HEIGHT :]
            band *= inverse
            band += premultiplied
            band >>= 8
        return out

    def _grades(self) -> tuple[Rgb, Rgb]:
        return self.grade_from, self.grade_to

    def _yuv_card(self, index: int) -> yuv.Card:
        if index not in self._yuv_cards:
            self._yuv_cards[index] = yuv.card(*self._card(index))
        return self._yuv_cards[index]

    def _card(self, index: int) -> tuple[Pixels, Pixels]:
        if index not in self._cards:
            self._cards[index] = caption_card(self.beats[index])
        return self._cards[index]


def changes(states: Sequence[FrameState]) -> list[int]:
    """The frames to encode: the first, each whose recipe differs from the one before it, and the last
    (so that the video ends at its full duration)."""
    last = len(states) - 1
    return [i for i, state in enumerate(states) if i in (0, last) or state != states[i - 1]]


class PendingFrames:
    """The frames of a renderer still being built on another thread (its keyframes drawn): an encoder can
    start on the timeline's `changes` at once, and its first `frame` waits for the renderer.

    `build` runs on that thread and always settles this, so no frame waits forever."""

    def __init__(self, states: Sequence[FrameState]) -> None:
        self.states = states
        self._changes = changes(states)
        self._ready = threading.Event()
        self._renderer: FrameRenderer | None = None
        self._error: BaseException | None = None

    @property
    def count(self) -> int:
        return len(self.states)

    def changes(self) -> list[int]:
        return self._changes

    def build(self, make: Callable[[], FrameRenderer]) -> FrameRenderer:
        """Run `make` (on the calling thread), hand its renderer to the frames waiting, and return it."""
        try:
            self._renderer = make()
            return self._renderer
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._ready.set()

    def frame(self, i: int) -> bytes:
        self._ready.wait()
        if self._renderer is None:
            assert self._error is not None
            raise self._error  # the encode fails with what stopped the drawing
        return self._renderer.frame(i)


def _add(frame: yuv.Planes, colour: tuple[int, int, int], weight: int) -> None:
    """Add `colour` x `weight` to every sample of the frame, plane by plane (Y, U, V)."""
    for plane, value in zip(yuv.views(frame), colour, strict=True):
        np.add(plane, np.uint16(value * weight), out=plane)


def blank_frames(count: int, colour: Rgb = (32, 32, 32)) -> FrameRenderer:
    """A renderer of `count` identical solid frames, every one encoded: the encoder's own cost, for tests."""
    solid = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint16)
    solid[:] = colour
    states = [FrameState(0, 0, 0, 0, None)] * count
    return FrameRenderer(solid, solid, colour, colour, states, [], every_frame=True)


def frame_size() -> tuple[int, int]:
    """(width, height) of every frame."""
    return WIDTH, HEIGHT
