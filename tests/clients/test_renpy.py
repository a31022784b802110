"""The Ren'Py drop-in (clients/renpy) in Debian's renpy 8.0.3, for real: a test game plays a dyngen video
transition and a dialogue from a real server, the author's content when the server is down or silent, and
an offline bundle with no server (a tampered file refused); `renpy lint` passes; the docs' example plays.

The games run unattended under `xvfb-run` (Ren'Py needs an OpenGL display) with the test-only shim and
harness of tests/clients/renpy_harness, and write what they played to a file this test reads."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dyngen_client import DyngenClient
from PIL import Image, ImageStat

from tests.clients.bundles import bundle_copy
from tests.clients.conftest import EXAMPLES, HERE, ROOT, StoryServer
from tests.conftest import need_service

DROP_IN = ROOT / "clients" / "renpy" / "game"
CLIENT_PACKAGE = ROOT / "clients" / "python" / "src" / "dyngen_client"
HARNESS = HERE / "renpy_harness"
TEST_GAME = HERE / "renpy_game" / "game"
DOCS_GAME = EXAMPLES / "renpy" / "game"
PLAYER = {"playthroughId": "renpy-pt-1", "playerId": "renpy-player"}


@dataclass(frozen=True)
class RenPy:
    renpy: str
    xvfb_run: str


@pytest.fixture(scope="session")
def renpy() -> RenPy:
    # Debian puts the launcher in the games directory, which is not on root's PATH.
    binary = shutil.which("renpy") or shutil.which("renpy", path="/usr/games")
    xvfb = shutil.which("xvfb-run")
    if binary is None or xvfb is None:
        need_service(
            f"Ren'Py tests need Debian's renpy and xvfb (`apt-get install renpy xvfb`): renpy={binary}, xvfb-run={xvfb}"
        )
    assert binary is not None
    assert xvfb is not None
    return RenPy(renpy=binary, xvfb_run=xvfb)


def assemble(project: Path, script: Path) -> Path:
    """A game as an author would lay it out (the drop-in files, the client package) plus the test-only
    shim and harness; returns the project folder (the one holding game/)."""
    game = project / "game"
    shutil.copytree(script, game)
    for path in DROP_IN.iterdir():
        shutil.copy(path, game / path.name)
    shutil.copytree(
        CLIENT_PACKAGE, game / "python-packages" / "dyngen_client", ignore=shutil.ignore_patterns("__pycache__")
    )
    for path in HARNESS.iterdir():
        shutil.copy(path, game / path.name)
    return project


def run(
    kit: RenPy,
    project: Path,
    *,
    url: str = "",
    bundle: str = "",
    wait: float = 60,
    args: tuple[str, ...] = (),
    shots: Path | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Run the game (or `renpy <project> lint`); returns the events it recorded and its output."""
    out = project / "played.jsonl"
    home = project / "home"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "SDL_AUDIODRIVER": "dummy",
        "DYNGEN_TEST_OUT": str(out),
        "DYNGEN_TEST_URL": url,
        "DYNGEN_TEST_BUNDLE": bundle,
        "DYNGEN_TEST_WAIT": str(wait),
        "DYNGEN_TEST_SHOTS": str(shots or ""),
    }
    try:
        done = subprocess.run(
            [kit.xvfb_run, "-a", kit.renpy, str(project), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        output = done.stdout + done.stderr
        code: int | None = done.returncode
    except subprocess.TimeoutExpired as expired:
        output, code = f"timed out: {expired.stdout!r} {expired.stderr!r}", None
    for name in ("traceback.txt", "errors.txt", "lint.txt"):
        if (project / name).exists():
            output += f"\n--- {name}\n" + (project / name).read_text(errors="replace")
    events = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    assert code == 0, f"renpy exited {code}:\n{output[-4000:]}\nevents: {events}"
    errors = [e for e in events if e["event"] == "error"]
    assert not errors, errors[0]["traceback"]
    return events, output


def picture_brightness(path: Path) -> float:
    """The mean brightness (0-255) of a screenshot's upper half: black behind the movie, the movie's
    frames when it shows (the subtitles are in the lower half)."""
    with Image.open(path) as image:
        gray = image.convert("L")
        top = gray.crop((0, 0, gray.width, gray.height // 2))
        return float(ImageStat.Stat(top).mean[0])


def kinds(events: list[dict[str, Any]]) -> list[str]:
    """The story as played: scenes, movies and lines by node, the author's labels, fallbacks."""
    story = []
    for event in events:
        kind = event["event"]
        if kind in ("scene", "label"):
            story.append(f"{kind}:{event['id']}")
        elif kind in ("movie", "fallback"):
            story.append(f"{kind}:{event['node']}")
        elif kind == "line" and (not story or story[-1] != f"lines:{event['node']}"):
            story.append(f"lines:{event['node']}")
        elif kind == "end":
            story.append("end")
    return story


def test_a_game_plays_the_servers_video_transition_with_subtitles_and_its_dialogue(
    renpy: RenPy, server: StoryServer, tmp_path
):
    expected = DyngenClient(server.base, timeout=120).play_node("harbor_story", "harbor_to_storm", PLAYER)
    assert expected.ok, expected.response
    video = Path(DyngenClient(server.base).download(expected.artifact("video"), str(tmp_path / "expected.mp4")))
    project = assemble(tmp_path / "project", TEST_GAME)

    shots = tmp_path / "shots"
    shots.mkdir()

    events, _ = run(renpy, project, url=server.base, shots=shots)

    assert kinds(events) == [
        "scene:harbor",
        "movie:harbor_to_storm",
        "scene:storm",
        "lines:storm_to_shore",
        "scene:shore",
        "end",
    ]
    movie = next(e for e in events if e["event"] == "movie")
    assert (movie["source"], movie["captions"]) == ("server", "subtitles")
    played = Path(movie["path"])
    assert hashlib.sha256(played.read_bytes()).hexdigest() == hashlib.sha256(video.read_bytes()).hexdigest()
    screenshots = [Path(e["path"]) for e in events if e["event"] == "screenshot"]
    assert screenshots, "screenshots were taken while the movie played"
    assert max(picture_brightness(path) for path in screenshots) > 30, "the movie's frames were on screen"
    lines = [(e["speaker"], e["text"]) for e in events if e["event"] == "line"]
    assert lines
    assert all(speaker and text for speaker, text in lines)
    assert [(e["who"], e["text"]) for e in events if e["event"] == "said"] == lines, "said as the content has them"


@pytest.mark.parametrize("shape", ["cut", "hang"])
def test_with_the_server_down_or_silent_the_game_plays_the_authors_content(
    renpy: RenPy, server: StoryServer, shape: str, tmp_path
):
    getattr(server.proxy, shape)()
    project = assemble(tmp_path / "project", TEST_GAME)

    events, _ = run(renpy, project, url=server.proxied, wait=2)

    assert kinds(events) == [
        "scene:harbor",
        "fallback:harbor_to_storm",
        "label:author_storm",
        "scene:storm",
        "fallback:storm_to_shore",
        "label:author_shore",
        "scene:shore",
        "end",
    ]
    reasons = [e["reason"] for e in events if e["event"] == "fallback"]
    expected = {"cut": "unreachable", "hang": "slow: no answer within 2"}[shape]
    assert all(expected in reason for reason in reasons), reasons
    said = [(e["who"], e["text"]) for e in events if e["event"] == "said"]
    assert said == [("Ana", "We should not have left the harbor."), (None, "Somehow, they reach the shore.")]


@pytest.mark.parametrize("tampered", [False, True])
def test_a_game_plays_its_exported_bundle_with_no_server_and_refuses_a_tampered_file(
    renpy: RenPy, exported: Path, tampered: bool, tmp_path
):
    project = assemble(tmp_path / "project", TEST_GAME)
    bundle = bundle_copy(exported, project / "game" / "dyngen_bundle")
    if tampered:
        video = next((bundle / "files").glob("*.mp4"))
        data = bytearray(video.read_bytes())
        data[200] ^= 0xFF
        video.write_bytes(bytes(data))

    events, _ = run(renpy, project, bundle="dyngen_bundle")

    if tampered:  # the node's fallback: default_content "storm_cut", the author's label for it
        assert kinds(events)[:4] == ["scene:harbor", "fallback:harbor_to_storm", "label:storm_cut", "scene:storm"]
        assert "The sky goes black over the harbor." in [e["text"] for e in events if e["event"] == "said"]
    else:
        assert kinds(events)[:3] == ["scene:harbor", "movie:harbor_to_storm", "scene:storm"]
        movie = next(e for e in events if e["event"] == "movie")
        assert movie["source"] == "bundle"
        assert movie["file"].startswith("dyngen_bundle/files/")
    # storm_to_shore is in the bundle for another playthrough only; its fallback is `skip`: the `or jump`
    assert kinds(events)[-4:] == ["fallback:storm_to_shore", "label:author_shore", "scene:shore", "end"]


def lint_findings(output: str) -> list[str]:
    """The lines of a lint report between its header and its statistics: what lint found."""
    report = output[output.index("lint report") : output.index("Statistics:")]
    return [line for line in report.splitlines()[1:] if line.strip()]


def test_renpy_lint_passes_on_the_test_game_and_the_docs_example(renpy: RenPy, tmp_path):
    for name, script in (("test", TEST_GAME), ("docs", DOCS_GAME)):
        project = assemble(tmp_path / name, script)
        _, output = run(renpy, project, args=("lint",))
        assert lint_findings(output) == [], output[-3000:]


def test_renpy_lint_names_a_fallback_label_that_does_not_exist(renpy: RenPy, tmp_path):
    project = assemble(tmp_path / "broken", TEST_GAME)
    (project / "game" / "broken.rpy").write_text('label broken:\n    dyngen play "x" or jump nowhere\n    return\n')

    _, output = run(renpy, project, args=("lint",))

    assert lint_findings(output) == ["game/broken.rpy:2 dyngen play: no label 'nowhere' to jump"]


def test_the_docs_example_plays_its_transition_as_a_movie_then_its_lines(renpy: RenPy, server: StoryServer, tmp_path):
    project = assemble(tmp_path / "project", DOCS_GAME)

    events, _ = run(renpy, project, url=server.base)

    assert kinds(events) == ["movie:harbor_to_storm", "lines:harbor_to_storm", "lines:storm_to_shore", "end"]
    lines = {
        node: [e["text"] for e in events if e["event"] == "line" and e["node"] == node]
        for node in ("harbor_to_storm", "storm_to_shore")
    }
    said = [e["text"] for e in events if e["event"] == "said"]
    assert said == [
        "Ana waits at the harbor.",
        *lines["harbor_to_storm"],
        "The storm hits the boat.",
        *lines["storm_to_shore"],
        "They reach the shore.",
    ]
