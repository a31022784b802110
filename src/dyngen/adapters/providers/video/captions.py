"""The script's beats as WebVTT, so a player can show (or hide) the captions as a text track too."""

from __future__ import annotations

from collections.abc import Sequence

from dyngen.domain.responses import Beat


def timestamp(seconds: float) -> str:
    """`seconds` as a WebVTT timestamp, `HH:MM:SS.mmm`."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def webvtt(beats: Sequence[Beat]) -> bytes:
    """A WebVTT file with one cue per beat; a spoken line carries its speaker as a voice span."""
    lines = ["WEBVTT", ""]
    for number, beat in enumerate(beats, start=1):
        text = " ".join(beat.text.split()).replace("-->", "->")
        if beat.kind == "dialogue" and beat.speaker:
            speaker = " ".join(beat.speaker.split()).replace(">", "")
            text = f"<v {speaker}>{text}"
        lines += [str(number), f"{timestamp(beat.start)} --> {timestamp(beat.start + beat.duration)}", text, ""]
    return "\n".join(lines).encode()
