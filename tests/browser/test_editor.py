"""The web editor in headless chromium, against a real `dyngen serve`: one scenario of scenarios.mjs per
test, each on its own copy of the example graph (but the first, which opens `/` as a new user does).
Every test leaves a screenshot (and the scenario's output) in test-output/browser/<test>.png."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import Scenarios

pytestmark = pytest.mark.browser


def test_the_example_graph_opens_at_the_root(scenarios: Scenarios) -> None:
    scenarios.run("open_example", screenshot="open_example")


def test_dragging_from_one_scene_to_another_adds_a_generation_node(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("add_gen_node", screenshot="add_gen_node", graph=own_graph)


def test_required_and_avoided_overlap_is_red_and_refused_until_fixed(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("conflict_badge", screenshot="conflict_badge", graph=own_graph)


def test_test_generation_plays_the_video(scenarios: Scenarios, roomy_graph: str) -> None:
    output = scenarios.run("test_video", screenshot="test_video", graph=roomy_graph)
    # The time from the press to the first frame is in the log (and in test-output/), not asserted.
    assert re.search(r"video playing \d+ ms after pressing test-generate", output), output


def test_a_forced_timeout_shows_the_fallback(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("forced_timeout", screenshot="forced_timeout", graph=own_graph)


def test_duplicating_a_node_copies_its_config(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("duplicate_node", screenshot="duplicate_node", graph=own_graph)


def test_a_saved_graph_is_found_after_a_reload(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("reload_saved", screenshot="reload_saved", graph=own_graph)


def test_every_panel_lies_inside_the_window_at_1280_1440_and_1920(scenarios: Scenarios, own_graph: str) -> None:
    output = scenarios.run("layout", screenshot="layout", graph=own_graph)
    for width in (1280, 1440, 1920):
        assert f"layout {width}x" in output, output


def test_a_node_and_a_scene_are_renamed_with_their_references(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("rename_node", screenshot="rename_node", graph=own_graph)


def test_a_graph_exported_as_a_file_imports_back_and_a_broken_file_is_refused(
    scenarios: Scenarios, own_graph: str
) -> None:
    scenarios.run("import_export", screenshot="import_export", graph=own_graph)


def test_no_emoji_anywhere_and_enums_read_as_words(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("no_emoji_labels", screenshot="no_emoji_labels", graph=own_graph)


def test_a_character_added_in_the_world_panel_reaches_the_nodes_prompt(scenarios: Scenarios, own_graph: str) -> None:
    scenarios.run("add_character", screenshot="add_character", graph=own_graph)
