"""The browser tests' world: a real `dyngen serve` (embedded default, its own data dir, so the example graph
is stored on first start), Debian's chromium, and node with playwright-core from npm (tests/browser/
package.json) to drive it: one driver process (driver.mjs) per session, or per xdist worker, keeps chromium
running and gives every scenario fresh browser contexts of its own. Anything missing skips with the reason,
or fails under DYNGEN_REQUIRE_SERVICES=1."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.driver import ScenarioDriver
from tests.conftest import need_service
from tests.support.servers import dyngen_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EDITOR_INDEX = ROOT / "src" / "dyngen" / "entrypoints" / "api" / "static" / "index.html"
EXAMPLE_FILE = ROOT / "examples" / "three_scenes.json"
# Screenshots stay after the run (one per test, named after it); the folder is git-ignored.
OUTPUT = ROOT / "test-output" / "browser"
NODE_MAJOR = 20  # playwright-core's engines field
# Guards against a hang only: a scenario on a busy 2-core machine takes seconds to a minute, never asserted.
SCENARIO_DEADLINE_S = 90


def find_chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@dataclass(frozen=True)
class Browser:
    node: str
    chromium: str


@pytest.fixture(scope="session")
def browser_kit() -> Browser:
    """node, playwright-core (installed here with `npm ci` when missing) and chromium, or a skip saying which."""
    chromium = find_chromium()
    if chromium is None:
        need_service("chromium not found (/usr/bin/chromium or `chromium` on PATH): apt-get install chromium")
    node = shutil.which("node")
    if node is None:
        need_service("node not found: the browser tests drive chromium with playwright-core (Node.js 20+)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < NODE_MAJOR:
        need_service(f"node {version} is too old for playwright-core (needs {NODE_MAJOR}+)")
    if not (HERE / "node_modules" / "playwright-core" / "package.json").is_file():
        npm = shutil.which("npm")
        if npm is None:
            need_service("playwright-core is not installed in tests/browser and npm is not found")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True, timeout=100, check=False
        )
        if done.returncode != 0:
            need_service(f"`npm ci` in tests/browser failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    assert chromium is not None  # need_service did not return
    assert node is not None
    return Browser(node=node, chromium=chromium)


@pytest.fixture(scope="session")
def browser_driver(browser_kit: Browser) -> Iterator[ScenarioDriver]:
    """The session's driver.mjs (started by its first scenario), which launches chromium once for them all;
    its stderr goes to test-output/browser/driver-<worker>.log."""
    log = OUTPUT / f"driver-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"
    log.unlink(missing_ok=True)
    command = [browser_kit.node, str(HERE / "driver.mjs"), "--chromium", browser_kit.chromium]
    driver = ScenarioDriver(command, cwd=HERE, log=log)
    try:
        yield driver
    finally:
        driver.close()


def serve(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> Iterator[str]:
    """`dyngen serve` of this checkout on a free port, with a fresh data dir and the example graph; `env`
    adds or replaces its environment."""
    workdir = tmp_path_factory.mktemp(f"{name}-server")
    env = {
        "DYNGEN_DATA_DIR": str(workdir / "data"),
        "DYNGEN_EXAMPLE_GRAPH": str(EXAMPLE_FILE),
        "DYNGEN_TEMPLATES_DIR": str(ROOT / "examples" / "templates"),
        "DYNGEN_ASSETS_DIR": str(ROOT / "examples" / "assets"),
        # The product's default (tests/conftest.py sets text transitions for the rest of the suite):
        # Test Generation of a transition renders a video, as for a user.
        "DYNGEN_PROVIDERS_BY_TYPE": '{"transition": "builtin_video"}',
        **env,
    }
    process, base = dyngen_server(workdir, env, name=name)
    try:
        yield base
    finally:
        process.stop()


@pytest.fixture(scope="session")
def editor_server(browser_kit: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dyngen serve` on a free port with a fresh data dir; the example graph is stored on its first start."""
    if not EDITOR_INDEX.is_file():
        need_service(f"the editor is not built ({EDITOR_INDEX} is missing): `make test` builds it (`make editor`)")
    yield from serve(tmp_path_factory, "editor")


def graph_copy(base: str, name: str, *, timeout_ms: int | None = None) -> str:
    """A copy of the example graph for one test (its id sorts after the example's, which `/` opens);
    `timeout_ms` replaces every node's deadline."""
    graph: dict[str, Any] = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text(encoding="utf-8")))
    for node in graph["nodes"] if timeout_ms is not None else ():
        node.get("config", {}).get("fallback", {})["timeoutMs"] = timeout_ms
    graph["id"] = f"{graph['id']}_{name}"
    graph["title"] = f"{graph['title']} ({name})"
    response = httpx.post(f"{base}/api/graphs", json=graph, timeout=30)
    assert response.status_code == 201, response.text
    return str(graph["id"])


@dataclass(frozen=True)
class Scenarios:
    driver: ScenarioDriver
    base: str

    def run(self, scenario: str, *, screenshot: str, graph: str | None = None, script: str = "scenarios.mjs") -> str:
        """Run one scenario of `script` (scenarios.mjs) in fresh browser contexts; returns its output, fails with it."""
        OUTPUT.mkdir(parents=True, exist_ok=True)
        shot = OUTPUT / f"{screenshot}.png"
        shot.unlink(missing_ok=True)
        args = {"scenario": scenario, "base": self.base, "screenshot": str(shot)}
        if graph is not None:
            args["graph"] = graph
        done = self.driver.run(script, args, deadline_s=SCENARIO_DEADLINE_S)
        output = done.output
        (OUTPUT / f"{screenshot}.log").write_text(output, encoding="utf-8")
        assert done.ok, f"browser scenario {scenario} failed (screenshot {shot}):\n{output[-4000:]}"
        assert shot.is_file(), f"no screenshot at {shot}:\n{output}"
        return output


@pytest.fixture
def scenarios(browser_driver: ScenarioDriver, editor_server: str) -> Scenarios:
    return Scenarios(driver=browser_driver, base=editor_server)


@pytest.fixture
def own_graph(editor_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh copy of the example graph, named after the test."""
    return graph_copy(editor_server, request.node.name.removeprefix("test_")[:60])


@pytest.fixture
def roomy_graph(editor_server: str, request: pytest.FixtureRequest) -> str:
    """`own_graph` with a node deadline that only guards against hanging: a real render on a busy 2-core
    machine outlasts the example's 4 s, and a test asserts that the video plays, not how fast."""
    return graph_copy(editor_server, request.node.name.removeprefix("test_")[:60], timeout_ms=60_000)
