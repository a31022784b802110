"""Wire contracts: spec spellings in and out, typo findings, bounds, and the element checks on content."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from dyngen.domain.contracts import Constraints, GenerateContentRequest, GenerationNodeConfig, NodeStatus, PlayerContext
from dyngen.domain.elements import mentions, violations
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.responses import (
    CacheInfo,
    Cost,
    GenerateContentResponse,
    GeneratedContentPayload,
    GenerationValidationResult,
    ValidateConfigRequest,
)
from dyngen.domain.wire import load, wire_errors
from tests.support.examples import SPEC_TEMPLATE

TEMPLATE: dict[str, Any] = SPEC_TEMPLATE


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


def contains(big: Any, small: Any) -> bool:
    """True when every key and value of `small` appears in `big` (recursively)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and contains(big[k], v) for k, v in small.items())
    return bool(big == small)


def test_spec_template_loads_as_written() -> None:
    config = GenerationNodeConfig.model_validate_json(json.dumps(TEMPLATE))
    assert config.id == "romantic_to_action_transition_v1"
    assert config.style.mood_from == "romantic"
    assert config.constraints.required_elements == ["phone_ring", "kiss_callback"]
    assert config.fallback.default_content_id == "transition_01"
    assert config.fallback.timeout_ms == 4000
    assert (config.duration.min, config.duration.max, config.duration.target) == (15, 45, 30)


def test_spec_template_dumps_back_with_the_same_camel_case_keys_and_values() -> None:
    config = GenerationNodeConfig.model_validate(TEMPLATE)
    dumped = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert contains(dumped, TEMPLATE)
    assert not any("_" in key for key in all_keys(dumped))  # no snake_case key leaks out
    assert "maxRetries" not in dumped["fallback"]  # None fields are left out
    # Only what the author wrote, when asked for the set fields: the template round-trips exactly.
    assert config.model_dump(mode="json", by_alias=True, exclude_unset=True) == TEMPLATE
    assert GenerationNodeConfig.model_validate_json(json.dumps(dumped)) == config


NODE = {"generationType": "dialogue"}
REQUEST = {"type": "dialogue"}

# (model, base payload, path of the containing object, camel name, snake name, value, read back)
SPELLINGS = [
    pytest.param(GenerationNodeConfig, NODE, ("style",), "moodFrom", "mood_from", "romantic",
                 lambda m: m.style.mood_from, id="style.moodFrom"),
    pytest.param(GenerationNodeConfig, NODE, ("constraints",), "requiredElements", "required_elements", ["kiss"],
                 lambda m: m.constraints.required_elements, id="constraints.requiredElements"),
    pytest.param(GenerationNodeConfig, NODE, ("fallback",), "defaultContentId", "default_content_id", "t01",
                 lambda m: m.fallback.default_content_id, id="fallback.defaultContentId"),
    pytest.param(GenerationNodeConfig, NODE, ("fallback",), "timeoutMs", "timeout_ms", 4000,
                 lambda m: m.fallback.timeout_ms, id="fallback.timeoutMs"),
    pytest.param(GenerationNodeConfig, NODE, ("socialContext",), "intimacyBand", "intimacy_band", "light",
                 lambda m: m.social_context.intimacy_band, id="socialContext.intimacyBand"),
    pytest.param(GenerationNodeConfig, {}, (), "generationType", "generation_type", "dialogue",
                 lambda m: m.generation_type, id="generationType"),
    pytest.param(GenerateContentRequest, REQUEST, ("player_context",), "playthroughId", "playthrough_id", "pt-1",
                 lambda m: m.player_context.playthrough_id, id="player_context.playthroughId"),
    pytest.param(GenerateContentRequest, {**REQUEST, "from_scene": {"id": "cafe"}}, ("from_scene",),
                 "emotionalState", "emotional_state", "tense", lambda m: m.from_scene.emotional_state,
                 id="from_scene.emotionalState"),
    pytest.param(GenerateContentRequest, REQUEST, ("style",), "moodFrom", "mood_from", "calm",
                 lambda m: m.style.mood_from, id="request.style.moodFrom"),
    pytest.param(GenerateContentRequest, REQUEST, (), "nodeId", "node_id", "n1", lambda m: m.node_id, id="node_id"),
    pytest.param(GenerateContentRequest, REQUEST, (), "fromScene", "from_scene", {"id": "cafe"},
                 lambda m: {"id": m.from_scene.id}, id="from_scene"),
    pytest.param(GenerateContentRequest, REQUEST, (), "playerContext", "player_context", {"playerId": "pl"},
                 lambda m: {"playerId": m.player_context.player_id}, id="player_context"),
    pytest.param(ValidateConfigRequest, {"config": NODE}, ("context",), "playerContext", "player_context",
                 {"playthroughId": "pt"}, lambda m: {"playthroughId": m.context.player_context.playthrough_id},
                 id="validate.context"),
]  # fmt: skip


