"""The node validator (spec section 8): every rule, the node status it leads to, and the complexity score."""

from __future__ import annotations

import random
from typing import Any

import pytest

from dyngen.domain.cache_keys import cache_key, resolve_seed
from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig, NodeStatus, PlayerContext, Severity
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.responses import ValidationContext
from dyngen.domain.validation import COMPLEXITY_THRESHOLD, complexity, validate_config

E, W, S = Severity.ERROR, Severity.WARNING, Severity.SUGGESTION


def node(**overrides: Any) -> GenerationNodeConfig:
    """A clean dialogue node (complexity 2.5, strategy once) with wire-spelled overrides merged in."""
    wire: dict[str, Any] = {
        "generationType": "dialogue",
        "duration": {"min": 5, "max": 30, "target": 10},
        "constraints": {"requiredElements": ["phone_ring"], "avoidElements": ["violence"]},
        "fallback": {"mode": "skip"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(wire.get(key), dict):
            wire[key] = {**wire[key], **value}
        else:
            wire[key] = value
    return GenerationNodeConfig.model_validate(wire)


def triples(config: GenerationNodeConfig, context: ValidationContext | None = None) -> list[tuple[str, str, Severity]]:
    return [(f.code, f.field, f.severity) for f in validate_config(config, context).findings]


RULE_CASES = [
    # --- duration ---
    pytest.param(
        {"duration": {"min": 0}}, [("DURATION_NOT_POSITIVE", "duration.min", E)], "errors", id="duration-min-zero"
    ),
    pytest.param(
        {"duration": {"min": -5, "max": 0, "target": -1}},
        [
            ("DURATION_NOT_POSITIVE", "duration.min", E),
            ("DURATION_NOT_POSITIVE", "duration.max", E),
            ("DURATION_NOT_POSITIVE", "duration.target", E),
        ],
        "errors",
        id="duration-all-not-positive",
    ),
    pytest.param(
        {"duration": {"min": 0, "max": 0, "target": 0}},
        [
            ("DURATION_NOT_POSITIVE", "duration.min", E),
            ("DURATION_NOT_POSITIVE", "duration.max", E),
            ("DURATION_NOT_POSITIVE", "duration.target", E),
        ],
        "errors",
        id="duration-all-zero",
    ),
    pytest.param(
        {"duration": {"target": -1}},
        [("DURATION_NOT_POSITIVE", "duration.target", E), ("DURATION_TARGET_OUT_OF_RANGE", "duration.target", E)],
        "errors",
        id="duration-target-negative",
    ),
    pytest.param(
        {"duration": {"min": 40, "max": 30, "target": 35}},
        [("DURATION_RANGE_INVERTED", "duration.min", E)],
        "errors",
        id="duration-range-inverted",
    ),
    pytest.param(
        {"duration": {"target": 31}},
        [("DURATION_TARGET_OUT_OF_RANGE", "duration.target", E)],
        "errors",
        id="target-above-max",
    ),
    pytest.param(
        {"duration": {"target": 4.5}},
        [("DURATION_TARGET_OUT_OF_RANGE", "duration.target", E)],
        "errors",
        id="target-below-min",
    ),
    pytest.param({"duration": {"min": 10, "max": 10, "target": 10}}, [], "ok", id="duration-min-eq-target-eq-max"),
    pytest.param({"duration": {"target": 30}}, [], "ok", id="duration-target-at-max"),
    # --- constraints ---
    pytest.param(
        {"constraints": {"rating": "PG-13", "requiredElements": ["violence"], "avoidElements": ["violence"]}},
        [("ELEMENT_REQUIRED_AND_AVOIDED", "constraints.requiredElements", E)],
        "errors",
        id="element-required-and-avoided",
    ),
    # --- rating (lexicon and clamp: tests/unit/test_rating.py) ---
    pytest.param(
        {"constraints": {"rating": "G", "requiredElements": ["kiss"]}},
        [("ELEMENT_OVER_RATING", "constraints.requiredElements", E)],
        "errors",
        id="element-over-rating",
    ),
    pytest.param({"constraints": {"rating": "PG", "requiredElements": ["kiss"]}}, [], "ok", id="element-within-rating"),
    # --- fallback ---
    pytest.param(
        {"fallback": {"mode": "default_content"}},
        [("FALLBACK_DEFAULT_CONTENT_MISSING", "fallback.defaultContentId", E)],
        "errors",
        id="default-content-without-id",
    ),
    pytest.param(
        {"fallback": {"mode": "default_content", "defaultContentId": "t01"}}, [], "ok", id="default-content-with-id"
    ),
    pytest.param(
        {"fallback": {"mode": "retry"}},
        [("FALLBACK_RETRY_UNBOUNDED", "fallback.maxRetries", S)],
        "ok",
        id="retry-without-max",
    ),
    pytest.param({"fallback": {"mode": "retry", "maxRetries": 3}}, [], "ok", id="retry-with-max"),
    pytest.param({"fallback": {"mode": "placeholder"}}, [], "ok", id="placeholder"),
    # --- strategy and seeds ---
    pytest.param({"seedSource": "fixed"}, [("SEED_FIXED_MISSING", "seed", E)], "errors", id="fixed-without-seed"),
    pytest.param({"seedSource": "fixed", "seed": 7}, [], "ok", id="fixed-with-seed"),
    pytest.param({"seed": 7}, [], "ok", id="seed-with-default-source-once"),
    pytest.param(
        {"generationType": "transition", "strategy": "always"},
        [("STRATEGY_ALWAYS_VIDEO", "strategy", W)],
        "warnings",
        id="always-on-transition",
    ),
    pytest.param(
        {"generationType": "variation", "strategy": "always"},
        [("STRATEGY_ALWAYS_VIDEO", "strategy", W)],
        "warnings",
        id="always-on-variation",
    ),
    pytest.param({"generationType": "dialogue", "strategy": "always"}, [], "ok", id="always-on-dialogue"),
    pytest.param(
        {"generationType": "transition", "strategy": "per_playthrough"}, [], "ok", id="transition-per-playthrough"
    ),
    *(
        pytest.param(
            {"seedSource": "timestamp", "strategy": strategy},
            [("SEED_TIMESTAMP_CACHED", "seedSource", W)],
            "warnings",
            id=f"timestamp-with-{strategy}",
        )
        for strategy in ("once", "per_playthrough", "per_player")
    ),
    pytest.param({"seedSource": "timestamp", "strategy": "always"}, [], "ok", id="timestamp-with-always"),
    *(
        pytest.param(
            {"seedSource": source, "seed": 7, "strategy": "always"},
            [("SEED_IGNORED", "seed", S)],
            "ok",
            id=f"seed-ignored-with-{source}",
        )
        for source in ("playthrough", "player", "timestamp")
    ),
    # --- complexity ---
    pytest.param(
        {"constraints": {"contentRules": [f"r{i}" for i in range(9)]}},
        [("COMPLEXITY_HIGH", "constraints", W)],
        "warnings",
        id="complexity-high",
    ),
]


@pytest.mark.parametrize(("overrides", "expected", "status"), RULE_CASES)
def test_each_rule_gives_its_code_field_severity_and_status(
    overrides: dict[str, Any], expected: list[tuple[str, str, Severity]], status: str
) -> None:
    result = validate_config(node(**overrides))
    assert [(f.code, f.field, f.severity) for f in result.findings] == expected
    assert result.status is NodeStatus(status)
    assert all(f.message for f in result.findings)


def test_clean_config_is_ok_with_no_findings() -> None:
    result = validate_config(node())
    assert result.status is NodeStatus.OK
    assert result.findings == []


def test_spec_section_10_template_validates_clean() -> None:
    template = node(
        generationType="transition",
        strategy="per_playthrough",
        duration={"min": 15, "max": 45, "target": 30},
        constraints={
            "rating": "PG-13",
            "requiredElements": ["phone_ring", "kiss_callback"],
            "avoidElements": ["violence"],
            "contentRules": ["build_tension_gradually", "maintain_character_continuity"],
        },
        fallback={"mode": "default_content", "defaultContentId": "transition_01", "timeoutMs": 4000},
    )
    result = validate_config(template)
    assert (result.status, result.findings, result.complexity) == (NodeStatus.OK, [], 7.0)


def test_suggestions_alone_keep_status_ok() -> None:
    result = validate_config(node(fallback={"mode": "retry"}, seedSource="player", seed=3))
    assert {f.severity for f in result.findings} == {S}
    assert len(result.findings) == 2
    assert result.status is NodeStatus.OK


def test_several_errors_are_all_listed_not_only_the_first() -> None:
    config = node(
        duration={"min": 40, "max": 30, "target": 35},
        constraints={"requiredElements": ["violence"], "avoidElements": ["violence"]},
        fallback={"mode": "default_content"},
        seedSource="fixed",
    )
    result = validate_config(config)
    assert result.status is NodeStatus.ERRORS
    assert sorted(f.code for f in result.findings) == [
        "DURATION_RANGE_INVERTED",
        "ELEMENT_OVER_RATING",  # violence needs PG-13; the node is PG
        "ELEMENT_REQUIRED_AND_AVOIDED",
        "FALLBACK_DEFAULT_CONTENT_MISSING",
        "SEED_FIXED_MISSING",
    ]


def test_errors_outrank_warnings_and_both_are_listed() -> None:
    result = validate_config(node(generationType="transition", strategy="always", seedSource="fixed"))
    assert result.status is NodeStatus.ERRORS
    assert {(f.code, f.severity) for f in result.findings} == {("STRATEGY_ALWAYS_VIDEO", W), ("SEED_FIXED_MISSING", E)}


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="clean"),
        pytest.param({"strategy": "always", "generationType": "transition"}, id="with-warnings"),
        pytest.param({"fallback": {"mode": "default_content"}, "duration": {"min": 0}}, id="with-errors"),
    ],
)
def test_disabled_node_is_disabled_whatever_its_findings(overrides: dict[str, Any]) -> None:
    enabled = validate_config(node(**overrides))
    disabled = validate_config(node(enabled=False, **overrides))
    assert disabled.status is NodeStatus.DISABLED
    assert disabled.findings == enabled.findings  # the designer still sees what to fix


