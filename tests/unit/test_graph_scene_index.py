"""`SceneGraph.scene`: a scene by id from an index, which follows the graph's scenes when they change."""

from __future__ import annotations

import pytest

from dyngen.domain.graph import Scene, SceneGraph


def graph(*ids: str) -> SceneGraph:
    return SceneGraph.model_validate({"id": "g", "scenes": [{"id": i, "title": i.upper()} for i in ids]})


def test_a_scene_is_found_by_id_and_a_missing_one_is_a_key_error() -> None:
    g = graph("a", "b", "c")
    assert [g.scene(i).title for i in ("c", "a", "b")] == ["C", "A", "B"]
    with pytest.raises(KeyError):
        g.scene("nowhere")


def test_a_copy_with_other_scenes_and_a_list_grown_in_place_are_read_afresh() -> None:
    g = graph("a", "b")
    assert g.scene("a").title == "A"
    copy = g.model_copy(update={"scenes": [Scene(id="a", title="Other")]})
    g.scenes.append(Scene(id="z", title="Z"))

    assert copy.scene("a").title == "Other"
    assert g.scene("z").title == "Z"
    assert g.scene("a").title == "A"


def test_a_scene_replaced_in_place_or_a_list_reshuffled_at_the_same_length_is_read_afresh() -> None:
    g = graph("a", "b", "c")
    assert g.scene("a").title == "A"
    g.scenes[0] = Scene(id="a", title="Rewritten")  # same list, same length
    assert g.scene("a").title == "Rewritten"
    g.scenes.pop(0)
    g.scenes.append(Scene(id="z", title="Z"))  # one out, one in: the length is the same again
    assert g.scene("z").title == "Z"
    with pytest.raises(KeyError):
        g.scene("a")  # removed: no longer found
    g.scenes.reverse()
    assert [g.scene(i).title for i in ("b", "c", "z")] == ["B", "C", "Z"]


def test_reading_a_scene_leaves_the_graph_equal_to_an_identical_one() -> None:
    read, unread = graph("a", "b"), graph("a", "b")
    assert read == unread
    read.scene("a")
    assert read == unread
    assert read != graph("a", "c")
