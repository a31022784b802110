"""Templates (spec section 10): the shipped library, parsing and its problems, the merge rule, the library."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from dyngen.domain.contracts import (
    GenerationNodeConfig,
    NodeStatus,
    Pacing,
)
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.templates import (
    Template,
    TemplateProblem,
    apply_template,
    collect_templates,
    deep_merge,
    parse_template,
)
from dyngen.domain.wire import load
from dyngen.services.authoring.templates import listing
from dyngen.services.machinery.template_library import TemplateLibrary
from tests.support.examples import SPEC_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "examples" / "templates"
SPEC = ROOT / "docs" / "spec" / "dynamic-generation-foundation.md"  # the spec, kept in the repository


SHIPPED = sorted(p.name for p in TEMPLATES.glob("*.json"))
PATTERNS = {
    "romantic_to_action_transition_v1": "transition",
    "calm_to_tense_transition_v1": "transition",
    "tense_to_relief_transition_v1": "transition",
    "day_to_night_environment_v1": "environment",
    "reunion_transition_v1": "transition",
    "farewell_transition_v1": "transition",
    "ambient_chatter_v1": "npc_response",
    "npc_greeting_variations_v1": "variation",
    "choice_point_dialogue_v1": "dialogue",
}


def template(data: dict[str, Any], name: str = "t.json") -> Template:
    parsed = parse_template(name, data)
    assert isinstance(parsed, Template), parsed
    return parsed


def problem(data: Any, name: str = "t.json") -> TemplateProblem:
    parsed = parse_template(name, data)
    assert isinstance(parsed, TemplateProblem), parsed
    return parsed


# --- the shipped library ---------------------------------------------------------------------------


def test_the_spec_template_ships_verbatim_and_loads_exactly_as_written():
    text = (TEMPLATES / "romantic_to_action_transition_v1.json").read_text(encoding="utf-8")
    assert json.loads(text) == SPEC_TEMPLATE
    loaded = template(json.loads(text), "romantic_to_action_transition_v1.json")
    assert loaded.config.model_dump(mode="json", by_alias=True, exclude_unset=True) == SPEC_TEMPLATE
    assert (loaded.id, loaded.status, loaded.findings) == ("romantic_to_action_transition_v1", NodeStatus.OK, ())


def test_the_spec_template_file_is_the_specs_own_text():
    section = SPEC.read_text(encoding="utf-8").split("## 10. Template Library", 1)[1]
    match = re.search(r"```jsonc\n(.*?)```", section, flags=re.DOTALL)
    assert match is not None, "section 10 has its JSON block"
    assert (TEMPLATES / "romantic_to_action_transition_v1.json").read_text(encoding="utf-8") == match.group(1)


def test_the_library_has_every_pattern_a_designer_reaches_for():
    loaded = [template(json.loads((TEMPLATES / name).read_text(encoding="utf-8")), name) for name in SHIPPED]
    assert {t.id: t.config.generation_type.value for t in loaded} == PATTERNS
    assert next(t for t in loaded if t.id == "ambient_chatter_v1").config.purpose.value == "ambient"
    assert next(t for t in loaded if t.id == "ambient_chatter_v1").config.strategy.value == "always"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_template_is_valid_without_findings(name: str):
    data = json.loads((TEMPLATES / name).read_text(encoding="utf-8"))
    loaded = template(data, name)
    assert name == f"{loaded.id}.json", "a template file is named after its id"
    assert (loaded.status, loaded.findings) == (NodeStatus.OK, ())
    # Complete, in the spec's format: every field a designer would look for is spelled out.
    assert {
        "id",
        "generationType",
        "style",
        "duration",
        "constraints",
        "strategy",
        "fallback",
        "enabled",
        "version",
    } <= set(data)
    assert data["constraints"]["contentRules"], "content rules say what the pattern is for"


# --- parsing: a problem names the file and the field -------------------------------------------------


def test_an_unknown_field_names_the_field_and_the_closest_known_name():
    broken = {**SPEC_TEMPLATE, "style": {**SPEC_TEMPLATE["style"], "moodFro": "calm"}}
    found = problem(broken, "broken.json")
    assert (found.file, found.field, found.suggestion) == ("broken.json", "style.moodFro", "moodFrom")
    assert "did you mean 'moodFrom'" in found.message


def test_a_validator_error_is_a_problem_with_the_findings_field():
    found = problem({**SPEC_TEMPLATE, "duration": {"min": 40, "max": 20, "target": 30}}, "inverted.json")
    assert (found.file, found.field) == ("inverted.json", "duration.min")
    assert found.message.startswith("DURATION_RANGE_INVERTED:")


def test_every_problem_of_a_file_is_reported():
    found = problem({**SPEC_TEMPLATE, "strategy": "sometimes", "constraints": {"rating": "XXX"}})
    assert found.field == "constraints.rating"
    assert "also strategy:" in found.message


def test_validator_warnings_do_not_stop_a_template_loading():
    loaded = template({**SPEC_TEMPLATE, "strategy": "always"})
    assert loaded.status is NodeStatus.WARNINGS
    assert [f.code for f in loaded.findings] == ["STRATEGY_ALWAYS_VIDEO"]
    assert template({**SPEC_TEMPLATE, "enabled": False}).status is NodeStatus.DISABLED


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ([SPEC_TEMPLATE], "(file)", "not an array"),
        (None, "(file)", "not null"),
        ({k: v for k, v in SPEC_TEMPLATE.items() if k != "id"}, "id", "needs an id"),
        ({**SPEC_TEMPLATE, "templateId": "other_v1"}, "templateId", "cannot use another template"),
        ({**SPEC_TEMPLATE, "fallback": {"mode": "default_content"}}, "fallback.defaultContentId", "defaultContentId"),
    ],
)
def test_what_is_not_a_usable_template(data: Any, field: str, words: str):
    found = problem(data)
    assert found.field == field
    assert words in found.message


def test_a_duplicate_id_is_a_problem_and_the_file_named_after_it_keeps_it():
    spec = template(SPEC_TEMPLATE, "romantic_to_action_transition_v1.json")
    copy = template(SPEC_TEMPLATE, "a_copy.json")
    later = template(SPEC_TEMPLATE, "z_copy.json")
    bad = problem([], "bad.json")
    for order in ([copy, spec, bad, later], [spec, later, copy, bad]):
        templates, problems = collect_templates(order)
        assert [t.source for t in templates] == ["romantic_to_action_transition_v1.json"]
        duplicates = sorted((p.file, p.field) for p in problems if p.file != "bad.json")
        assert duplicates == [("a_copy.json", "id"), ("z_copy.json", "id")]
        assert all("romantic_to_action_transition_v1.json already defines it" in p.message for p in problems[1:])
        assert bad in problems
    first, second = template(SPEC_TEMPLATE, "one.json"), template(SPEC_TEMPLATE, "two.json")
    templates, problems = collect_templates([first, second])
    assert ([t.source for t in templates], [p.file for p in problems]) == (["one.json"], ["two.json"])


# --- the merge rule: the node's explicit fields win ---------------------------------------------------


@pytest.mark.parametrize(
    ("base", "override", "merged"),
    [
        ({"a": 1, "b": 2}, {"b": 3}, {"a": 1, "b": 3}),  # node wins
        ({"s": {"x": 1, "y": 2}}, {"s": {"y": 3}}, {"s": {"x": 1, "y": 3}}),  # nested objects merge
        ({"s": {"t": {"x": 1, "y": 2}}}, {"s": {"t": {"x": 0}}}, {"s": {"t": {"x": 0, "y": 2}}}),  # at any depth
        ({"l": [1, 2]}, {"l": [3]}, {"l": [3]}),  # lists replace
        ({"l": [1, 2]}, {"l": []}, {"l": []}),  # an empty list too
        ({"s": {"x": 1}}, {"s": None}, {"s": None}),  # an explicit null replaces
        ({"s": {"x": 1}}, {"s": 5}, {"s": 5}),  # a scalar over an object replaces it
        ({"s": 5}, {"s": {"x": 1}}, {"s": {"x": 1}}),  # and an object over a scalar
        ({"a": 1}, {}, {"a": 1}),
        ({}, {"a": {"b": 1}}, {"a": {"b": 1}}),
    ],
)
def test_deep_merge(base: dict[str, Any], override: dict[str, Any], merged: dict[str, Any]):
    assert deep_merge(base, override) == merged


def test_deep_merge_changes_neither_input_and_shares_nothing_with_them():
    base, override = {"l": [1], "s": {"x": [2]}}, {"s": {"y": [3]}}
    merged = deep_merge(base, override)
    merged["l"].append(9)
    merged["s"]["x"].append(9)
    merged["s"]["y"].append(9)
    assert (base, override) == ({"l": [1], "s": {"x": [2]}}, {"s": {"y": [3]}})


SPEC_CONFIG = load(GenerationNodeConfig, {**SPEC_TEMPLATE, "style": {**SPEC_TEMPLATE["style"], "pacing": "slow"}})


def merged_node(node: dict[str, Any]) -> GenerationNodeConfig:
    return load(GenerationNodeConfig, apply_template(SPEC_CONFIG, node))


@pytest.mark.parametrize(
    ("node", "expect"),
    [
        # The node wins, field by field inside objects; the template fills the rest.
        (
            {"style": {"moodTo": "fearful"}},
            {"style.moodTo": "fearful", "style.moodFrom": "romantic", "style.pacing": "slow"},
        ),
        ({"duration": {"target": 20}}, {"duration.min": 15, "duration.max": 45, "duration.target": 20}),
        ({"strategy": "per_player"}, {"strategy": "per_player", "fallback.timeoutMs": 4000}),
        # Lists replace: a node's requiredElements is the whole list.
        (
            {"constraints": {"requiredElements": ["rain"]}},
            {"constraints.requiredElements": ["rain"], "constraints.avoidElements": ["violence"]},
        ),
        ({"constraints": {"avoidElements": []}}, {"constraints.avoidElements": [], "constraints.rating": "PG-13"}),
        # snake_case node fields land on the template's camelCase ones.
        (
            {"style": {"mood_to": "calm"}, "fallback": {"timeout_ms": 900}},
            {"style.moodTo": "calm", "fallback.timeoutMs": 900, "fallback.defaultContentId": "transition_01"},
        ),
        # The node keeps its own identity; the template's id and version are not copied.
        (
            {"id": "cafe_to_roof"},
            {"id": "cafe_to_roof", "version": 1, "templateId": "romantic_to_action_transition_v1"},
        ),
        (
            {},
            {
                "id": None,
                "version": 1,
                "templateId": "romantic_to_action_transition_v1",
                "generationType": "transition",
            },
        ),
        ({"version": 7, "enabled": False}, {"version": 7, "enabled": False}),
    ],
)
def test_apply_template(node: dict[str, Any], expect: dict[str, Any]):
    wire = merged_node(node).model_dump(mode="json", by_alias=True)
    for path, value in expect.items():
        got: Any = wire
        for part in path.split("."):
            got = got[part]
        assert got == value, path


def test_a_nodes_defaults_do_not_override_the_template_only_its_explicit_fields():
    node = GenerationNodeConfig.model_validate(
        {"id": "n1", "generationType": "transition", "templateId": SPEC_CONFIG.id, "style": {"moodTo": "calm"}}
    )
    assert node.style.pacing is Pacing.MEDIUM, "the node's own default"
    explicit = node.model_dump(mode="json", by_alias=True, exclude_unset=True)
    merged = load(GenerationNodeConfig, apply_template(SPEC_CONFIG, explicit))
    assert merged.style.pacing is Pacing.SLOW, "the template's pacing: the node never set one"
    assert merged.style.mood_to == "calm"
    assert merged.constraints.required_elements == ["phone_ring", "kiss_callback"]
    assert merged.duration.target == 30
    assert merged.strategy.value == "per_playthrough"
    # What goes wrong with a full dump: every default of the node overrides the template.
    everything = node.model_dump(mode="json", by_alias=True)
    assert load(GenerationNodeConfig, apply_template(SPEC_CONFIG, everything)).style.pacing is Pacing.MEDIUM


def test_apply_template_refuses_another_templates_node_and_an_anonymous_template():
    with pytest.raises(ValueError, match="other_v1"):
        apply_template(SPEC_CONFIG, {"templateId": "other_v1"})
    with pytest.raises(ValueError, match="needs an id"):
        apply_template(SPEC_CONFIG.model_copy(update={"id": None}), {})
    assert apply_template(SPEC_CONFIG, {"template_id": SPEC_CONFIG.id})["templateId"] == SPEC_CONFIG.id


def test_an_unknown_node_field_still_gets_its_suggestion_after_the_merge():
    with pytest.raises(DyngenError) as caught:
        merged_node({"style": {"moodTp": "calm"}})
    assert caught.value.details[0]["field"] == "style.moodTp"
    assert caught.value.details[0]["suggestion"] == "moodTo"


# --- the library ---------------------------------------------------------------------------------------


def test_the_library_gets_by_id_and_says_which_id_was_meant():
    other = template({**SPEC_TEMPLATE, "id": "calm_v1"})
    library = TemplateLibrary([template(SPEC_TEMPLATE), other])
    assert library.get("calm_v1") is other
    assert [t.id for t in library.list()] == ["calm_v1", "romantic_to_action_transition_v1"]
    with pytest.raises(DyngenError) as caught:
        library.get("romantic_to_action_v1")
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert "did you mean 'romantic_to_action_transition_v1'" in caught.value.message
    with pytest.raises(DyngenError, match="no templates are loaded"):
        TemplateLibrary().get("x")
    with pytest.raises(ValueError, match="calm_v1"):
        TemplateLibrary([other, other])


def test_the_library_logs_each_problem_with_file_and_field_and_lists_it(caplog: pytest.LogCaptureFixture):
    broken = problem({**SPEC_TEMPLATE, "style": {"moodFro": "calm"}}, "broken.json")
    with caplog.at_level(logging.INFO, logger="dyngen.templates"):
        library = TemplateLibrary.loaded([template(SPEC_TEMPLATE)], [broken], source="examples/templates")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "file=broken.json" in warnings[0]
    assert "field=style.moodFro" in warnings[0]
    shown = listing(library=library).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert shown["templates"] == [
        {
            "id": "romantic_to_action_transition_v1",
            "generationType": "transition",
            "purpose": "gap_fill",
            "version": 1,
            "status": "ok",
            "source": "t.json",
        }
    ]
    assert shown["problems"] == [
        {
            "file": "broken.json",
            "field": "style.moodFro",
            "message": "unknown field 'moodFro'; did you mean 'moodFrom'?",
            "suggestion": "moodFrom",
        }
    ]
