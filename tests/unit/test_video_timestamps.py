"""Which frames the video encoder is sent, and the times ffmpeg is told to show them at."""

from __future__ import annotations

import re

import numpy as np

from dyngen.adapters.providers.video import encoder
from dyngen.adapters.providers.video.encoder import encoded_frames, samples, timestamps_filter
from dyngen.adapters.providers.video.frames import FrameRenderer, blank_frames
from dyngen.adapters.providers.video.timeline import FrameState


def shown_at(expression: str, n: int) -> int:
    """The setpts expression evaluated for the Nth frame sent, in frames (TB = 1/24 s)."""
    body = re.fullmatch(r"setpts='\((.*)\)/\(24\*TB\)'", expression)
    assert body is not None, expression
    python = re.sub(r"gte\(N,(\d+)\)", r"(N>=\1)", body.group(1))
    return int(eval(python, {"N": n}))  # our own arithmetic, built by the code under test


def test_each_frame_sent_is_shown_at_its_own_time():
    frames = [0, 1, 2, 9, 10, 30, 31, 32, 47]
    expression = timestamps_filter(frames, 24)
    assert expression is not None
    assert [shown_at(expression, n) for n in range(len(frames))] == frames


def test_no_filter_when_no_frame_is_skipped():
    assert timestamps_filter([0, 1, 2, 3], 24) is None


def test_a_thousand_holds_nest_shallowly():
    """ffmpeg's parser refuses a flat sum of about 100 terms; the sum is a balanced tree."""
    frames = list(range(0, 3002, 3))  # a hold after every frame
    expression = timestamps_filter(frames, 24)
    assert expression is not None
    depth = deepest = 0
    for char in expression:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    assert deepest <= 16
    assert [shown_at(expression, n) for n in (0, 1, 500, 1000)] == [0, 3, 1500, 3000]


def renderer(mixes: list[int]) -> FrameRenderer:
    solid = np.zeros((2, 2, 3), dtype=np.uint16)
    states = [FrameState(mix, 0, 0, 0, None) for mix in mixes]
    return FrameRenderer(solid, solid, (0, 0, 0), (0, 0, 0), states, [])


def test_the_frames_sent_are_the_first_each_change_and_the_last():
    assert renderer([0, 0, 0, 5, 6, 6, 6, 9, 9]).changes() == [0, 3, 4, 7, 8]
    assert renderer([0, 1, 2]).changes() == [0, 1, 2]
    assert renderer([4]).changes() == [0]
    assert blank_frames(5).changes() == [0, 1, 2, 3, 4], "a renderer told to encode every frame"


def test_past_the_cap_on_holds_every_frame_is_sent(monkeypatch):
    mixes = [i // 2 for i in range(40)]  # 19 holds (the last frame is sent)
    assert encoded_frames(renderer(mixes)) == renderer(mixes).changes()
    monkeypatch.setattr(encoder, "MAX_HOLDS", 18)
    assert encoded_frames(renderer(mixes)) == list(range(40))


def box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def fragment(count: int) -> bytes:
    trun = box(b"trun", b"\x00\x00\x03\x01" + count.to_bytes(4, "big") + b"\x00" * 8)
    traf = box(b"traf", box(b"tfhd", b"\x00" * 8) + box(b"tfdt", b"\x00" * 8) + trun)
    return box(b"moof", box(b"mfhd", b"\x00" * 8) + traf) + box(b"mdat", b"\x00" * count)


def test_samples_counts_the_frames_of_every_fragment_in_the_data():
    assert samples(box(b"ftyp", b"isom") + box(b"moov", b"\x00" * 16)) == 0
    assert samples(fragment(12) + fragment(1) + fragment(4)) == 17
