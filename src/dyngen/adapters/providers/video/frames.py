"""Frames as raw RGB bytes: keyframes blended, graded, flashed and captioned per the timeline.

All blending is 16-bit integer arithmetic with weights out of 256, which is exact and fast. Consecutive
frames with the same recipe (the holds before and after a transition) are rendered once and reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dyngen.adapters.providers.video.keyframes import CAPTION_HEIGHT, HEIGHT, WIDTH, Pixels, Rgb, caption_card
from dyngen.adapters.providers.video.timeline import FULL, FrameState
from dyngen.domain.contracts import Beat


@dataclass(slots=True)
class FrameRenderer:
    """Renders frame `i` of a transition from its two keyframes, grade colours, timeline and beats."""

    source: Pixels
    destination: Pixels
    grade_from: Rgb
    grade_to: Rgb
    states: Sequence[FrameState]
    beats: Sequence[Beat]
    _cards: dict[int, tuple[Pixels, Pixels]] = field(default_factory=dict)
    _last: tuple[FrameState, bytes] | None = None
    _out: Pixels | None = None
    _scratch: Pixels | None = None
    _bytes: npt.NDArray[np.uint8] | None = None

    @property
    def count(self) -> int:
        return len(self.states)

    def frame(self, i: int) -> bytes:
        """Frame `i` as HEIGHT x WIDTH x 3 bytes of RGB."""
        state = self.states[i]
        if self._last is not None and self._last[0] == state:
            return self._last[1]
        out = self.pixels(state)
        if self._bytes is None:
            self._bytes = np.empty(out.shape, dtype=np.uint8)
        np.copyto(self._bytes, out, casting="unsafe")  # values are 0..255 already
        data = self._bytes.tobytes()
        self._last = (state, data)
        return data

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

    def _card(self, index: int) -> tuple[Pixels, Pixels]:
        if index not in self._cards:
            self._cards[index] = caption_card(self.beats[index])
        return self._cards[index]


def blank_frames(count: int, colour: Rgb = (32, 32, 32)) -> FrameRenderer:
    """A renderer of `count` identical solid frames: the encoder's own cost, for benchmarks."""
    solid = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint16)
    solid[:] = colour
    states = [FrameState(0, 0, 0, 0, None)] * count
    return FrameRenderer(solid, solid, colour, colour, states, [])


def frame_size() -> tuple[int, int]:
    """(width, height) of every frame."""
    return WIDTH, HEIGHT