def with_field(base: dict[str, Any], path: tuple[str, ...], name: str, value: Any) -> dict[str, Any]:
    payload = copy.deepcopy(base)
    target = payload
    for part in path:
        target = target.setdefault(part, {})
    target[name] = copy.deepcopy(value)
    return payload


@pytest.mark.parametrize(("model", "base", "path", "camel", "snake", "value", "read"), SPELLINGS)
def test_every_field_accepts_both_spellings(
    model: type[BaseModel],
    base: dict[str, Any],
    path: tuple[str, ...],
    camel: str,
    snake: str,
    value: Any,
    read: Callable[[Any], Any],
) -> None:
    from_camel = model.model_validate(with_field(base, path, camel, value))
    from_snake = model.model_validate(with_field(base, path, snake, value))
    assert read(from_camel) == read(from_snake) == value
    assert from_camel == from_snake


def test_both_spellings_of_one_field_at_once_are_rejected_not_silently_merged() -> None:
    with pytest.raises(ValidationError) as raised:
        GenerationNodeConfig.model_validate({**NODE, "style": {"moodFrom": "a", "mood_from": "b"}})
    assert [f["field"] for f in wire_errors(GenerationNodeConfig, raised.value)] == ["style.mood_from"]


def test_response_dumps_snake_case_at_top_level() -> None:
    response = GenerateContentResponse(
        status="complete",
        content=GeneratedContentPayload(
            type="dialogue", dialogue=["Hi."], content_id="c1", metadata={"quality_score": 0.9}
        ),
        cache_key="dialogue|gap_fill|a|b|once||1",
        cache=CacheInfo(hit=False, tier="memory"),
        cost=Cost(tokens=12, time_ms=3.5),
        deterministic=True,
        seed=5,
        generation_id="g1",
        job_id="j1",
    )
    dumped = response.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["cache_key"] == "dialogue|gap_fill|a|b|once||1"
    assert (dumped["generation_id"], dumped["job_id"]) == ("g1", "j1")
    assert dumped["content"]["content_id"] == "c1"
    assert dumped["content"]["metadata"] == {"quality_score": 0.9}
    assert dumped["cost"] == {"tokens": 12, "time_ms": 3.5}
    assert not {"cacheKey", "generationId", "jobId", "contentId", "timeMs"} & all_keys(dumped)
    result = GenerationValidationResult(status=NodeStatus.OK, findings=[], complexity=1.0, cache_key="k")
    assert result.model_dump(by_alias=True) == {
        "status": "ok",
        "findings": [],
        "complexity": 1.0,
        "cache_key": "k",
        # The spec's GenerationValidationResult shape, beside `findings`.
        "errors": [],
        "warnings": [],
        "suggestions": [],
    }