@pytest.mark.parametrize(
    ("required", "avoided"),
    [
        ("phone_ring", "phone_ring"),
        ("phone_ring", "Phone Ring"),
        ("phone-ring", "PHONE_RING"),
        ("Phone  Ring", "phone__ring"),
        ("Kiss-Callback", "kiss callback"),
        ("  violence ", "VIOLENCE"),
    ],
    ids=["same", "space-and-case", "dash-vs-underscore", "repeated-separators", "dash-vs-space", "padding-and-case"],
)
def test_element_conflict_ignores_case_underscores_and_dashes(required: str, avoided: str) -> None:
    # PG-13, so that violence's rating is no second error
    constraints = {"rating": "PG-13", "requiredElements": [required], "avoidElements": [avoided]}
    result = validate_config(node(constraints=constraints))
    assert [(f.code, f.field, f.severity) for f in result.findings] == [
        ("ELEMENT_REQUIRED_AND_AVOIDED", "constraints.requiredElements", E)
    ]
    assert result.status is NodeStatus.ERRORS


@pytest.mark.parametrize(
    ("required", "avoided"),
    [("phone_ring", "phone"), ("phonering", "phone_ring"), ("ring_phone", "phone_ring")],
    ids=["word-subset", "joined-word", "word-order"],
)
def test_different_elements_do_not_conflict(required: str, avoided: str) -> None:
    assert triples(node(constraints={"requiredElements": [required], "avoidElements": [avoided]})) == []


