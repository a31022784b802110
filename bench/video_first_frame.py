"""Time to first frame of a 30 s transition over HTTP: the video streamed while it renders against the
same render answered once whole, in one run, on servers started the same way.

Two dyngen servers (embedded, `builtin_video`), one with `DYNGEN_VIDEO_STREAMING=true` (the default), one with `false`.
Each call asks for a new 30 s transition (a new playthrough: a miss) and times, from sending the POST:

- streaming: the answer, the video's first byte, its first frame (the bytes up to the first fragment's
  `mdat` received: what a player needs to show a picture) and its last byte (the render's end);
- whole: the answer (the render done) and the video's last byte;
- both: the poster, captions and script the answer names, each loaded once the first frame is in (a player
  shows the poster and loads the captions track while the video starts).

Rounds in ABBA order; medians. Figures: time to first frame (goal < 500 ms) against the whole render's
first frame (its answer plus the whole download, since a `+faststart` MP4's first frame needs the whole file),
and full render speed, video seconds / wall seconds of the streamed render (goal >= 40x real time).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import BenchError, Row
from bench.miss import dyngen_server
from dyngen.adapters.providers.video.encoder import box_types, complete_boxes

SECONDS = 30.0
ROUNDS = 4  # per mode, ABBA
GOAL_FIRST_FRAME_S = 0.5
GOAL_SPEED = 40.0


def _body(n: int) -> dict[str, Any]:
    return {
        "type": "transition",
        "node_id": "bench_first_frame",
        "from_scene": {"id": "cafe", "mood": "romantic", "summary": "Mara kisses Theo.", "location": "corner_cafe"},
        "to_scene": {"id": "roof", "mood": "intense", "location": "city_rooftops"},
        "style": {"pacing": "medium", "transitionType": "gradual"},
        "duration": {"min": 1, "max": 60, "target": SECONDS},
        "strategy": "per_playthrough",
        "player_context": {"playthroughId": f"bench-first-frame-{n}"},
        "fallback": {"mode": "placeholder", "timeoutMs": 30000},
        "provider": "builtin_video",
    }


def _call(client: httpx.Client, n: int) -> dict[str, float]:
    """One generation and its video, timed from sending the POST (seconds)."""
    started = time.perf_counter()
    answer = client.post("/api/generate-content", json=_body(n))
    answered = time.perf_counter() - started
    body = answer.json()
    if answer.status_code != 200 or body.get("status") != "complete":
        raise BenchError(f"generation failed: {answer.status_code} {answer.text[:300]}")
    times = {"answer": answered}
    others = [a["url"] for a in body.get("artifacts") or [] if a["role"] != "video"]
    if len(others) != 3:
        raise BenchError(f"the answer names {len(others)} of the poster, captions and script")
    data = bytearray()
    with client.stream("GET", body["content"]["url"]) as video:
        if video.status_code != 200:
            raise BenchError(f"video: {video.status_code}")
        for chunk in video.iter_bytes():
            if not data:
                times["first_byte"] = time.perf_counter() - started
            data += chunk
            if "first_frame" not in times and b"mdat" in box_types(bytes(data[: complete_boxes(data, 0)])):
                times["first_frame"] = time.perf_counter() - started
                for url in others:
                    if client.get(url).status_code != 200:
                        raise BenchError(f"{url}: not loadable")
                times["artifacts"] = time.perf_counter() - started
    times["last_byte"] = time.perf_counter() - started
    if data[4:8] != b"ftyp":
        raise BenchError("the video is not an MP4")
    return times


def _measure(tmp: Path) -> list[Row]:
    found: dict[str, list[dict[str, float]]] = {"streaming": [], "whole": []}
    with (
        dyngen_server(tmp / "streaming", {"DYNGEN_VIDEO_STREAMING": "true"}) as streaming,
        dyngen_server(tmp / "whole", {"DYNGEN_VIDEO_STREAMING": "false"}) as whole,
    ):
        servers = {"streaming": streaming.port, "whole": whole.port}
        clients = {
            mode: httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) for mode, port in servers.items()
        }
        try:
            for mode in servers:  # warm each server once (imports, the first ffmpeg), not counted
                _call(clients[mode], -1)
            n = 0
            for _ in range(ROUNDS // 2):
                for mode in ("streaming", "whole", "whole", "streaming"):
                    n += 1
                    found[mode].append(_call(clients[mode], n))
        finally:
            for client in clients.values():
                client.close()

    def median(mode: str, what: str) -> float:
        return statistics.median(t[what] for t in found[mode])

    first_frame = median("streaming", "first_frame")
    whole_first_frame = median("whole", "last_byte")  # a +faststart MP4 is whole before a player has it
    render_s = median("streaming", "last_byte")
    print(
        f"  streaming: answer {median('streaming', 'answer') * 1000:.0f} ms, first byte "
        f"{median('streaming', 'first_byte') * 1000:.0f} ms, first frame {first_frame * 1000:.0f} ms, "
        f"poster, captions and script {median('streaming', 'artifacts') * 1000:.0f} ms, "
        f"last byte {render_s:.2f} s; whole: answer {median('whole', 'answer'):.2f} s, "
        f"last byte {whole_first_frame:.2f} s, poster, captions and script {median('whole', 'artifacts'):.2f} s"
    )
    return [
        Row(
            "video",
            f"time to first frame over HTTP, {SECONDS:.0f} s transition (streamed while it renders)",
            f"{first_frame * 1000:.0f} ms",
            f"whole render {whole_first_frame * 1000:.0f} ms",
            f"{first_frame / whole_first_frame:.2f}x",
            f"< {GOAL_FIRST_FRAME_S * 1000:.0f} ms",
            first_frame < GOAL_FIRST_FRAME_S,
        ),
        Row(
            "video",
            f"full render over HTTP, {SECONDS:.0f} s transition (POST to the video's last byte)",
            f"{SECONDS / render_s:.1f}x real time",
            f"whole render {SECONDS / whole_first_frame:.1f}x",
            f"{whole_first_frame / render_s:.2f}x",
            f">= {GOAL_SPEED:g}x real time",
            SECONDS / render_s >= GOAL_SPEED,
        ),
    ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-first-frame-") as tmp:
        return _measure(Path(tmp))


if __name__ == "__main__":
    from bench import table

    print(table(run()))