def test_nested_node_config_dumps_camel_case_inside_snake_case_envelopes() -> None:
    config = GenerationNodeConfig.model_validate(TEMPLATE)
    request = GenerateContentRequest.for_node(config, player_context=PlayerContext(playthrough_id="pt-1"))
    dumped = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["node_id"] == "romantic_to_action_transition_v1"
    assert dumped["player_context"] == {"playthroughId": "pt-1"}
    assert dumped["style"]["moodFrom"] == "romantic"
    assert dumped["fallback"] == {"mode": "default_content", "defaultContentId": "transition_01", "timeoutMs": 4000}
    assert dumped["constraints"]["requiredElements"] == ["phone_ring", "kiss_callback"]
    envelope = ValidateConfigRequest(config=config).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert contains(envelope["config"], TEMPLATE)


UNKNOWN = [
    pytest.param(GenerationNodeConfig, {**NODE, "style": {"moodFro": "x"}}, "style.moodFro", "moodFrom",
                 id="style.moodFro"),
    pytest.param(GenerateContentRequest, {**REQUEST, "nodeid": "n"}, "nodeid", "node_id", id="nodeid"),
    pytest.param(GenerationNodeConfig, {**NODE, "constraints": {"requiredElement": []}}, "constraints.requiredElement",
                 "requiredElements", id="constraints.requiredElement"),
    pytest.param(GenerationNodeConfig, {**NODE, "fallback": {"defaultContentID": "t"}}, "fallback.defaultContentID",
                 "defaultContentId", id="fallback.defaultContentID"),
    pytest.param(GenerateContentRequest, {**REQUEST, "player_context": {"playthroughid": "p"}},
                 "player_context.playthroughid", "playthrough_id", id="player_context.playthroughid"),
    pytest.param(ValidateConfigRequest, {"config": {**NODE, "style": {"moodFro": "x"}}}, "config.style.moodFro",
                 "moodFrom", id="nested-in-envelope"),
    pytest.param(GeneratedContentPayload,
                 {"type": "dialogue", "beats": [{"start": 0, "duration": 1, "kind": "narration", "text": "t",
                                                 "speakr": "A"}]},
                 "beats.0.speakr", "speaker", id="inside-a-list"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "payload", "field", "suggestion"), UNKNOWN)
