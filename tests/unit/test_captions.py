"""The WebVTT captions track written beside a rendered transition."""

from __future__ import annotations

from dyngen.adapters.providers.video.captions import timestamp, webvtt
from dyngen.domain.responses import Beat


def test_timestamps_are_hours_minutes_seconds_and_millis() -> None:
    assert timestamp(0) == "00:00:00.000"
    assert timestamp(61.2345) == "00:01:01.234"
    assert timestamp(3725.5) == "01:02:05.500"


def test_one_cue_per_beat_with_speakers_as_voice_spans() -> None:
    beats = [
        Beat(start=0, duration=2.5, kind="narration", text="The  phone\nrings."),
        Beat(start=2.5, duration=1.5, kind="dialogue", text="Who --> is it?", speaker="Mara"),
    ]

    text = webvtt(beats).decode()

    assert text == (
        "WEBVTT\n\n"
        "1\n00:00:00.000 --> 00:00:02.500\nThe phone rings.\n\n"
        "2\n00:00:02.500 --> 00:00:04.000\n<v Mara>Who -> is it?\n"
    )
