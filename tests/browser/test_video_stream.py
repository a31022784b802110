"""A video transition plays in chromium while the server still renders it, with its poster, captions and
script, and plays to its end (in a fresh browser context of the session's chromium, conftest.py).

`video_stream_scenario.mjs` asks a real `dyngen serve` as it starts with nothing set (embedded: videos
stream while they render by default) for a new 30 s transition and plays its URL in a `<video>`, with the
poster and captions the same answer names (`poster`, a `<track>`), and fetches the script: the video must
start playing and the others load while the video is still being written (a HEAD on its URL has no length
yet), then play every frame the MP4 holds to the end. That order is the feature's claim (the first frame
comes long before the render ends), not a timing of this machine's: this server's ffmpeg reads its frames at
four times their rate (`-readrate 4`, a wrapper named by `IMAGEIO_FFMPEG_EXE`), so the render lasts a
few seconds on any machine (it takes well under one otherwise) and the claim holds as long as they exceed
its first fragment, three small loads and a HEAD.
"""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator

import httpx
import pytest

from dyngen.adapters.providers.video.encoder import ffmpeg_exe, samples
from tests.browser.conftest import serve
from tests.browser.driver import ScenarioDriver

# Guards against a hang only: the page gives each of its waits 60 s; the time it takes is never asserted.
DEADLINE_S = 240


@pytest.fixture(scope="module")
def paced_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dyngen serve` whose ffmpeg reads the frames it is sent at 4x their 24 fps: a render that lasts."""
    wrapper = tmp_path_factory.mktemp("paced-ffmpeg") / "ffmpeg"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"real = {ffmpeg_exe()!r}\n"
        "args = sys.argv[1:]\n"
        "at = args.index('-i')\n"
        "os.execv(real, [real, *args[:at], '-readrate', '4', *args[at:]])\n"
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    yield from serve(tmp_path_factory, "paced-video", IMAGEIO_FFMPEG_EXE=str(wrapper))


def test_a_transition_plays_with_its_poster_and_captions_while_it_renders_and_to_its_end(
    browser_driver: ScenarioDriver, paced_server: str
) -> None:
    done = browser_driver.run("video_stream_scenario.mjs", {"base": paced_server}, deadline_s=DEADLINE_S)
    assert done.ok, done.output[-3000:]
    report = json.loads(done.logged[-1])

    assert report["status"] == "complete", report
    assert report["roles"] == ["video", "poster", "captions", "script"], "every artifact in the first answer"
    assert report["videoBytes"] is None, "the video's size is not known while it renders"
    assert report["posterWidth"] == 854, "the poster decoded as an image"
    assert report["cues"] == report["beats"] > 0, "a caption cue per beat, loaded as a text track"
    assert report["scriptBeats"] == report["beats"], "the script, as JSON"
    assert report["playing"] is True, report
    assert report["stillRendering"] is True, "it started playing, with its poster and captions, before the render ended"
    assert report["ended"] is True, report
    assert report["error"] is None, report
    assert report["currentTime"] >= 29.9, report
    # Every frame the MP4 holds was decoded (a hold is one frame shown until the next: fewer than the 720
    # that 30 s at 24 fps show). At 16x the player catches up with the render's edge and waits there; after
    # such a wait Chromium may decode the frames since the last keyframe again, so this counts at least
    # every frame, not exactly.
    stored = samples(httpx.get(paced_server + report["url"], timeout=30).content)
    assert 0 < stored < 720
    assert report["frames"] >= stored, report