def test_unknown_field_names_its_path_and_the_closest_known_name(
    model: type[BaseModel], payload: dict[str, Any], field: str, suggestion: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(payload)
    findings = wire_errors(model, raised.value)
    assert [(f["field"], f["type"], f.get("suggestion")) for f in findings] == [(field, "extra_forbidden", suggestion)]
    assert f"did you mean '{suggestion}'" in findings[0]["message"]


def test_far_off_unknown_field_gives_no_suggestion_but_lists_known_fields() -> None:
    with pytest.raises(ValidationError) as raised:
        GenerateContentRequest.model_validate({**REQUEST, "zzqqxx": 1})
    (finding,) = wire_errors(GenerateContentRequest, raised.value)
    assert finding["field"] == "zzqqxx"
    assert "suggestion" not in finding
    assert "known fields:" in finding["message"]
    assert {"node_id", "nodeId", "from_scene", "player_context"} <= set(finding["message"].split(": ")[-1].split(", "))


def test_every_unknown_field_is_reported_and_prefix_is_prepended() -> None:
    payload = {**NODE, "stile": {}, "duration": {"mn": 5}, "fallback": {"timeoutMS": 1}}
    with pytest.raises(ValidationError) as raised:
        GenerationNodeConfig.model_validate(payload)
    findings = wire_errors(GenerationNodeConfig, raised.value, prefix=("body",))
    assert sorted((f["field"], f.get("suggestion")) for f in findings) == [
        ("body.duration.mn", "min"),
        ("body.fallback.timeoutMS", "timeoutMs"),
        ("body.stile", "style"),
    ]


def test_load_raises_one_coded_error_listing_every_problem() -> None:
    with pytest.raises(DyngenError) as raised:
        load(GenerationNodeConfig, {"generationType": "cutscene", "style": {"moodFro": "x"}})
    assert raised.value.code is ErrorCode.GEN_INVALID_CONFIG
    assert sorted((d["field"], d.get("suggestion")) for d in raised.value.details) == [
        ("generationType", None),
        ("style.moodFro", "moodFrom"),
    ]
    assert load(GenerationNodeConfig, TEMPLATE) == GenerationNodeConfig.model_validate(TEMPLATE)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", ["min", "max", "target"])
def test_non_finite_durations_are_rejected(name: str, value: float) -> None:
    with pytest.raises(ValidationError) as raised:
        GenerationNodeConfig.model_validate({**NODE, "duration": {name: value}})
    assert [f["field"] for f in wire_errors(GenerationNodeConfig, raised.value)] == [f"duration.{name}"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_durations_are_rejected_in_json(token: str) -> None:
    with pytest.raises(ValidationError):
        GenerationNodeConfig.model_validate_json(f'{{"generationType": "dialogue", "duration": {{"target": {token}}}}}')


BOUNDS = [
    pytest.param(GenerationNodeConfig, {**NODE, "id": "x" * 201}, "id", id="id-201-chars"),
    pytest.param(GenerationNodeConfig, {**NODE, "id": "   "}, "id", id="id-blank"),
    pytest.param(GenerationNodeConfig, {**NODE, "style": {"moodFrom": "m" * 201}}, "style.moodFrom",
                 id="mood-201-chars"),
    pytest.param(GenerationNodeConfig, {**NODE, "constraints": {"requiredElements": ["e" * 101]}},
                 "constraints.requiredElements.0", id="element-101-chars"),
    pytest.param(GenerationNodeConfig, {**NODE, "constraints": {"avoidElements": [f"e{i}" for i in range(51)]}},
                 "constraints.avoidElements", id="51-avoided-elements"),
    pytest.param(GenerationNodeConfig, {**NODE, "constraints": {"contentRules": [f"r{i}" for i in range(51)]}},
                 "constraints.contentRules", id="51-content-rules"),
    pytest.param(GenerationNodeConfig, {**NODE, "duration": {"max": 86_401}}, "duration.max", id="duration-over-a-day"),
    pytest.param(GenerateContentRequest, {**REQUEST, "from_scene": {"id": "a", "summary": "s" * 4001}},
                 "from_scene.summary", id="summary-4001-chars"),
    pytest.param(GenerateContentRequest, {**REQUEST, "player_context": {"flags": {f"f{i}": True for i in range(201)}}},
                 "player_context.flags", id="201-flags"),
    pytest.param(GenerateContentRequest, {**REQUEST, "cache_key": "k" * 2001}, "cache_key", id="cache-key-2001-chars"),
    pytest.param(GenerateContentRequest, {**REQUEST, "seed": 2**63}, "seed", id="seed-above-63-bits"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "payload", "field"), BOUNDS)
def test_over_long_strings_lists_and_numbers_are_rejected(
    model: type[BaseModel], payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(payload)
    assert [f["field"] for f in wire_errors(model, raised.value)] == [field]


def test_limits_themselves_are_accepted() -> None:
    config = GenerationNodeConfig.model_validate(
        {
            **NODE,
            "id": "x" * 200,
            "constraints": {"requiredElements": ["e" * 100], "avoidElements": [f"e{i}" for i in range(50)]},
            "duration": {"min": 1, "max": 86_400, "target": 2},
        }
    )
    assert (len(config.id or ""), len(config.constraints.avoid_elements)) == (200, 50)


# --- elements: does content honour requiredElements / avoidElements? ----------------------------------------


@pytest.mark.parametrize(
    ("text", "element", "expected"),
    [
        ("The phone rings twice.", "phone_ring", True),
        ("Two phones ring at once.", "phone_ring", True),
        ("She gives him two kisses.", "kiss", True),
        ("A ring, then the phone.", "phone_ring", True),
        ("THE PHONE RING", "Phone-Ring", True),
        ("the phone\nthen a ring", "phone ring", True),
        ("The telephone is ringing.", "phone_ring", False),
        ("She is kissing him.", "kiss", False),
        ("The phone is silent.", "phone_ring", False),
        ("", "kiss", False),
    ],
    ids=[
        "plural-s", "both-words", "plural-es", "any-order", "case-and-dash", "across-lines",
        "not-inside-words", "no-other-suffix", "one-word-missing", "empty-text",
    ],
)  # fmt: skip
def test_mentions_needs_every_word_whole_with_plural_allowed(text: str, element: str, expected: bool) -> None:
    assert mentions(text, element) is expected


def payload(
    *, dialogue: list[str] | None = None, tags: list[str] | None = None, **extra: Any
) -> GeneratedContentPayload:
    return GeneratedContentPayload.model_validate(
        {"type": "dialogue", "dialogue": dialogue, "metadata": {"tags": tags}, **extra}
    )


RULES = Constraints(required_elements=["phone_ring", "kiss_callback"], avoid_elements=["violence"])


@pytest.mark.parametrize(
    ("content", "problems"),
    [
        (payload(dialogue=["The phone rings.", "A kiss callback."]), []),
        (payload(dialogue=["The phone rings."]), ["required element 'kiss_callback' is missing"]),
        (payload(dialogue=[]),
         ["required element 'phone_ring' is missing", "required element 'kiss_callback' is missing"]),
        # Text is judged by its lines: a tag does not stand in for words the player never sees.
        (payload(dialogue=["The phone rings."], tags=["Kiss Callback"]),
         ["required element 'kiss_callback' is missing"]),
        (payload(tags=["phone-ring", "KISS_CALLBACK"]), []),
        (payload(dialogue=["Phone ring, kiss callback, then violence."]), ["avoided element 'violence' is present"]),
        (payload(dialogue=["phone ring", "kiss callback"], tags=["violence"]), []),
        (payload(tags=["phone_ring", "kiss_callback", "violence"]), ["avoided element 'violence' is present"]),
        (payload(dialogue=["Pick up the phone.", "She wears a ring.", "A kiss callback."]),
         ["required element 'phone_ring' is missing"]),
        (payload(dialogue=["phone ring", "kiss callback", "nonviolence"]), []),
        (payload(beats=[{"start": 0, "duration": 2, "kind": "narration", "text": "A phone rings"}],
                 choices=[{"id": "c1", "text": "Recall the kiss callback"}]), []),
    ],
    ids=[
        "all-honoured", "one-missing", "all-missing", "tag-does-not-replace-text", "tags-normalised",
        "avoided-in-text", "avoided-tag-beside-text-ignored", "avoided-in-tags-without-text",
        "words-split-across-lines-do-not-count", "avoided-only-inside-a-word", "beats-and-choices-count",
    ],
)  # fmt: skip
def test_violations_lists_missing_required_and_present_avoided(
    content: GeneratedContentPayload, problems: list[str]
) -> None:
    assert violations(content, RULES) == problems


@pytest.mark.parametrize("model", ["request", "node"])
def test_a_string_seed_is_hashed_stably_into_the_64_bit_seed(model: str) -> None:
    def seed_of(value: object) -> int | None:
        if model == "request":
            return GenerateContentRequest.model_validate({"type": "transition", "seed": value}).seed
        return GenerationNodeConfig.model_validate({"generationType": "transition", "seed": value}).seed

    expected = int.from_bytes(hashlib.sha256(b"dawn-run").digest()[:8], "big") & (2**63 - 1)
    assert seed_of("dawn-run") == seed_of(" dawn-run ") == expected == 4833797729294993280
    assert seed_of("42") == seed_of(42) == 42
    assert seed_of("Dawn-run") != expected
    for bad in ("", "x" * 201, -1):
        with pytest.raises(ValidationError):
            seed_of(bad)
