"""Prompt templates (domain/prompts.py) and the graph's world (domain/world.py): rendering, the shipped
defaults, findings on save, the sandbox, lore choice and the cache key."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dyngen import defaults
from dyngen.domain.cache_keys import content_digest
from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig, GenerationType, PromptTemplates
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.graph import SceneGraph, node_request
from dyngen.domain.node_checks import check_node
from dyngen.domain.prompts import ROLES, render, render_source, template_findings, template_problems, variables
from dyngen.domain.templates import apply_template
from dyngen.domain.world import select_lore, world_findings


def graph(**changes: Any) -> SceneGraph:
    data: dict[str, Any] = {
        "id": "g",
        "scenes": [
            {
                "id": "cafe_date",
                "title": "Late coffee",
                "mood": "romantic",
                "summary": "A late coffee.",
                "location": "old_town",
                "characters": ["mara"],
            },
            {"id": "rooftop_chase", "mood": "slow_burn", "characters": ["mara", "vex"]},
        ],
        "characters": [
            {
                "id": "mara",
                "name": "Mara",
                "description": "a courier",
                "relationships": [{"to": "vex", "kind": "rival of"}],
            },
            {"id": "vex", "name": "Vex"},
            {"id": "odo", "name": "Odo"},
        ],
        "lore": [
            {"id": "town", "text": "Old Town floods every spring.", "tags": ["old_town"]},
            {"id": "world", "text": "Couriers carry letters by hand."},
            {"id": "night", "text": "Curfew starts at midnight.", "tags": ["night"]},
        ],
        "nodes": [
            {
                "id": "n",
                "fromScene": "cafe_date",
                "toScene": "rooftop_chase",
                "config": {
                    "generationType": "transition",
                    "constraints": {"requiredElements": ["kiss_callback"], "avoidElements": ["gore_splatter"]},
                    "socialContext": {
                        "npcIds": ["mara"],
                        "relationshipTierId": "close_friend",
                        "intimacyBand": "light",
                    },
                },
            }
        ],
    } | changes
    return SceneGraph.model_validate(data)


def request_for(g: SceneGraph, **update: Any) -> GenerateContentRequest:
    return select_lore(node_request(g, g.nodes[0], player_context=None).model_copy(update=update))


ID_SHAPED = re.compile(r"\b[a-z]+_[a-z_]+\b")


@pytest.mark.parametrize("generation_type", list(GenerationType))
@pytest.mark.parametrize("role", ROLES)
def test_the_shipped_defaults_render_for_every_type_and_role_without_an_id(
    generation_type: GenerationType, role: str
) -> None:
    request = request_for(graph(), type=generation_type)
    text = render(request, role, defaults.prompt_templates(generation_type.value))
    assert text, "every role has a default"
    assert ID_SHAPED.findall(text) == [], text


def test_the_variables_name_scenes_characters_and_elements_in_words() -> None:
    values = variables(request_for(graph()))
    assert values["from_scene"]["title"] == "Late coffee"
    assert values["to_scene"]["title"] == "Rooftop chase", "a scene without a title is its id in words"
    assert values["to_scene"]["mood"] == "slow burn"
    assert [c["name"] for c in values["to_scene"]["characters"]] == ["Mara", "Vex"]
    assert values["characters"][0]["relationships"] == [{"to": "Vex", "kind": "rival of", "description": ""}]
    assert values["constraints"]["required"] == ["kiss callback"]
    assert values["social"] == {
        "relationship": "close friend",
        "intimacy": "light",
        "tone": "warmth and light flirting at most",
        "npcs": ["Mara"],
    }
    assert values["player"] == {"choices": {}, "flags": {}, "stats": {}}
    assert values["lore_tagged"]("old_town") == [{"text": "Old Town floods every spring.", "tags": ["old_town"]}]


def test_lore_is_chosen_by_the_nodes_scenes_locations_characters_and_lore_tags() -> None:
    chosen = request_for(graph())
    assert [e.id for e in chosen.lore or []] == ["town", "world"], "location tag and untagged; not 'night'"
    tagged = request_for(graph(), lore_tags=["night"])
    assert [e.id for e in tagged.lore or []] == ["town", "world", "night"]
    assert [c.id for c in chosen.characters or []] == ["mara", "vex"], "a character in neither scene stays out"


def test_the_content_digest_follows_the_lore_and_characters_a_node_uses() -> None:
    before = content_digest(request_for(graph()))
    g = graph()
    unused = g.model_copy(update={"lore": [*g.lore[:2], g.lore[2].model_copy(update={"text": "No curfew."})]})
    assert content_digest(request_for(unused)) == before
    used = g.model_copy(update={"lore": [g.lore[0].model_copy(update={"text": "Dry all year."}), *g.lore[1:]]})
    assert content_digest(request_for(used)) != before
    voiced = g.model_copy(
        update={"characters": [g.characters[0].model_copy(update={"voice": "slow"}), *g.characters[1:]]}
    )
    assert content_digest(request_for(voiced)) != before
    prompted = request_for(g, prompt=PromptTemplates(user="Hi {{ to_scene.title }}"))
    assert content_digest(prompted) != before


def test_an_unknown_variable_is_a_finding_with_its_line_and_a_suggestion() -> None:
    source = (
        "{% set mood = style.mood_to %}\n{% for c in characters %}{{ c.name }}{% endfor %}\n\n{{ lroe }} {{ mood }}"
    )
    [problem] = template_problems(source)
    assert (problem.line, problem.code) == (4, "PROMPT_UNKNOWN_VARIABLE")
    assert problem.message == "unknown variable 'lroe' (did you mean 'lore'?)"


def test_a_syntax_error_is_a_finding_with_its_line_on_the_roles_field() -> None:
    findings = template_findings(PromptTemplates(negative_prompt="ok\nstill ok\n{% for x in %}"))
    [finding] = findings
    assert finding.field == "prompt.negativePrompt"
    assert finding.code == "PROMPT_SYNTAX"
    assert finding.message.startswith("line 3: ")


def test_check_node_reports_template_errors_and_a_clean_template_none() -> None:
    bad = GenerationNodeConfig(generation_type=GenerationType.DIALOGUE, prompt=PromptTemplates(user="{{ nope }}"))
    assert check_node(bad).status.value == "errors"
    good = GenerationNodeConfig(
        generation_type=GenerationType.DIALOGUE, prompt=PromptTemplates(user="{{ to_scene.title if to_scene }}")
    )
    assert check_node(good).status.value == "ok"


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("{{ from_scene.nope }}", "has no attribute"),
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ 'x' * 100000000 }}", "repeated value"),
        ("{{ 2 ** 100000 }}", "exponent"),
    ],
)
def test_rendering_is_strict_and_sandboxed(source: str, why: str) -> None:
    values = variables(request_for(graph()))
    with pytest.raises(DyngenError) as caught:
        render_source(source, values, role="user")
    assert caught.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert why in caught.value.message
    assert caught.value.details is not None
    assert caught.value.details[0]["field"] == "prompt.user"


def test_a_template_librarys_prompt_merges_role_by_role_with_the_nodes() -> None:
    template = GenerationNodeConfig(
        id="t", generation_type=GenerationType.DIALOGUE, prompt=PromptTemplates(system="S", user="U")
    )
    merged = apply_template(template, {"prompt": {"user": "mine"}})
    assert merged["prompt"] == {"system": "S", "user": "mine"}


def test_world_findings_name_unknown_characters_duplicates_and_self_relations() -> None:
    g = graph(
        scenes=[{"id": "a", "characters": ["mara", "mary"]}, {"id": "b"}],
        characters=[
            {"id": "mara", "name": "Mara", "relationships": [{"to": "mara"}, {"to": "ghost"}]},
            {"id": "mara", "name": "Mara again"},
        ],
        lore=[{"id": "x", "text": "one"}, {"id": "x", "text": "two"}],
        nodes=[],
    )
    found = {(f.code, f.field, f.severity.value) for f in world_findings(g)}
    assert found == {
        ("CHARACTER_DUPLICATE_ID", "characters.1.id", "error"),
        ("LORE_DUPLICATE_ID", "lore.1.id", "error"),
        ("RELATIONSHIP_TO_SELF", "characters.mara.relationships.0.to", "warning"),
        ("RELATIONSHIP_UNKNOWN_CHARACTER", "characters.mara.relationships.1.to", "error"),
        ("SCENE_UNKNOWN_CHARACTER", "scenes.a.characters", "error"),
    }
