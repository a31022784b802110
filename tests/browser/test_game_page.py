"""Issue 14's real-browser test: a small web game (clients/typescript/examples/browser-game, using the built
TypeScript client) served from a second origin plays an authored transition by reference from a real
`dyngen serve` with API keys enforced and CORS configured: the API call crosses origins, the `<video>` plays
from its signed URL and the captions `<track>` loads; the same page with an expired or tampered URL shows
its error path. Chromium, node, playwright-core or npm missing: skip with the reason (fail under
DYNGEN_REQUIRE_SERVICES=1). The page is driven by the session's browser driver (conftest.py), in a fresh
browser context for each test."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from dyngen.domain import media
from tests.browser.conftest import EXAMPLE_FILE, OUTPUT, ROOT, Browser
from tests.browser.driver import ScenarioDriver
from tests.conftest import need_service
from tests.support.cli_zygote import run_dyngen
from tests.support.servers import Process, dyngen_server, free_port, http_ok
from tests.support.waiting import wait_until

CLIENT = ROOT / "clients" / "typescript"
NODE_ID = "cafe_to_rooftops"
GRAPH_ID = "three_scenes_game"
URL_SECRET = "the-game-test-url-secret"
LONG_AGO = 1_000_000_000  # 2001-09-09: a signature valid until then has expired, whatever the clock says
PAGE_DEADLINE_S = 120  # guards against a hang only (the page itself waits 30 s at most for what it expects)


def _npm(args: list[str], cwd: Path, what: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        need_service(f"npm not found: {what}")
    assert npm is not None
    done = subprocess.run([npm, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        need_service(f"`npm {' '.join(args)}` in {cwd} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


@pytest.fixture(scope="module")
def built_client(browser_kit: Browser) -> Path:
    """The client built (clients/typescript/dist), once chromium, node and playwright-core are there."""
    if not (CLIENT / "node_modules" / "typescript").is_dir():
        _npm(["ci", "--no-audit", "--no-fund"], CLIENT, "the TypeScript client cannot be built")
    _npm(["run", "--silent", "build"], CLIENT, "the TypeScript client cannot be built")
    return CLIENT


@dataclass(frozen=True)
class Game:
    page: str  # the game page's URL on its own origin
    api: str
    key: str
    video_id: str  # the warmed transition's video artifact


def _create_key(env: dict[str, str], scope: str) -> str:
    done = run_dyngen(["keys", "create", "--scope", scope], env={**os.environ, **env}, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def game(built_client: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Game]:
    """dyngen serve (keys on, CORS for the game's origin, transitions rendered to video) and the static server."""
    workdir = tmp_path_factory.mktemp("game")
    static_port = free_port()
    origin = f"http://127.0.0.1:{static_port}"
    env = {
        "DYNGEN_DATA_DIR": str(workdir / "data"),
        "DYNGEN_CORS_ORIGINS": origin,
        "DYNGEN_PROVIDERS_BY_TYPE": '{"transition": "builtin_video"}',
        "DYNGEN_URL_SECRET": URL_SECRET,  # so the test can sign an expired URL as the server would have
    }
    admin, runtime = _create_key(env, "admin"), _create_key(env, "runtime")
    site = str(built_client)
    static = Process(
        [sys.executable, "-m", "http.server", str(static_port), "--bind", "127.0.0.1", "--directory", site],
        log=workdir / "static.log",
    )
    server, api = dyngen_server(workdir, env, name="game-api")
    try:
        wait_until(lambda: http_ok(f"{origin}/examples/browser-game/index.html"), what="static server")
        # The designer's graph: the example, its transition given time to render on a busy machine, warmed
        # for the player (as the editor's warm-up does), so the page's call is the game's usual cache hit.
        graph: dict[str, Any] = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text(encoding="utf-8")))
        graph["id"] = GRAPH_ID
        graph["nodes"][0]["config"]["fallback"]["timeoutMs"] = 120_000
        admin_headers = {"Authorization": f"Bearer {admin}"}
        assert httpx.post(f"{api}/api/graphs", json=graph, headers=admin_headers, timeout=30).status_code == 201
        warm = httpx.post(
            f"{api}/api/graphs/{GRAPH_ID}/nodes/{NODE_ID}/content",
            json={"player_context": {"playthroughId": "browser-player"}},
            headers={"Authorization": f"Bearer {runtime}"},
            timeout=150,
        )
        assert warm.status_code == 200, warm.text
        assert warm.json()["status"] == "complete", warm.text
        [video] = [a["url"] for a in warm.json()["artifacts"] if a["role"] == "video"]
        video_id = urlsplit(video).path.rpartition("/")[2]
        yield Game(page=f"{origin}/examples/browser-game/index.html", api=api, key=runtime, video_id=video_id)
    finally:
        server.stop()
        static.stop()


def run_page(driver: ScenarioDriver, game: Game, *, expect: str, name: str, **extra: str) -> dict[str, Any]:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / f"{name}.png"
    shot.unlink(missing_ok=True)
    query = {"api": game.api, "key": game.key, "graph": GRAPH_ID, "node": NODE_ID, "playthrough": "browser-player"}
    url = f"{game.page}?{urlencode({**query, **extra})}"
    done = driver.run(
        "game_scenario.mjs", {"url": url, "expect": expect, "screenshot": str(shot)}, deadline_s=PAGE_DEADLINE_S
    )
    (OUTPUT / f"{name}.log").write_text(done.output, encoding="utf-8")
    assert done.ok, f"the game page did not reach {expect!r} (screenshot {shot}):\n{done.output[-4000:]}"
    report: dict[str, Any] = json.loads(done.logged[-1])
    return report


def test_the_game_page_plays_a_transition_by_reference_from_another_origin(
    browser_driver: ScenarioDriver, game: Game
) -> None:
    report = run_page(browser_driver, game, expect="playing", name="game_page_plays")
    assert report["status"] == "playing"
    assert report["captions"].startswith("loaded")
    assert not report["captions"].startswith("loaded 0 "), "the captions track has cues"
    assert report["video"]["src"].startswith(f"{game.api}/api/artifacts/"), "the video comes from dyngen's origin"
    assert report["pageOrigin"] != game.api
    calls = {(m["type"], m["status"]) for m in report["media"]}
    assert ("fetch", 200) in calls, report["media"]  # the by-reference call crossed origins with the key
    assert ("media", 200) in calls or ("media", 206) in calls, report["media"]


def test_a_tampered_media_url_shows_the_error_path(browser_driver: ScenarioDriver, game: Game) -> None:
    report = run_page(browser_driver, game, expect="error", name="game_page_tamper", **{"break": "tamper"})
    assert report["status"].startswith("error: the video could not load"), report
    assert any(m["type"] == "media" and m["status"] == 403 for m in report["media"]), report["media"]


def test_an_expired_media_url_shows_the_error_path(browser_driver: ScenarioDriver, game: Game) -> None:
    """A URL the server signed, kept past its expiry (a saved game's): refused as expired, not as tampered."""
    expired = media.signed_url(game.api, URL_SECRET.encode(), game.video_id, LONG_AGO)
    refused = httpx.get(expired, timeout=30)
    assert refused.status_code == 403
    assert "expired" in refused.json()["error"]["message"], refused.text

    report = run_page(browser_driver, game, expect="error", name="game_page_expired", video=expired)

    assert report["status"].startswith("error: the video could not load"), report
    assert any(m["type"] == "media" and m["status"] == 403 for m in report["media"]), report["media"]
