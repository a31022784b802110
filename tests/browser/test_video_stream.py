"""A video transition plays in chromium while the server still renders it, with its poster, captions and
script, and plays to its end (in a fresh browser context of the session's chromium, conftest.py).

`video_stream_scenario.mjs` asks a real `dyngen serve` as it starts with nothing set (embedded: videos
stream while they render by default) for a new 30 s transition and plays its URL in a `<video>`, with the
poster and captions the same answer names (`poster`, a `<track>`), and fetches the script: the video must
start playing and the others load while the video is still being written (a HEAD on its URL has no length
yet), then play all 720 frames to the end. That order is the feature's claim (the first frame comes long
before a 30 s render ends), not a timing of this machine's: it holds as long as the render takes longer
than its first fragment, three small loads and a HEAD.
"""

from __future__ import annotations

import json

from tests.browser.driver import ScenarioDriver

# Guards against a hang only: the page gives each of its waits 60 s; the time it takes is never asserted.
DEADLINE_S = 240


def test_a_transition_plays_with_its_poster_and_captions_while_it_renders_and_to_its_end(
    browser_driver: ScenarioDriver, editor_server: str
) -> None:
    done = browser_driver.run("video_stream_scenario.mjs", {"base": editor_server}, deadline_s=DEADLINE_S)
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
    # Every frame of the 30 s at 24 fps was decoded. At 16x the player catches up with the render's edge
    # and waits there; after such a wait Chromium may decode the frames since the last keyframe again
    # (a busy machine's run counted 1,145), so this counts at least the 720, not exactly.
    assert report["frames"] >= 720, report
