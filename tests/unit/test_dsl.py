"""The rule DSL: the spec's example, the grammar construct by construct, what conditions mean, every
warning, positioned syntax errors, and fuzzing (no input makes the compiler or the evaluator raise)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyngen.domain.contracts import GenerationNodeConfig, NodeStatus, PlayerContext, Severity, SocialContext
from dyngen.domain.dsl import MAX_SOURCE_CHARS, CompileResult, apply_overrides, compile_rules, evaluate
from dyngen.domain.dsl.fields import SOCIAL_FIELDS
from dyngen.domain.node_checks import check_node
from dyngen.domain.validation import validate_config

# Spec section 11, exactly as written.
SPEC = """IF player_choice.quest_accept == true
  THEN moodTo = "determined" pacing = "fast"
ELSE
  THEN moodTo = "reflective" pacing = "slow"
INCLUDE callback_to_scene("kiss")
DURATION 20-40s TARGET 30s
CONSTRAINT rating=PG-13 AVOID violence
"""
BOTH = {
    "constraints": {"requiredElements": ["kiss_callback"], "rating": "PG-13", "avoidElements": ["violence"]},
    "duration": {"min": 20, "max": 40, "target": 30},
}


def compiled(source: str) -> CompileResult:
    result = compile_rules(source)
    assert result.program is not None, [f"{e.line}:{e.column} {e.message}" for e in result.errors]
    return result


def run(source: str, *, player: dict[str, Any] | None = None, social: dict[str, Any] | None = None) -> dict[str, Any]:
    program = compiled(source).program
    assert program is not None
    return evaluate(
        program,
        player_context=PlayerContext.model_validate(player) if player is not None else None,
        social_context=SocialContext.model_validate(social) if social is not None else None,
    ).overrides


# --- the spec's example ---------------------------------------------------------------------------


def test_the_spec_example_compiles_as_written_without_warnings():
    result = compile_rules(SPEC)
    assert result.program is not None
    assert (result.errors, result.warnings) == ((), ())


@pytest.mark.parametrize(("accepted", "mood", "pacing"), [(True, "determined", "fast"), (False, "reflective", "slow")])
def test_the_spec_example_follows_the_quest_choice(accepted: bool, mood: str, pacing: str):
    overrides = run(SPEC, player={"choices": {"quest_accept": accepted}})
    assert overrides == {"style": {"moodTo": mood, "pacing": pacing}, **BOTH}


def test_the_spec_example_without_the_choice_takes_else_and_says_why():
    program = compiled(SPEC).program
    assert program is not None
    evaluation = evaluate(program, player_context=PlayerContext(choices={}), social_context=None)
    assert evaluation.overrides["style"] == {"moodTo": "reflective", "pacing": "slow"}
    [warning] = evaluation.warnings
    assert (warning.code, warning.line, warning.column) == ("DSL_CONTEXT_MISSING", 1, 4)
    assert "player_choice.quest_accept" in warning.message


def test_the_spec_example_applied_to_the_spec_template_is_a_valid_node():
    template = GenerationNodeConfig.model_validate(
        {
            "generationType": "transition",
            "style": {"moodFrom": "romantic", "moodTo": "intense", "pacing": "medium"},
            "duration": {"min": 15, "max": 45, "target": 30},
            "constraints": {"rating": "PG", "requiredElements": ["phone_ring"], "avoidElements": ["gore"]},
        }
    )
    config = apply_overrides(template, run(SPEC, player={"choices": {"quest_accept": True}}))
    assert (config.style.mood_from, config.style.mood_to, config.style.pacing) == ("romantic", "determined", "fast")
    assert config.constraints.required_elements == ["phone_ring", "kiss_callback"]  # the node's stay
    assert config.constraints.avoid_elements == ["gore", "violence"]
    assert config.constraints.rating == "PG-13"
    assert (config.duration.min, config.duration.max, config.duration.target) == (20, 40, 30)
    assert validate_config(config).status == "ok"


# --- the grammar, construct by construct ----------------------------------------------------------

GRAMMAR_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("", {}, {}),
    ("# only a comment\n// and another\n", {}, {}),
    ("if flags.a then pacing = fast else then pacing = slow", {"flags": {"a": True}}, {"style": {"pacing": "fast"}}),
    ("If flags.a Then pacing = fast Else pacing = slow", {"flags": {"a": False}}, {"style": {"pacing": "slow"}}),
    (
        "IF stats.x > 10 THEN moodTo = a ELSE IF stats.x > 5 THEN moodTo = b ELSE moodTo = c",
        {"stats": {"x": 7}},
        {"style": {"moodTo": "b"}},
    ),
    (
        'IF flags.a THEN { IF flags.b THEN { INCLUDE x } ELSE { SET moodTo = "y" } }',
        {"flags": {"a": True, "b": False}},
        {"style": {"moodTo": "y"}},
    ),
    ("IF flags.a THEN {} ELSE {}", {"flags": {"a": True}}, {}),
    (
        "SET mood_from = calm, mood_to = 'tense' transition_type = abrupt",
        {},
        {"style": {"moodFrom": "calm", "moodTo": "tense", "transitionType": "abrupt"}},
    ),
    ('SET moodTo = "quoted \\"mood\\""', {}, {"style": {"moodTo": 'quoted "mood"'}}),
    ("SET pacing = FAST", {}, {"style": {"pacing": "fast"}}),
    ("SET pacing = fast\nSET pacing = slow", {}, {"style": {"pacing": "slow"}}),
    ("IF stats.hp > -5 THEN moodTo = alive", {"stats": {"hp": -4.5}}, {"style": {"moodTo": "alive"}}),
    ("IF stats.hp <= 2.5 THEN moodTo = weak", {"stats": {"hp": 2.5}}, {"style": {"moodTo": "weak"}}),
    ("IF stats.hp >= 3 THEN moodTo = ok", {"stats": {"hp": 2.99}}, {}),
    ("IF stats.hp < 3 THEN moodTo = low", {"stats": {"hp": 2}}, {"style": {"moodTo": "low"}}),
    (
        'IF player_choice.route != "north" THEN moodTo = away',
        {"choices": {"route": "south"}},
        {"style": {"moodTo": "away"}},
    ),
    ('IF player_choice.route == "north" THEN moodTo = cold', {"choices": {"route": "North"}}, {}),
    ("IF player_choice.n == 2 THEN moodTo = two", {"choices": {"n": 2.0}}, {"style": {"moodTo": "two"}}),
    # and binds tighter than or; parentheses group
    (
        "IF flags.a or flags.b and flags.c THEN moodTo = m",
        {"flags": {"a": True, "b": False, "c": False}},
        {"style": {"moodTo": "m"}},
    ),
    ("IF (flags.a or flags.b) and flags.c THEN moodTo = m", {"flags": {"a": True, "b": False, "c": False}}, {}),
    (
        "IF not flags.a and not not flags.b THEN moodTo = m",
        {"flags": {"a": False, "b": True}},
        {"style": {"moodTo": "m"}},
    ),
    ("IF flags.act1.met_sarah THEN moodTo = m", {"flags": {"act1.met_sarah": True}}, {"style": {"moodTo": "m"}}),
    ("IF flags.name THEN moodTo = m", {"flags": {"name": ""}}, {}),
    ("IF flags.count THEN moodTo = m", {"flags": {"count": 3}}, {"style": {"moodTo": "m"}}),
    ("IF flags.count THEN moodTo = m", {"flags": {"count": 0}}, {}),
    ("IF flags.set == false THEN moodTo = m", {"flags": {"set": False}}, {"style": {"moodTo": "m"}}),
    (
        "INCLUDE phone_ring, callback_to_scene(\"Rooftop Chase\"), 'city lights', phone_ring",
        {},
        {"constraints": {"requiredElements": ["phone_ring", "rooftop_chase_callback", "city lights"]}},
    ),
    ("DURATION 10-20", {}, {"duration": {"min": 10, "max": 20}}),
    ("DURATION 10 seconds - 20 sec TARGET 15secs", {}, {"duration": {"min": 10, "max": 20, "target": 15}}),
    ("DURATION 1.5s-2.5s TARGET 2s", {}, {"duration": {"min": 1.5, "max": 2.5, "target": 2}}),
    ("DURATION 5-10s DURATION 20-40s", {}, {"duration": {"min": 20, "max": 40}}),
    ("CONSTRAINT rating = pg-13", {}, {"constraints": {"rating": "PG-13"}}),
    ('CONSTRAINT rating="R"', {}, {"constraints": {"rating": "R"}}),
    ("CONSTRAINT AVOID gore rating=G", {}, {"constraints": {"rating": "G", "avoidElements": ["gore"]}}),
    (
        "CONSTRAINT rating=PG13 AVOID a, b AVOID c",
        {},
        {"constraints": {"rating": "PG-13", "avoidElements": ["a", "b", "c"]}},
    ),
    ("SET pacing = fast\r\nSET moodTo = m\r\n", {}, {"style": {"pacing": "fast", "moodTo": "m"}}),
    (
        "IF flags.a THEN pacing = fast # comment\nELSE pacing = slow // comment",
        {"flags": {"a": True}},
        {"style": {"pacing": "fast"}},
    ),
]


@pytest.mark.parametrize(("source", "player", "expected"), GRAMMAR_CASES, ids=[c[0][:40] for c in GRAMMAR_CASES])
def test_each_construct_gives_its_overrides(source: str, player: dict[str, Any], expected: dict[str, Any]):
    assert run(source, player=player) == expected


SOCIAL = {
    "intimacyBand": "deep",
    "relationshipTierId": "friend",
    "intimacyLevelId": "warm",
    "contentRating": "romantic",
    "worldMaxRating": "mature_implied",
    "userMaxRating": "restricted",
    "relationshipValues": {"affinity": 65, "trust": 20, "chemistry": 0, "tension": -5},
}


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ('social.intimacyBand == "deep"', True),
        ('social.intimacy_band == "light"', False),
        ('social.relationshipTierId == "friend"', True),
        ('social.intimacyLevelId != "cold"', True),
        ('social.contentRating == "romantic"', True),
        ('social.worldMaxRating == "mature_implied"', True),
        ('social.userMaxRating == "restricted"', True),
        ("social.relationshipValues.affinity >= 60", True),
        ("social.relationship_values.trust > 20", False),
        ("social.relationshipValues.chemistry", False),
        ("social.relationshipValues.tension < 0", True),
    ],
)
def test_social_fields_read_the_social_context(condition: str, holds: bool):
    assert run(f"IF {condition} THEN moodTo = yes", social=SOCIAL) == ({"style": {"moodTo": "yes"}} if holds else {})


def test_every_readable_social_field_is_a_field_of_social_context():
    full = SocialContext.model_validate(SOCIAL)
    for key, field in SOCIAL_FIELDS.items():
        value: Any = full
        for attribute in field.attributes:
            value = getattr(value, attribute)
        assert value is not None, key
    readable = {f.attributes[0] for f in SOCIAL_FIELDS.values()}
    assert set(SocialContext.model_fields) - readable == {"npc_ids"}  # a list: documented as not readable


# --- what a condition means with missing values and other kinds ----------------------------------


@pytest.mark.parametrize(
    ("condition", "flags", "holds", "warning"),
    [
        ("flags.x == true", {}, False, "DSL_CONTEXT_MISSING"),
        ("flags.x != true", {}, False, "DSL_CONTEXT_MISSING"),
        ("not flags.x == true", {}, True, "DSL_CONTEXT_MISSING"),
        ("flags.x", {}, False, "DSL_CONTEXT_MISSING"),
        ("flags.x == true", {"x": None}, False, "DSL_CONTEXT_MISSING"),
        ("flags.x == true", {"x": "true"}, False, "DSL_TYPE_MISMATCH"),
        ("flags.x != true", {"x": "true"}, True, "DSL_TYPE_MISMATCH"),
        ("flags.x > 3", {"x": "4"}, False, "DSL_TYPE_MISMATCH"),
        ("flags.x > 3", {"x": True}, False, "DSL_TYPE_MISMATCH"),
        ("flags.x == 1", {"x": True}, False, "DSL_TYPE_MISMATCH"),
        ("flags.x > flags.y", {"x": 2, "y": 1}, True, None),
        ("flags.x == flags.y", {"x": "a", "y": "a"}, True, None),
    ],
)
def test_missing_values_and_other_kinds(condition: str, flags: dict[str, Any], holds: bool, warning: str | None):
    program = compiled(f"IF {condition} THEN moodTo = yes").program
    assert program is not None
    evaluation = evaluate(program, player_context=PlayerContext(flags=flags), social_context=None)
    assert (evaluation.overrides != {}) is holds
    assert [w.code for w in evaluation.warnings] == ([warning] if warning else [])


def test_no_context_at_all_warns_once_per_field():
    program = compiled("IF flags.a and flags.a or stats.b > 1 or social.intimacyBand THEN moodTo = m").program
    assert program is not None
    evaluation = evaluate(program, player_context=None, social_context=None)
    assert evaluation.overrides == {}
    assert [(w.code, w.column) for w in evaluation.warnings] == [
        ("DSL_CONTEXT_MISSING", 4),
        ("DSL_CONTEXT_MISSING", 27),
        ("DSL_CONTEXT_MISSING", 42),
    ]


# --- warnings -----------------------------------------------------------------------------------

WARNING_CASES: list[tuple[str, str, int, int, str | None]] = [
    ("SET pacng = fast", "DSL_UNKNOWN_FIELD", 1, 5, "pacing"),
    ("SET rating = PG", "DSL_UNKNOWN_FIELD", 1, 5, None),
    ("IF flags.a THEN moodto = x", "DSL_UNKNOWN_FIELD", 1, 17, "moodTo"),
    ("IF player_choise.quest_accept THEN pacing = fast", "DSL_UNKNOWN_FIELD", 1, 4, "player_choice"),
    ("IF social.intimacy THEN pacing = fast", "DSL_UNKNOWN_FIELD", 1, 4, "intimacyBand"),
    ("IF social.npcIds THEN pacing = fast", "DSL_UNKNOWN_FIELD", 1, 4, None),
    ("IF social.relationshipValues.trst > 1 THEN pacing = fast", "DSL_UNKNOWN_FIELD", 1, 4, "relationshipValues.trust"),
    ("IF flags THEN pacing = fast", "DSL_UNKNOWN_FIELD", 1, 4, None),
    ("IF route THEN pacing = fast", "DSL_UNKNOWN_FIELD", 1, 4, None),
    ("IF true THEN pacing = fast ELSE pacing = slow", "DSL_UNREACHABLE_BRANCH", 1, 28, None),
    ("IF false THEN pacing = fast", "DSL_UNREACHABLE_BRANCH", 1, 4, None),
    ("IF 1 == 2 THEN pacing = fast", "DSL_UNREACHABLE_BRANCH", 1, 4, None),
    ("IF true THEN pacing = fast", "DSL_CONSTANT_CONDITION", 1, 4, None),
    ("IF flags.a and not flags.a THEN pacing = fast", "DSL_UNREACHABLE_BRANCH", 1, 4, None),
    ("IF flags.a == 1 and flags.a == 2 THEN pacing = fast", "DSL_UNREACHABLE_BRANCH", 1, 4, None),
    ("IF stats.a > 1 and stats.a < 1.5 and stats.a > 1.4 THEN pacing = fast ELSE pacing = slow", "", 0, 0, None),
    ("IF stats.a >= 2 or stats.a < 2 THEN pacing = fast ELSE pacing = slow", "", 0, 0, None),
    ("IF stats.a >= 2 or stats.a < 2 or stats.a THEN pacing = fast ELSE pacing = slow", "", 0, 0, None),
    (
        "IF social.intimacyBand == 'deep' and social.intimacyBand == 'light' THEN pacing = fast",
        "DSL_UNREACHABLE_BRANCH",
        1,
        4,
        None,
    ),
    ("IF flags.a THEN { IF flags.a THEN pacing = fast ELSE pacing = slow }", "DSL_UNREACHABLE_BRANCH", 1, 49, None),
    ("IF stats.a > 5 THEN pacing = fast ELSE IF stats.a > 9 THEN pacing = slow", "DSL_UNREACHABLE_BRANCH", 1, 43, None),
    ("INCLUDE violence\nCONSTRAINT AVOID Violence", "DSL_ELEMENT_REQUIRED_AND_AVOIDED", 1, 9, None),
    (
        'INCLUDE callback_to_scene("kiss") CONSTRAINT AVOID kiss_callback',
        "DSL_ELEMENT_REQUIRED_AND_AVOIDED",
        1,
        9,
        None,
    ),
    ("IF flags.a THEN { INCLUDE x } CONSTRAINT AVOID x", "DSL_ELEMENT_REQUIRED_AND_AVOIDED", 1, 27, None),
    ("IF flags.a THEN { INCLUDE x } ELSE { CONSTRAINT AVOID x }", "", 0, 0, None),
    ("DURATION 20-40s TARGET 50s", "DSL_TARGET_OUT_OF_RANGE", 1, 17, None),
    ("DURATION 20-40s TARGET 10s", "DSL_TARGET_OUT_OF_RANGE", 1, 17, None),
    ("DURATION 40-20s", "DSL_RANGE_INVERTED", 1, 1, None),
    ("DURATION 0-20s", "DSL_DURATION_NOT_POSITIVE", 1, 1, None),
    ('IF stats.hp == "high" THEN pacing = slow', "DSL_TYPE_MISMATCH", 1, 4, None),
    ('IF flags.name > "m" THEN pacing = slow', "DSL_TYPE_MISMATCH", 1, 17, None),
    ("IF social.relationshipValues.trust == true THEN pacing = slow", "DSL_TYPE_MISMATCH", 1, 4, None),
    ('IF social.intimacyBand == "dep" THEN pacing = slow', "DSL_UNKNOWN_VALUE", 1, 27, "deep"),
    ("SET pacing = fast pacing = slow", "DSL_ASSIGNED_TWICE", 1, 19, None),
    ("CONSTRAINT rating=G rating=PG", "DSL_ASSIGNED_TWICE", 1, 21, None),
]


@pytest.mark.parametrize(
    ("source", "code", "line", "column", "suggestion"), WARNING_CASES, ids=[c[0][:50] for c in WARNING_CASES]
)
def test_each_warning_points_at_its_cause(source: str, code: str, line: int, column: int, suggestion: str | None):
    result = compiled(source)
    if not code:
        assert result.warnings == (), [w.message for w in result.warnings]
        return
    found = [(w.code, w.line, w.column) for w in result.warnings]
    assert found == [(code, line, column)], [w.message for w in result.warnings]
    warning = result.warnings[0]
    assert warning.suggestion == suggestion
    if suggestion:
        assert f"did you mean '{suggestion}'" in warning.message


def test_warnings_do_not_stop_the_overrides():
    assert run("SET pacng = fast, moodTo = m\nDURATION 20-40s TARGET 50s") == {
        "style": {"moodTo": "m"},
        "duration": {"min": 20, "max": 40, "target": 50},
    }


def test_large_rule_sets_are_analysed_within_bounds():
    # Pytest's timeout catches a quadratic blow-up here (1700 x 1700 pairs of branches once took a minute).
    exclusive = "IF flags.a THEN { INCLUDE x } ELSE { CONSTRAINT AVOID x }\n" * 1700
    assert compiled(exclusive).warnings == ()
    repeated = compiled("INCLUDE x\nCONSTRAINT AVOID x\n" * 3000)
    assert [w.code for w in repeated.warnings] == ["DSL_ELEMENT_REQUIRED_AND_AVOIDED"]  # once per element


def test_a_condition_with_too_many_combinations_is_not_judged():
    names = " and ".join(f"flags.f{i} == {i}" for i in range(8))
    assert compiled(f"IF {names} THEN pacing = fast").warnings == ()


# --- errors -------------------------------------------------------------------------------------

MANY = "INCLUDE " + ", ".join(f"e{i}" for i in range(51))
ERROR_CASES: list[tuple[str, str, int, int, str]] = [
    ("IF player_choice.quest_accept = true THEN pacing = fast", "DSL_SYNTAX", 1, 31, "compare with '=='"),
    ("IF flags.ready pacing = fast", "DSL_SYNTAX", 1, 16, "is THEN missing?"),
    ('SET moodTo = "determined', "DSL_SYNTAX", 1, 14, "unterminated string"),
    ("DURATION 20-40s TARGET", "DSL_SYNTAX", 1, 23, "the rules end too early: expected a number"),
    ("IF flags.a THEN\n  pacing = fast\nELSE\n  pacing = @", "DSL_SYNTAX", 4, 12, "unexpected character '@'"),
    ("pacing = fast", "DSL_SYNTAX", 1, 1, "SET pacing = ..."),
    ("IF flags.a THEN { mood_to = x }", "DSL_SYNTAX", 1, 19, "SET mood_to = ..."),
    ("IF flags.a THEN {\n  INCLUDE x\n", "DSL_SYNTAX", 2, 12, "expected IF, SET, INCLUDE, DURATION, CONSTRAINT or '}'"),
    ("IF (flags.a THEN pacing = fast", "DSL_SYNTAX", 1, 13, "')'"),
    ("INCLUDE", "DSL_SYNTAX", 1, 8, "the rules end too early"),
    ("CONSTRAINT", "DSL_SYNTAX", 1, 11, "expected rating or AVOID"),
    ("IF a < b < c THEN pacing = fast", "DSL_SYNTAX", 1, 10, "unexpected '<'"),
    ("\n\n   SET pacing fast", "DSL_SYNTAX", 3, 15, "unexpected 'fast'"),
    ("SET pacing = sprint", "DSL_INVALID_VALUE", 1, 14, "use slow, medium or fast"),
    ("SET transitionType = gradaul", "DSL_INVALID_VALUE", 1, 22, "did you mean 'gradual'"),
    ('SET moodTo = "  "', "DSL_INVALID_VALUE", 1, 14, "1 to 200 characters"),
    ('SET moodTo = "' + "m" * 201 + '"', "DSL_INVALID_VALUE", 1, 14, "1 to 200 characters"),
    ("CONSTRAINT rating=NC-17", "DSL_INVALID_VALUE", 1, 19, "is not a rating"),
    ('CONSTRAINT AVOID "--"', "DSL_INVALID_VALUE", 1, 18, "an element"),
    ('INCLUDE "' + "e" * 101 + '"', "DSL_INVALID_VALUE", 1, 9, "an element"),
    ('INCLUDE callback_to_scene("")', "DSL_INVALID_VALUE", 1, 27, "needs a scene name"),
    ('INCLUDE callback("kiss")', "DSL_UNKNOWN_FUNCTION", 1, 9, "unknown function 'callback'"),
    ("DURATION 1-100000s", "DSL_INVALID_VALUE", 1, 12, "at most 86400 seconds"),
    ("IF stats.a > 1234567890123456 THEN pacing = fast", "DSL_INVALID_VALUE", 1, 14, "number too long"),
    (MANY, "DSL_TOO_MANY_ELEMENTS", 1, MANY.index("e50") + 1, "more than 50"),
    ("IF " + "not " * 120 + "flags.a THEN pacing = fast", "DSL_TOO_DEEP", 1, 3 + 4 * 99 + 1, "nested more than 100"),
]


@pytest.mark.parametrize(
    ("source", "code", "line", "column", "fragment"), ERROR_CASES, ids=[c[0][:40] for c in ERROR_CASES]
)
def test_each_error_has_line_column_and_a_caret_excerpt(source: str, code: str, line: int, column: int, fragment: str):
    result = compile_rules(source)
    assert result.program is None
    error = result.errors[0]
    assert (error.code, error.line, error.column) == (code, line, column), error.message
    assert fragment in error.message
    text, caret = error.excerpt.split("\n")
    assert caret.endswith("^")
    if len(source.split("\n")[line - 1]) <= 100:
        assert text == source.split("\n")[line - 1]
        assert len(caret) == column


def test_every_value_error_is_reported_not_only_the_first():
    result = compile_rules("SET pacing = sprint\nCONSTRAINT rating=X\nINCLUDE cb('x')")
    assert [(e.code, e.line) for e in result.errors] == [
        ("DSL_INVALID_VALUE", 1),
        ("DSL_INVALID_VALUE", 2),
        ("DSL_UNKNOWN_FUNCTION", 3),
    ]


def test_the_caret_lines_up_under_tabs_and_in_long_lines():
    tabbed = compile_rules("IF flags.a THEN\n\t\tpacing = @").errors[0]
    assert tabbed.excerpt == "\t\tpacing = @\n\t\t         ^"
    long_line = "SET moodTo = m " * 20 + "pacing = @"
    error = compile_rules(long_line).errors[0]
    text, caret = error.excerpt.split("\n")
    assert error.column == len(long_line)
    assert len(text) == 100
    assert text[len(caret) - 1] == "@"


def test_source_over_the_limit_is_an_error_not_a_crash():
    result = compile_rules("#" * (MAX_SOURCE_CHARS + 1))
    assert [(e.code, e.line, e.column) for e in result.errors] == [("DSL_TOO_LONG", 1, 1)]


# --- fuzzing ------------------------------------------------------------------------------------

DOC_SOURCES = [
    SPEC,
    'IF stats.courage >= 70 THEN pacing = fast, moodTo = "bold"\nELSE IF stats.courage >= 30 THEN pacing = medium\n'
    "ELSE pacing = slow",
    'IF flags.kissed THEN {\n  INCLUDE callback_to_scene("kiss")\n  SET moodFrom = "romantic"\n} ELSE {\n'
    "  CONSTRAINT AVOID kiss_callback\n}",
    "IF (social.relationshipValues.affinity >= 60 or flags.saved_her) and not stats.suspicion > 50\n"
    '  THEN moodTo = "tender"',
]
KEYWORDS = ["IF", "THEN", "ELSE", "SET", "INCLUDE", "DURATION", "TARGET", "CONSTRAINT", "rating", "AVOID"]
PUNCTUATION = ["(", ")", "{", "}", ",", ".", "=", "==", "!=", "<", "<=", ">", ">=", "-", "s", "#", "//", '"', "'"]
WORDS = ["and", "or", "not", "true", "false", "20", "3.5", "0", '"x"', "'y'", "player_choice", "flags", "stats"]
WORDS += ["social", "quest_accept", "intimacyBand", "relationshipValues.affinity", 'callback_to_scene("kiss")']
WORDS += ["fast", "PG-13", "violence", "pacing", "moodTo", "\n", "\t", "\r\n", "é", "\x00"]
TOKENS = KEYWORDS + PUNCTUATION + WORDS


def check(result: CompileResult, source: str) -> None:
    """The invariant: a program and no errors, or no program and positioned errors."""
    assert (result.program is None) == bool(result.errors)
    lines = source.count("\n") + 1
    for finding in (*result.errors, *result.warnings):
        assert 1 <= finding.line <= lines, (finding, source)
        assert finding.column >= 1
        assert finding.message
        assert finding.excerpt.split("\n")[-1].endswith("^")


# What a client may send: no control character (the wire contract refuses them, `domain/ids.py`).
wire_text = st.text(st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\ufffd"), max_size=5)
player_values = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), wire_text)
names = st.sampled_from(["quest_accept", "kissed", "saved_her", "met", "a", "x", "courage", "suspicion", "hp"])
players = st.one_of(
    st.none(),
    st.builds(
        PlayerContext,
        choices=st.one_of(st.none(), st.dictionaries(names, player_values, max_size=5)),
        flags=st.one_of(st.none(), st.dictionaries(names, player_values, max_size=5)),
        stats=st.one_of(st.none(), st.dictionaries(names, st.floats(-1e6, 1e6), max_size=5)),
    ),
)
socials = st.one_of(
    st.none(),
    st.builds(
        SocialContext.model_validate,
        st.fixed_dictionaries(
            {},
            optional={
                "intimacyBand": st.sampled_from(["none", "light", "deep", "intense"]),
                "relationshipTierId": wire_text.filter(str.strip),
                "contentRating": st.sampled_from(["sfw", "romantic", "mature_implied", "restricted"]),
                "relationshipValues": st.fixed_dictionaries(
                    {}, optional={"affinity": st.floats(-1000, 1000), "trust": st.floats(-1000, 1000)}
                ),
            },
        ),
    ),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = GenerationNodeConfig.model_validate({"generationType": "transition"})


def evaluates_cleanly(result: CompileResult, player: PlayerContext | None, social: SocialContext | None) -> None:
    if result.program is None:
        return
    evaluation = evaluate(result.program, player_context=player, social_context=social)
    apply_overrides(BASE, evaluation.overrides)  # the overrides always make a schema-valid config
    for warning in evaluation.warnings:
        assert warning.line >= 1
        assert warning.column >= 1


@FUZZ
@given(st.text())
def test_any_text_compiles_or_gives_positioned_errors(source: str):
    check(compile_rules(source), source)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40), players, socials)
def test_any_token_soup_compiles_or_gives_positioned_errors(tokens: list[str], player: Any, social: Any):
    source = " ".join(tokens)
    result = compile_rules(source)
    check(result, source)
    evaluates_cleanly(result, player, social)


@st.composite
def mutations(draw: st.DrawFn) -> str:
    source = draw(st.sampled_from(DOC_SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(source)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        end = min(len(source), at + draw(st.integers(1, 12)))
        if kind == "delete":
            source = source[:at] + source[end:]
        elif kind == "insert":
            source = source[:at] + draw(st.sampled_from(TOKENS)) + source[at:]
        elif kind == "replace":
            source = source[:at] + draw(st.text(max_size=3)) + source[end:]
        else:
            source = source[:end] + source[at:end] + source[end:]
    return source


@FUZZ
@given(mutations(), players, socials)
def test_mutated_valid_programs_compile_or_give_positioned_errors(source: str, player: Any, social: Any):
    result = compile_rules(source)
    check(result, source)
    evaluates_cleanly(result, player, social)


operands = st.sampled_from(
    [
        "player_choice.quest_accept",
        "flags.met",
        "flags.x",
        "stats.hp",
        "stats.courage",
        "social.intimacyBand",
        "social.relationshipValues.affinity",
        "social.relationship_values.trust",
        "true",
        "false",
        "0",
        "-3",
        "2.5",
        '"deep"',
        '"north"',
    ]
)
comparisons = st.one_of(
    operands, st.tuples(operands, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), operands).map(" ".join)
)
conditions = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        inner.map(lambda c: f"not {c}"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    ),
    max_leaves=8,
)
assignments = st.lists(
    st.sampled_from(
        ["pacing = fast", "pacing = slow", 'moodTo = "calm"', "mood_from = tense", "transitionType = abrupt"]
    ),
    min_size=1,
    max_size=3,
).map(", ".join)
simple = st.one_of(
    assignments.map(lambda a: f"SET {a}"),
    st.sampled_from(["INCLUDE phone_ring", 'INCLUDE callback_to_scene("kiss"), violence', "INCLUDE x"]),
    st.tuples(st.integers(1, 100), st.integers(1, 100), st.integers(1, 100)).map(
        lambda d: f"DURATION {d[0]}-{d[1]}s TARGET {d[2]}s"
    ),
    st.sampled_from(["CONSTRAINT rating=PG-13 AVOID violence", "CONSTRAINT AVOID x, gore", "CONSTRAINT rating=g"]),
)


def _if(parts: tuple[str, str, str | None]) -> str:
    condition, then, otherwise = parts
    return f"IF {condition} THEN {then}" + (f" ELSE {otherwise}" if otherwise else "")


statements = st.recursive(
    simple,
    lambda inner: st.one_of(
        st.tuples(conditions, assignments, st.one_of(st.none(), assignments)).map(_if),
        st.tuples(
            conditions,
            st.lists(inner, max_size=3).map(lambda s: "{ " + "\n".join(s) + " }"),
            st.one_of(st.none(), st.lists(inner, max_size=3).map(lambda s: "{ " + "\n".join(s) + " }")),
        ).map(_if),
    ),
    max_leaves=6,
)


@FUZZ
@given(st.lists(statements, max_size=5).map("\n".join), players, socials)
def test_generated_programs_compile_and_evaluate_for_any_context(source: str, player: Any, social: Any):
    result = compile_rules(source)
    check(result, source)
    assert result.program is not None, [e.message for e in result.errors]
    evaluates_cleanly(result, player, social)


@FUZZ
@given(players, socials)
def test_the_spec_example_evaluates_for_any_context(player: Any, social: Any):
    program = compiled(SPEC).program
    assert program is not None
    evaluation = evaluate(program, player_context=player, social_context=social)
    accepted = player is not None and (player.choices or {}).get("quest_accept") is True
    assert evaluation.overrides["style"]["pacing"] == ("fast" if accepted else "slow")
    assert {k: evaluation.overrides[k] for k in BOTH} == BOTH


# --- contradictions (issue 14): proven on a branch some context reaches, they block a save -----------

CONTRADICTIONS = [
    pytest.param("INCLUDE violence\nCONSTRAINT AVOID Violence", 1, 9, "in every context", id="required-and-avoided"),
    pytest.param(
        "IF stats.hp < 3 THEN { DURATION 40-20s }", 1, 24, "the IF condition on line 1 is true", id="inverted-range"
    ),
    pytest.param("IF flags.x THEN {}\nELSE { INCLUDE blood }", 2, 16, "line 1 is false", id="node-avoids-it"),
]


@pytest.mark.parametrize(("source", "line", "column", "branch"), CONTRADICTIONS)
def test_a_contradiction_on_a_reachable_branch_is_an_error_naming_the_branch_and_line(
    source: str, line: int, column: int, branch: str
) -> None:
    config = GenerationNodeConfig.model_validate(
        {"generationType": "transition", "rules": source, "constraints": {"avoidElements": ["blood"]}}
    )

    result = check_node(config)

    assert result.status is NodeStatus.ERRORS
    [finding] = [f for f in result.findings if f.code == "DSL_CONTRADICTION"]
    assert finding.severity is Severity.ERROR
    assert finding.message.startswith(f"line {line}, column {column}: ")
    assert branch in finding.message
    assert not [f for f in result.findings if f.severity is Severity.WARNING and f.message == finding.message]


@pytest.mark.parametrize(
    "source",
    [
        "IF stats.hp < 3 and stats.hp > 5 THEN { DURATION 40-20s }",  # the branch never runs: a warning only
        "IF flags.a THEN { INCLUDE x } ELSE { CONSTRAINT AVOID x }",  # never both at once
    ],
)
def test_what_no_context_reaches_is_not_a_contradiction(source: str) -> None:
    config = GenerationNodeConfig.model_validate({"generationType": "transition", "rules": source})

    assert "DSL_CONTRADICTION" not in {f.code for f in check_node(config).findings}
