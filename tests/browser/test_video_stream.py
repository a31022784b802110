"""A video transition plays in chromium while the server still renders it, and plays to its end.

`video_stream_scenario.mjs` asks a real `dyngen serve` (embedded, DYNGEN_VIDEO_STREAMING=true: videos stream
while they render) for a new 30 s transition and plays its URL in a `<video>`: it must start playing while the video
is still being written (a HEAD on its URL has no length yet), then play all 720 frames to the end.
That order is the feature's claim (the first frame comes long before a 30 s render ends), not a timing
of this machine's: it holds as long as the render takes longer than its first fragment and a HEAD.
"""

from __future__ import annotations

import json
import subprocess

from tests.browser.conftest import HERE, Browser


def test_a_transition_plays_while_it_renders_and_to_its_end(browser_kit: Browser, streaming_server: str) -> None:
    done = subprocess.run(
        [browser_kit.node, "video_stream_scenario.mjs", "--base", streaming_server, "--chromium", browser_kit.chromium],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["status"] == "complete", report
    assert report["playing"] is True, report
    assert report["stillRendering"] is True, "it started playing before the render ended"
    assert report["ended"] is True, report
    assert report["error"] is None, report
    assert report["frames"] == 720, "every frame of the 30 s at 24 fps was decoded"
