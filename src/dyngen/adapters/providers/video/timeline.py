"""When each frame shows what: the dissolve or cut, the colour grade, the flash and the caption.

Pure arithmetic, no pixels: `plan` turns the duration, the transition type, the pacing and the caption
beats into one `FrameState` per frame, so the easing rules can be read (and tested) on their own.
Weights are integers out of 256 because the compositor blends in 16-bit integer arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dyngen.domain.contracts import Pacing, TransitionType
from dyngen.domain.responses import Beat

FPS = 24
FULL = 256

# Share of the video a gradual dissolve takes, by pacing; the rest holds the two keyframes.
_DISSOLVE_SHARE = {Pacing.SLOW: 0.6, Pacing.MEDIUM: 0.4, Pacing.FAST: 0.2}
# Frames an abrupt cut's white flash takes to fade into the new scene.
_FLASH_FRAMES = {Pacing.SLOW: 6, Pacing.MEDIUM: 4, Pacing.FAST: 3}
# Peak strength of the colour grade halfway through a dissolve.
_GRADE_PEAK = 0.3


@dataclass(frozen=True, slots=True)
class FrameState:
    """One frame's recipe.

    Attributes:
        mix: How much of the destination keyframe shows, 0..256.
        grade: How strongly the frame is tinted towards the moving grade colour, 0..256.
        grade_at: Where the grade colour sits between the source and destination palettes, 0..256.
        flash: How white the frame is, 0..256.
        caption: Index of the beat whose caption is burned in, or None.
    """

    mix: int
    grade: int
    grade_at: int
    flash: int
    caption: int | None


def frame_count(target_s: float, fps: int = FPS) -> int:
    """Frames in a video lasting `target_s` seconds (at least one)."""
    return max(1, round(target_s * fps))


def _smoothstep(x: float) -> float:
    return x * x * (3 - 2 * x)


def _smootherstep(x: float) -> float:
    return x * x * x * (x * (6 * x - 15) + 10)


def _ease_out(x: float) -> float:
    return 1 - (1 - x) ** 3


EASING: dict[Pacing, Callable[[float], float]] = {
    Pacing.SLOW: _smootherstep,  # ease in and out, lingering on both scenes
    Pacing.MEDIUM: _smoothstep,
    Pacing.FAST: _ease_out,  # gets there quickly, settles at the end
}


def cut_time(beats: Sequence[Beat], target_s: float, mood_to: str | None) -> float:
    """Where an abrupt cut falls: the first beat in the destination mood (the script's turn), else midway.

    Clamped to the middle half, so both scenes are on screen long enough to read.
    """
    turn = next((b.start for b in beats[1:] if mood_to is not None and b.mood == mood_to), target_s / 2)
    return min(max(turn, target_s * 0.25), target_s * 0.75)


def caption_index(beats: Sequence[Beat], t: float) -> int | None:
    """The beat on screen at `t` seconds; the last beat stays up to the end."""
    if not beats:
        return None
    for i, beat in enumerate(beats):
        if t < beat.start + beat.duration:
            return i if t >= beat.start else max(0, i - 1)
    return len(beats) - 1


def plan(
    *,
    target_s: float,
    transition: TransitionType,
    pacing: Pacing,
    beats: Sequence[Beat],
    mood_to: str | None = None,
    fps: int = FPS,
) -> list[FrameState]:
    """One `FrameState` per frame of a `target_s`-second transition."""
    n = frame_count(target_s, fps)
    states: list[FrameState] = []
    if transition is TransitionType.ABRUPT:
        cut = min(n - 1, max(1, round(cut_time(beats, target_s, mood_to) * fps)))
        flash_frames = _FLASH_FRAMES[pacing]
        for i in range(n):
            after = i - cut
            flash = round(FULL * (1 - after / flash_frames)) if 0 <= after < flash_frames else 0
            mix = FULL if i >= cut else 0
            states.append(FrameState(mix, 0, mix, flash, caption_index(beats, i / fps)))
        return states
    share = _DISSOLVE_SHARE[pacing]
    start, end = target_s * (0.5 - share / 2), target_s * (0.5 + share / 2)
    ease = EASING[pacing]
    for i in range(n):
        t = i / fps
        x = min(1.0, max(0.0, (t - start) / (end - start)))
        e = ease(x)
        grade = round(FULL * _GRADE_PEAK * math.sin(math.pi * e))
        states.append(FrameState(round(FULL * e), grade, round(FULL * e), 0, caption_index(beats, t)))
    return states
