"""Hostile wire input refused by pure rules: characters in ids and texts, byte ranges, raw JSON."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dyngen.domain.byte_ranges import byte_range
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph
from dyngen.domain.ids import id_problem, text_problem
from dyngen.domain.wire import load, parse_json

REFUSED_IN_IDS = ["a\x00b", "\x01", "tab\there", "line\nbreak", "del\x7f", "c1\x85", "lone\ud800", "bad\ufffdutf8"]


@pytest.mark.parametrize("value", REFUSED_IN_IDS)
def test_control_characters_surrogates_and_replaced_bytes_are_not_ids(value: str):
    assert id_problem(value) is not None


@pytest.mark.parametrize("value", ["cafe", "café_2", "scene-1.v2", "東京", "emoji 🎬", "a|b|c"])
def test_ordinary_ids_pass(value: str):
    assert id_problem(value) is None


def test_free_text_keeps_its_line_breaks_and_refuses_nul():
    assert text_problem("line one\nline two\r\n\tindented") is None
    assert text_problem("nul \x00 here") is not None
    assert text_problem("bell \x07") is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "transition", "node_id": "a\x00b"}, "node_id"),
        ({"type": "transition", "cache_key": "k\x00"}, "cache_key"),
        ({"type": "transition", "from_scene": {"id": "cafe", "image": "x\x00.png"}}, "from_scene.image"),
        ({"type": "transition", "from_scene": {"id": "cafe", "summary": "s\x00"}}, "from_scene.summary"),
        ({"type": "transition", "player_context": {"choices": {"k": "v\x00"}}}, "player_context.choices.k"),
        ({"type": "transition", "player_context": {"flags": {"k\x00": True}}}, "player_context.flags.k\x00.[key]"),
        (
            {"type": "transition", "arms": [{"id": "a", "overrides": {"style": {"moodFrom": "x\x00"}}}]},
            "arms.0.overrides",
        ),
    ],
)
def test_a_nul_anywhere_in_a_request_is_refused_naming_the_field(body: dict[str, object], field: str):
    with pytest.raises(DyngenError) as refused:
        load(GenerateContentRequest, body)
    assert refused.value.code is ErrorCode.GEN_INVALID_CONFIG
    details = refused.value.details
    assert details
    assert all(d["field"].startswith(field) for d in details)  # a union field lists each of its branches
    assert any("U+0000" in d["message"] for d in details)


def test_a_graph_refuses_control_characters_in_its_ids_and_nul_in_its_texts():
    for graph in (
        {"id": "g\x00", "scenes": [{"id": "a"}]},
        {"id": "g", "title": "t\x00", "scenes": [{"id": "a"}]},
        {"id": "g", "scenes": [{"id": "a\x1b[31m"}]},
    ):
        with pytest.raises(ValidationError):
            SceneGraph.model_validate(graph)


def test_free_form_overrides_are_bounded_in_depth():
    deep: object = "leaf"
    for _ in range(40):
        deep = {"x": deep}
    with pytest.raises(DyngenError):
        load(GenerateContentRequest, {"type": "transition", "arms": [{"id": "a", "overrides": {"d": deep}}]})


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=90-500", (90, 99)),
        ("BYTES = 0-0", (0, 0)),
        ("bytes=100-", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=" + "9" * 5000 + "-", "unsatisfiable"),  # past any end, whatever its length
        ("bytes=0-" + "9" * 5000, (0, 99)),
        ("bytes=-" + "9" * 5000, (0, 99)),
        ("bytes=\u00b2-", None),  # a superscript two: str.isdigit() says yes, int() says no
        ("bytes=\u0661-\u0662", None),  # Arabic-Indic digits
        ("bytes=0-\u00b9", None),
        ("bytes=5-1", None),
        ("bytes=0-1,4-5", None),
        ("bytes=-", None),
        ("items=0-1", None),
        ("bytes=0 - 1", None),
        ("", None),
        (None, None),
    ],
)
def test_byte_ranges_are_ascii_digits_of_any_length_and_malformed_ones_are_ignored(header: str | None, wanted: object):
    assert byte_range(header, 100) == wanted


def test_json_nested_deeper_than_python_parses_is_malformed_json_not_a_crash():
    with pytest.raises(DyngenError) as refused:
        parse_json(b"[" * 100_000)
    assert refused.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert refused.value.details[0]["type"] == "json_invalid"


def test_json_reading_takes_a_utf8_byte_order_mark():
    assert parse_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    assert load(GenerateContentRequest, parse_json(b'\xef\xbb\xbf{"type": "dialogue"}')).type.value == "dialogue"
