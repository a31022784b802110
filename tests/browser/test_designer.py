"""Play mode, scene images and editable budgets in headless chromium (issue 19), against a real `dyngen
serve`: one scenario of designer_scenarios.mjs per test, each on its own copy of the example graph. Every
test leaves a screenshot (and the scenario's output) in test-output/browser/<test>.png."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.browser.conftest import EXAMPLE_FILE, Scenarios

pytestmark = pytest.mark.browser
SCRIPT = "designer_scenarios.mjs"


@pytest.fixture
def branching_graph(editor_server: str) -> str:
    """The example graph with a second exit from the rooftops (back to the cafe): a branch to choose at.
    The transition is short (a few seconds of video to render on a busy machine) and its deadline is
    below the scenario's, so a render that outlasts it plays the fallback: either way a step is shown."""
    graph = json.loads(EXAMPLE_FILE.read_text(encoding="utf-8"))
    graph["id"] = f"{graph['id']}_play_mode"
    graph["title"] = f"{graph['title']} (play mode)"
    graph["nodes"][0]["config"]["fallback"]["timeoutMs"] = 40_000
    graph["nodes"][0]["config"]["duration"] = {"min": 3, "max": 8, "target": 4}
    graph["edges"].append({"source": "rooftop_chase", "target": "cafe_date"})
    response = httpx.post(f"{editor_server}/api/graphs", json=graph, timeout=30)
    assert response.status_code == 201, response.text
    return str(graph["id"])


def test_play_mode_walks_three_scenes_choosing_at_a_branch(scenarios: Scenarios, branching_graph: str) -> None:
    output = scenarios.run("play_three_scenes", screenshot="play_three_scenes", graph=branching_graph, script=SCRIPT)
    assert "play_three_scenes: ok" in output


def test_an_uploaded_scene_image_shows_on_the_canvas_and_is_saved(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("upload_image", screenshot="upload_image", graph=own_graph, script=SCRIPT)


def test_a_budget_limit_is_edited_on_the_budget_page(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("edit_budget", screenshot="edit_budget", graph=own_graph, script=SCRIPT)
