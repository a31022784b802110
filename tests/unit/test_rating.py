"""Ratings: the clamp table, the element lexicon and the validator rule that keeps elements within the rating."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from dyngen.domain.contracts import (
    ContentRating,
    GenerationNodeConfig,
    NodeStatus,
    Rating,
    Severity,
    SocialContext,
)
from dyngen.domain.rating import (
    CONTENT_RATING_EQUIVALENT,
    ELEMENT_MIN_RATING,
    RATING_ORDER,
    RatingDecision,
    RatingLimit,
    effective_rating,
    element_min_rating,
    element_words,
    elements_over_rating,
)
from dyngen.domain.validation import normalise_element, validate_config
from tests.support.examples import SPEC_TEMPLATE
from tests.support.markdown import doc_table

DOC = (Path(__file__).resolve().parents[2] / "docs" / "social.md").read_text()

# The oracle: levels written out by hand, independent of the module's order.
LEVEL = {"G": 0, "PG": 1, "PG-13": 2, "R": 3}
CONTENT_LEVEL = {"sfw": 0, "romantic": 1, "mature_implied": 2, "restricted": 3}
FILM = {level: name for name, level in LEVEL.items()}
MAXIMUMS = [None, "sfw", "romantic", "mature_implied", "restricted"]


def social(**fields: Any) -> SocialContext:
    return SocialContext.model_validate({k: v for k, v in fields.items() if v is not None})


# --- the order and the mapping ------------------------------------------------------------------------------


def test_the_order_is_g_pg_pg13_r_and_each_content_rating_stands_for_one_step() -> None:
    assert [r.value for r in RATING_ORDER] == ["G", "PG", "PG-13", "R"]
    assert {c.value: r.value for c, r in CONTENT_RATING_EQUIVALENT.items()} == {
        "sfw": "G",
        "romantic": "PG",
        "mature_implied": "PG-13",
        "restricted": "R",
    }


def test_the_documented_mapping_is_the_codes() -> None:
    rows = doc_table(DOC, "## Rating order")
    assert [(film, content) for film, content, _ in rows] == [
        (r.value, c.value) for c, r in CONTENT_RATING_EQUIVALENT.items()
    ]


# --- the clamp table: every node rating x world maximum x user maximum --------------------------------------


@pytest.mark.parametrize(
    ("node", "world", "user"),
    list(itertools.product(LEVEL, MAXIMUMS, MAXIMUMS)),
    ids=str,
)
def test_clamp_table(node: str, world: str | None, user: str | None) -> None:
    limits = {"world": CONTENT_LEVEL.get(world or ""), "user": CONTENT_LEVEL.get(user or "")}
    expected = min([LEVEL[node], *(v for v in limits.values() if v is not None)])
    clamped = expected < LEVEL[node]
    by = [name for name, level in limits.items() if clamped and level == expected]

    decision = effective_rating(Rating(node), social(worldMaxRating=world, userMaxRating=user))

    assert decision.effective is Rating(FILM[expected])
    assert decision.requested is Rating(node)
    assert decision.clamped is clamped
    assert [b.value for b in decision.clamped_by] == by
    assert decision.world_max == (Rating(FILM[CONTENT_LEVEL[world]]) if world else None)
    assert decision.user_max == (Rating(FILM[CONTENT_LEVEL[user]]) if user else None)
    if clamped:
        assert decision.reason is not None
        assert decision.reason.startswith(f"{node} requested, clamped to {FILM[expected]} by the ")
        assert all(f"{name} maximum" in decision.reason for name in by)
        assert f"({next(c for c, v in CONTENT_LEVEL.items() if v == expected)})" in decision.reason
    else:
        assert decision.reason is None


@pytest.mark.parametrize("node", list(LEVEL))
def test_no_social_context_is_never_clamped(node: str) -> None:
    assert effective_rating(Rating(node), None) == RatingDecision(
        effective=Rating(node), requested=Rating(node), clamped=False
    )


@pytest.mark.parametrize(("node", "content"), list(itertools.product(LEVEL, CONTENT_LEVEL)))
def test_content_rating_can_lower_the_request_but_never_raise_it(node: str, content: str) -> None:
    decision = effective_rating(Rating(node), social(contentRating=content))
    expected = FILM[min(LEVEL[node], CONTENT_LEVEL[content])]
    assert (decision.requested, decision.effective, decision.clamped) == (Rating(expected), Rating(expected), False)


def test_a_maximum_clamps_what_the_content_rating_asked_for() -> None:
    decision = effective_rating(Rating.R, social(contentRating="mature_implied", worldMaxRating="romantic"))
    assert (decision.requested, decision.effective, decision.clamped_by) == (
        Rating.PG_13,
        Rating.PG,
        (RatingLimit.WORLD,),
    )


def test_the_decision_serialises_with_snake_case_fields() -> None:
    decision = effective_rating(Rating.PG_13, social(worldMaxRating="restricted", userMaxRating="romantic"))
    assert decision.model_dump(mode="json") == {
        "effective": "PG",
        "requested": "PG-13",
        "clamped": True,
        "clamped_by": ["user"],
        "world_max": "R",
        "user_max": "PG",
        "reason": "PG-13 requested, clamped to PG by the user maximum (romantic)",
    }


def test_the_documented_clamp_examples_hold() -> None:
    rows = doc_table(DOC, "Examples:")
    assert len(rows) >= 6
    for node, content, world, user, effective, by in rows:
        decision = effective_rating(
            Rating(node),
            social(contentRating=content or None, worldMaxRating=world or None, userMaxRating=user or None),
        )
        assert decision.effective is Rating(effective), (node, content, world, user)
        expected_by = re.findall(r"\b(world|user)\b", by.split("(")[0])
        assert [b.value for b in decision.clamped_by] == expected_by, (node, content, world, user)
        assert decision.clamped is bool(expected_by)


# --- the element lexicon -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "needed"),
    [
        ("kiss_callback", "PG"),
        ("Kiss-Callback", "PG"),
        ("stolen kisses", "PG"),
        ("KISS", "PG"),
        ("romantic_dinner", "PG"),
        ("romance", "PG"),
        ("blood_moon", "PG-13"),
        ("glass_of_wine", "PG"),
        ("romantic_dinner_with_whiskey_and_wine", "PG-13"),  # the highest word wins
        ("violence", "PG-13"),
        ("death_scene", "PG-13"),
        ("swearing", "PG-13"),
        ("intimacy", "PG-13"),
        ("drinking_game", "PG-13"),
        ("gore", "R"),
        ("nudity", "R"),
        ("drugs", "R"),
        ("drug-deal", "R"),
        ("kiss_and_gore", "R"),
        ("phone_ring", "G"),
        ("kissable", "G"),  # a word inside a longer word is not that word
        ("bloodhound", "G"),
        ("wineglass", "G"),
        ("goretex_jacket", "G"),
        ("drink", "G"),
        ("rain", "G"),
    ],
)
def test_an_element_needs_the_highest_rating_of_its_words(element: str, needed: str) -> None:
    assert element_min_rating(element) is Rating(needed)


@pytest.mark.parametrize("word", sorted(ELEMENT_MIN_RATING))
def test_every_lexicon_word_fits_its_rating_and_not_the_one_below(word: str) -> None:
    needed = ELEMENT_MIN_RATING[word]
    element = f"sudden_{word}_callback"
    assert elements_over_rating([element], needed) == []
    assert elements_over_rating([element], Rating.R) == []
    below = RATING_ORDER[RATING_ORDER.index(needed) - 1]
    assert elements_over_rating([element], below) == [(element, needed)]


def test_the_documented_lexicon_is_the_codes() -> None:
    rows = doc_table(DOC, "The lexicon (`ELEMENT_MIN_RATING`):")
    assert {word: Rating(needs) for word, needs in rows} == dict(ELEMENT_MIN_RATING)


@pytest.mark.parametrize("element", ["phone_ring", "Phone  Ring", "kiss-callback", " a_b-c d ", "___", ""])
def test_element_words_split_like_the_validator_normalises(element: str) -> None:
    assert element_words(element) == [w for w in normalise_element(element).split("_") if w]


def test_elements_over_rating_lists_each_element_as_given_in_order() -> None:
    required = ["phone_ring", "Gore", "kiss_callback", "violence", "rain"]
    assert elements_over_rating(required, Rating.G) == [
        ("Gore", Rating.R),
        ("kiss_callback", Rating.PG),
        ("violence", Rating.PG_13),
    ]
    assert elements_over_rating(required, Rating.PG_13) == [("Gore", Rating.R)]
    assert elements_over_rating(required, Rating.R) == []
    assert elements_over_rating([], Rating.G) == []


# --- the validator rule ELEMENT_OVER_RATING ------------------------------------------------------------------

TEMPLATE: dict[str, Any] = SPEC_TEMPLATE


def config(rating: str = "PG-13", required: list[str] | None = None, **social_fields: str) -> GenerationNodeConfig:
    wire = {**TEMPLATE, "constraints": {**TEMPLATE["constraints"], "rating": rating}}
    if required is not None:
        wire["constraints"]["requiredElements"] = required
    if social_fields:
        wire["socialContext"] = social_fields
    return GenerationNodeConfig.model_validate(wire)


def over_rating(node: GenerationNodeConfig) -> list[str]:
    findings = validate_config(node).findings
    found = [f for f in findings if f.code == "ELEMENT_OVER_RATING"]
    assert all((f.field, f.severity) == ("constraints.requiredElements", Severity.ERROR) for f in found)
    return [f.message for f in found]


def test_the_spec_template_validates_ok() -> None:
    result = validate_config(config())
    assert (result.status, result.findings) == (NodeStatus.OK, [])


@pytest.mark.parametrize("user_max", ["romantic", "mature_implied", "restricted"])
def test_the_spec_template_still_fits_a_user_maximum_that_allows_a_kiss(user_max: str) -> None:
    assert validate_config(config(userMaxRating=user_max)).status is NodeStatus.OK


def test_a_user_maximum_below_the_kiss_is_an_error_naming_element_ratings_and_clamp() -> None:
    result = validate_config(config(userMaxRating="sfw"))
    assert result.status is NodeStatus.ERRORS
    (message,) = over_rating(config(userMaxRating="sfw"))
    assert "'kiss_callback'" in message
    assert "needs rating PG (because of 'kiss')" in message
    assert "effective rating is G" in message
    assert "clamped to G by the user maximum (sfw)" in message


def test_an_element_above_the_nodes_own_rating_is_an_error() -> None:
    (message,) = over_rating(config(rating="PG", required=["violence", "phone_ring"]))
    assert message.startswith("required element 'violence' needs rating PG-13 but the effective rating is PG:")


def test_the_world_maximum_clamps_the_rating_the_rule_checks() -> None:
    assert over_rating(config(rating="R", required=["gore"])) == []
    (message,) = over_rating(config(rating="R", required=["gore"], worldMaxRating="mature_implied"))
    assert "'gore' needs rating R" in message
    assert "effective rating is PG-13 (R requested, clamped to PG-13 by the world maximum" in message


def test_a_lower_content_rating_lowers_the_rating_the_rule_checks() -> None:
    (message,) = over_rating(config(rating="PG-13", contentRating="sfw"))
    assert "'kiss_callback' needs rating PG" in message
    assert "effective rating is G" in message
    assert over_rating(config(rating="PG", contentRating="restricted", required=["violence"])) != []


def test_every_element_over_the_rating_is_reported_in_order() -> None:
    messages = over_rating(config(rating="G", required=["rain", "drugs", "kiss", "wine", "phone_ring"]))
    assert [m.split("'")[1] for m in messages] == ["drugs", "kiss", "wine"]
    assert "needs rating R (because of 'drug')" in messages[0]


def test_a_disabled_node_still_shows_the_finding() -> None:
    wire = {**TEMPLATE, "enabled": False, "socialContext": {"userMaxRating": ContentRating.SFW.value}}
    result = validate_config(GenerationNodeConfig.model_validate(wire))
    assert result.status is NodeStatus.DISABLED
    assert [f.code for f in result.findings] == ["ELEMENT_OVER_RATING"]