def test_every_conflicting_element_is_reported_by_name() -> None:
    config = node(
        constraints={"requiredElements": ["kiss", "Phone Ring", "rain"], "avoidElements": ["phone-ring", "KISS"]}
    )
    findings = validate_config(config).findings
    assert [f.code for f in findings] == ["ELEMENT_REQUIRED_AND_AVOIDED"] * 2
    assert "'kiss'" in findings[0].message
    assert "'Phone Ring'" in findings[1].message


@pytest.mark.parametrize(
    ("rules", "required", "min_s", "max_s", "score"),
    [
        (0, 0, 5, 5, 0.0),
        (2, 0, 5, 5, 2.0),
        (0, 3, 5, 5, 3.0),
        (0, 0, 5, 30, 2.5),
        (2, 2, 15, 45, 7.0),
        (1, 1, 40, 30, 2.0),  # an inverted range adds no span
    ],
    ids=["empty", "rules", "required", "span", "template", "inverted-span"],
)
def test_complexity_score_is_rules_plus_required_plus_span_over_ten(
    rules: int, required: int, min_s: float, max_s: float, score: float
) -> None:
    config = node(
        duration={"min": min_s, "max": max_s, "target": min_s},
        constraints={
            "contentRules": [f"rule{i}" for i in range(rules)],
            "requiredElements": [f"element{i}" for i in range(required)],
        },
    )
    assert complexity(config) == pytest.approx(score)
    assert validate_config(config).complexity == pytest.approx(score)


