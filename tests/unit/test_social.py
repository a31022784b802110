"""Social context: the relationship table, tiers and bands filled in, explicit values winning, band caps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dyngen.config import Settings
from dyngen.domain.contracts import Rating, RelationshipValues, SocialContext
from dyngen.domain.social import (
    BAND_CAP,
    BAND_ORDER,
    DEFAULT_RELATIONSHIP_TABLE,
    DEFAULT_RELATIONSHIP_TIERS,
    RelationshipTable,
    RelationshipTier,
    cap_band,
    relationship,
    resolve_social,
)
from tests.support.markdown import doc_table

DOC = (Path(__file__).resolve().parents[2] / "docs" / "social.md").read_text()
BANDS = ["none", "light", "deep", "intense"]


def ctx(**fields: Any) -> SocialContext:
    return SocialContext.model_validate(fields)


def affinity(value: float) -> RelationshipValues:
    return RelationshipValues(affinity=value)


# --- the default table and its boundaries --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tier", "band"),
    [
        (-1000, "stranger", "none"),
        (-50, "stranger", "none"),
        (-0.01, "stranger", "none"),
        (0, "stranger", "none"),
        (9.99, "stranger", "none"),
        (10, "acquaintance", "none"),
        (29, "acquaintance", "none"),
        (29.99, "acquaintance", "none"),
        (30, "friend", "light"),
        (59, "friend", "light"),
        (59.99, "friend", "light"),
        (60, "close_friend", "deep"),
        (79, "close_friend", "deep"),
        (79.99, "close_friend", "deep"),
        (80, "lover", "intense"),
        (100, "lover", "intense"),
        (1000, "lover", "intense"),
    ],
)
def test_default_table_boundaries(value: float, tier: str, band: str) -> None:
    assert relationship(affinity(value), table=DEFAULT_RELATIONSHIP_TABLE) == (tier, band)


@pytest.mark.parametrize(
    "values",
    [None, RelationshipValues(), RelationshipValues(trust=90, chemistry=90, tension=0)],
    ids=["no-values", "empty-values", "values-without-affinity"],
)
def test_without_an_affinity_there_is_no_tier(values: RelationshipValues | None) -> None:
    assert relationship(values, table=DEFAULT_RELATIONSHIP_TABLE) is None


def test_only_affinity_chooses_the_tier() -> None:
    cold = RelationshipValues(affinity=35, trust=-100, chemistry=-100, tension=100)
    assert relationship(cold, table=DEFAULT_RELATIONSHIP_TABLE) == ("friend", "light")


def test_the_documented_default_table_is_the_codes() -> None:
    rows = doc_table(DOC, "The default table")
    assert [RelationshipTier(min_affinity=float(m), tier=t, band=b) for m, t, b in rows] == list(
        DEFAULT_RELATIONSHIP_TIERS
    )
    assert DEFAULT_RELATIONSHIP_TABLE.tiers == DEFAULT_RELATIONSHIP_TIERS


# --- a configured table --------------------------------------------------------------------------------------

CUSTOM = [
    {"min_affinity": 50, "tier": "ally", "band": "light"},
    {"min_affinity": 0, "tier": "stranger", "band": "none"},
    {"min_affinity": 90, "tier": "partner", "band": "intense"},
]


def test_a_configured_table_is_sorted_and_used() -> None:
    table = RelationshipTable.model_validate({"tiers": CUSTOM})
    assert [t.tier for t in table.tiers] == ["stranger", "ally", "partner"]
    assert relationship(affinity(49.9), table=table) == ("stranger", "none")
    assert relationship(affinity(50), table=table) == ("ally", "light")
    assert relationship(affinity(95), table=table) == ("partner", "intense")


def test_an_affinity_below_every_row_takes_the_first_row() -> None:
    table = RelationshipTable.model_validate({"tiers": CUSTOM})
    assert relationship(affinity(-20), table=table) == ("stranger", "none")


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], "at least 1"),
        (
            [*CUSTOM, {"min_affinity": 50, "tier": "mate", "band": "deep"}],
            "'ally' and 'mate' both start at affinity 50",
        ),
        ([*CUSTOM, {"min_affinity": 70, "tier": "ally", "band": "deep"}], "tier ids must be unique: ally"),
        ([{"min_affinity": 0, "tier": "x", "band": "extreme"}], "band"),
        ([{"min_affinity": 0, "tier": "", "band": "none"}], "tier"),
    ],
    ids=["empty", "same-minimum", "same-tier", "unknown-band", "empty-tier"],
)
def test_a_broken_table_is_refused_naming_the_problem(tiers: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RelationshipTable.model_validate({"tiers": tiers})


def test_settings_default_to_the_default_table() -> None:
    assert Settings().relationship_table == DEFAULT_RELATIONSHIP_TABLE


def test_settings_read_a_table_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNGEN_RELATIONSHIP_TIERS", json.dumps(CUSTOM))
    table = Settings().relationship_table
    assert relationship(affinity(60), table=table) == ("ally", "light")


def test_settings_refuse_a_broken_table_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"min_affinity": 0, "tier": "a", "band": "none"}, {"min_affinity": 0, "tier": "b", "band": "light"}]
    monkeypatch.setenv("DYNGEN_RELATIONSHIP_TIERS", json.dumps(rows))
    with pytest.raises(ValidationError, match=r"relationship_tiers\n.*'a' and 'b' both start at affinity 0"):
        Settings()


# --- resolve_social: fill in, explicit values win --------------------------------------------------------------


def test_tier_and_band_are_filled_from_affinity() -> None:
    resolved = resolve_social(ctx(relationshipValues={"affinity": 65}), node_rating=Rating.R)
    assert (resolved.relationship_tier_id, resolved.intimacy_band) == ("close_friend", "deep")


def test_everything_else_is_kept() -> None:
    given = ctx(
        relationshipValues={"affinity": 40, "trust": 3},
        npcIds=["npc_marla"],
        intimacyLevelId="level_2",
        contentRating="romantic",
        worldMaxRating="restricted",
    )
    resolved = resolve_social(given, node_rating=Rating.R)
    assert resolved.model_dump(exclude={"relationship_tier_id", "intimacy_band"}) == given.model_dump(
        exclude={"relationship_tier_id", "intimacy_band"}
    )
    assert (resolved.relationship_tier_id, resolved.intimacy_band) == ("friend", "light")


def test_an_explicit_tier_wins_and_brings_its_own_band() -> None:
    resolved = resolve_social(
        ctx(relationshipTierId="friend", relationshipValues={"affinity": 95}), node_rating=Rating.R
    )
    assert (resolved.relationship_tier_id, resolved.intimacy_band) == ("friend", "light")


def test_an_explicit_band_wins_over_the_table() -> None:
    resolved = resolve_social(ctx(intimacyBand="none", relationshipValues={"affinity": 95}), node_rating=Rating.R)
    assert (resolved.relationship_tier_id, resolved.intimacy_band) == ("lover", "none")


def test_explicit_tier_and_band_both_win() -> None:
    given = ctx(relationshipTierId="rival", intimacyBand="light", relationshipValues={"affinity": 95})
    assert resolve_social(given, node_rating=Rating.R) == given


def test_an_explicit_tier_the_table_does_not_know_takes_the_affinitys_band() -> None:
    resolved = resolve_social(
        ctx(relationshipTierId="rival", relationshipValues={"affinity": 65}), node_rating=Rating.R
    )
    assert (resolved.relationship_tier_id, resolved.intimacy_band) == ("rival", "deep")


def test_an_explicit_known_tier_without_affinity_gets_its_band() -> None:
    resolved = resolve_social(ctx(relationshipTierId="lover"), node_rating=Rating.R)
    assert resolved.intimacy_band == "intense"


@pytest.mark.parametrize(
    "given",
    [
        ctx(),
        ctx(npcIds=["npc_marla"], contentRating="romantic"),
        ctx(relationshipValues={"trust": 80}),
        ctx(relationshipTierId="rival"),
    ],
    ids=["empty", "no-relationship", "no-affinity", "unknown-tier-no-affinity"],
)
def test_a_context_without_an_affinity_is_left_as_it_is(given: SocialContext) -> None:
    assert resolve_social(given, node_rating=Rating.R) is given


def test_no_context_stays_none() -> None:
    assert resolve_social(None, node_rating=Rating.G) is None


def test_a_configured_table_is_used() -> None:
    table = RelationshipTable.model_validate({"tiers": CUSTOM})
    resolved = resolve_social(ctx(relationshipValues={"affinity": 65}), node_rating=Rating.R, table=table)
    assert (resolved.relationship_tier_id, resolved.intimacy_band) == ("ally", "light")


# --- band caps --------------------------------------------------------------------------------------------------

CAP = {"G": "light", "PG": "light", "PG-13": "deep", "R": "intense"}


def test_band_order_and_caps() -> None:
    assert list(BAND_ORDER) == BANDS
    assert {r.value: b for r, b in BAND_CAP.items()} == CAP


def test_the_documented_caps_are_the_codes() -> None:
    assert dict(doc_table(DOC, "## Band caps")) == CAP


@pytest.mark.parametrize("rating", list(CAP))
@pytest.mark.parametrize("band", BANDS)
def test_band_cap_per_rating(rating: str, band: str) -> None:
    expected = band if BANDS.index(band) <= BANDS.index(CAP[rating]) else CAP[rating]
    assert cap_band(band, Rating(rating)) == expected
    # the same cap whether the band was given or came from the table
    given = resolve_social(ctx(intimacyBand=band), node_rating=Rating(rating))
    assert given.intimacy_band == expected


@pytest.mark.parametrize(("rating", "band"), list(CAP.items()))
def test_a_lover_is_served_with_the_band_the_rating_allows(rating: str, band: str) -> None:
    resolved = resolve_social(ctx(relationshipValues={"affinity": 90}), node_rating=Rating(rating))
    assert (resolved.relationship_tier_id, resolved.intimacy_band) == ("lover", band)


@pytest.mark.parametrize(
    ("fields", "band"),
    [
        ({"userMaxRating": "romantic"}, "light"),
        ({"worldMaxRating": "mature_implied"}, "deep"),
        ({"worldMaxRating": "sfw", "userMaxRating": "restricted"}, "light"),
        ({"contentRating": "mature_implied"}, "deep"),
        ({"worldMaxRating": "restricted", "userMaxRating": "restricted"}, "intense"),
    ],
    ids=["user-max", "world-max", "lower-of-both", "content-rating", "no-clamp"],
)
def test_the_cap_follows_the_clamped_rating_not_the_nodes(fields: dict[str, str], band: str) -> None:
    resolved = resolve_social(ctx(relationshipValues={"affinity": 90}, **fields), node_rating=Rating.R)
    assert resolved.intimacy_band == band
