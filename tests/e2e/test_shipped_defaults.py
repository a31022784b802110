"""The defaults ship inside the package: `dyngen` run from a scratch directory outside the repository has
the template library, the example graph and its scene images; settings still point elsewhere."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from dyngen.config import Settings
from tests.e2e.test_cli import Workdir
from tests.support.servers import answers, free_port
from tests.support.waiting import HANG_GUARD_S, wait_until

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_TEMPLATES = 9


@pytest.fixture
def scratch(tmp_path: Path) -> Workdir:
    work = Workdir(tmp_path / "scratch")
    work.path.mkdir()
    assert not work.path.resolve().is_relative_to(ROOT), "the point is to run outside the repository"
    assert not (work.path / "examples").exists()
    return work


def test_the_cli_lists_the_shipped_templates_from_any_directory(scratch: Workdir):
    listed = json.loads(scratch.run("templates", "list", "--json").stdout)
    assert len(listed["templates"]) == SHIPPED_TEMPLATES
    assert "romantic_to_action_transition_v1" in {t["id"] for t in listed["templates"]}


def test_a_templates_setting_still_points_elsewhere(scratch: Workdir):
    (scratch.path / "mine").mkdir()
    scratch.env["DYNGEN_TEMPLATES_DIR"] = "mine"
    assert scratch.run("templates", "list").stdout.strip() == "no templates in mine"


def test_serve_from_a_scratch_directory_has_the_templates_and_the_example_graph(scratch: Workdir):
    port = free_port()
    log = (scratch.path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "dyngen"), "serve", "--port", str(port)],
        cwd=scratch.path,
        env=scratch.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            def live() -> bool:
                assert server.poll() is None, (scratch.path / "serve.log").read_text()
                return answers(http, "/api/health/live")

            wait_until(live, what="dyngen serve to answer /api/health/live")
            graphs = http.get("/api/graphs").json()
            assert [g["id"] for g in graphs] == ["three_scenes"]
            assert len(http.get("/api/templates").json()["templates"]) == SHIPPED_TEMPLATES
    finally:
        server.terminate()
        server.wait(timeout=HANG_GUARD_S)
        log.close()


def test_the_example_graph_finds_its_scene_images_from_any_directory(scratch: Workdir, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(scratch.path)
    for name in ("DYNGEN_ASSETS_DIR", "DYNGEN_EXAMPLE_GRAPH", "DYNGEN_TEMPLATES_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.example_graph is not None
    assert settings.assets_dir is not None
    graph = json.loads(settings.example_graph.read_text(encoding="utf-8"))
    images = [scene["image"] for scene in graph["scenes"] if scene.get("image")]
    assert images, "the example graph names scene images"
    assert all((settings.assets_dir / image).is_file() for image in images)
    monkeypatch.setenv("DYNGEN_EXAMPLE_GRAPH", "")
    assert Settings().example_graph is None, "an empty setting turns the example graph off"