@pytest.mark.parametrize(
    ("rules", "required", "max_s", "warned"),
    [
        (5, 5, 10, False),  # exactly 10.0
        (0, 0, 110, False),  # exactly 10.0 from span alone (100 s)
        (4, 4, 30, False),  # 8 + 2.0 = 10.0
        (5, 5, 11, True),  # 10.1
        (0, 0, 111, True),  # 10.1 from span alone
        (6, 5, 10, True),  # 11.0
    ],
    ids=["at-threshold", "at-threshold-span", "at-threshold-mixed", "just-above", "just-above-span", "above"],
)
def test_complexity_warns_only_above_the_threshold(rules: int, required: int, max_s: float, warned: bool) -> None:
    assert COMPLEXITY_THRESHOLD == 10.0
    config = node(
        duration={"min": 10, "max": max_s, "target": 10},
        constraints={
            "contentRules": [f"r{i}" for i in range(rules)],
            "requiredElements": [f"e{i}" for i in range(required)],
        },
    )
    expected = [("COMPLEXITY_HIGH", "constraints", W)] if warned else []
    assert triples(config) == expected
    assert validate_config(config).status is (NodeStatus.WARNINGS if warned else NodeStatus.OK)


PT_ONLY = {"playthroughId": "pt-1"}
PLAYER_ONLY = {"playerId": "pl-1"}


@pytest.mark.parametrize(
    ("strategy", "player_context", "expected"),
    [
        ("per_playthrough", None, [("SCOPE_ID_MISSING", "playerContext.playthroughId", E)]),
        ("per_playthrough", {}, [("SCOPE_ID_MISSING", "playerContext.playthroughId", E)]),
        ("per_playthrough", PLAYER_ONLY, [("SCOPE_ID_MISSING", "playerContext.playthroughId", E)]),
        ("per_playthrough", PT_ONLY, []),
        ("per_player", None, [("SCOPE_ID_MISSING", "playerContext.playerId", E)]),
        ("per_player", {}, [("SCOPE_ID_MISSING", "playerContext.playerId", E)]),
        ("per_player", PT_ONLY, [("SCOPE_ID_MISSING", "playerContext.playerId", E)]),
        ("per_player", PLAYER_ONLY, []),
        ("once", None, []),
        ("always", {}, []),
    ],
    ids=[
        "playthrough-no-context",
        "playthrough-empty-context",
        "playthrough-only-player-id",
        "playthrough-with-id",
        "player-no-context",
        "player-empty-context",
        "player-only-playthrough-id",
        "player-with-id",
        "once-needs-no-id",
        "always-needs-no-id",
    ],
)
def test_scope_id_missing_when_context_lacks_the_strategys_id(
    strategy: str, player_context: dict[str, str] | None, expected: list[tuple[str, str, Severity]]
) -> None:
    context = ValidationContext.model_validate({"playerContext": player_context})
    result = validate_config(node(strategy=strategy), context)
    assert [(f.code, f.field, f.severity) for f in result.findings] == expected
    assert result.status is (NodeStatus.ERRORS if expected else NodeStatus.OK)


@pytest.mark.parametrize("strategy", ["per_playthrough", "per_player"])
def test_scope_rule_needs_a_context_to_run(strategy: str) -> None:
    assert validate_config(node(strategy=strategy)).status is NodeStatus.OK


@pytest.mark.parametrize("strategy", ["per_playthrough", "per_player", "always"])
def test_seed_ignored_when_seed_source_is_omitted_and_strategy_implies_another_source(strategy: str) -> None:
    config = node(strategy=strategy, seed=42)
    request = GenerateContentRequest.for_node(config, player_context=PlayerContext(playthrough_id="pt", player_id="pl"))
    # The generation really ignores the seed: it is neither in the key nor the seed used.
    assert "@42" not in cache_key(request)
    assert resolve_seed(request, entropy=random.Random(0)).value != 42
    assert ("SEED_IGNORED", "seed", S) in triples(config)


@pytest.mark.parametrize(
    ("source", "player_context", "field"),
    [("playthrough", PLAYER_ONLY, "playerContext.playthroughId"), ("player", PT_ONLY, "playerContext.playerId")],
    ids=["playthrough-seed", "player-seed"],
)
def test_seed_source_id_missing_from_context_is_an_error(
    source: str, player_context: dict[str, str], field: str
) -> None:
    config = node(seedSource=source)
    context = ValidationContext.model_validate({"playerContext": player_context})
    request = GenerateContentRequest.for_node(config, player_context=context.player_context)
    with pytest.raises(DyngenError) as raised:  # generation for this context is certain to fail ...
        resolve_seed(request, entropy=random.Random(0))
    assert raised.value.code is ErrorCode.GEN_INVALID_CONFIG
    result = validate_config(config, context)  # ... so validating it for that context must not say ok
    assert result.status is NodeStatus.ERRORS
    assert any(f.field == field and f.severity is E for f in result.findings)
