"""Social context: relationship tiers and intimacy bands from relationship values, capped by the rating.

Relationship table (`RelationshipTable`, configurable with `DYNGEN_RELATIONSHIP_TIERS`): rows of
(minimum affinity, tier id, intimacy band). An affinity falls in the last row whose minimum it reaches;
a value below every minimum falls in the first row. The defaults::

    affinity        tier            band
    below 10        stranger        none
    10 to 29.99     acquaintance    none
    30 to 59.99     friend          light
    60 to 79.99     close_friend    deep
    80 and above    lover           intense

The default bands follow how much closeness each tier has earned: nothing is implied between strangers or
acquaintances, friends share light warmth (a hug, a hand on the shoulder), close friends deep trust
and confiding, lovers the full range. Only affinity chooses the row; trust, chemistry and tension are
left to the provider's tone.

Band caps (`BAND_CAP`): the effective rating bounds the band whatever set it, so a request never gets
more intimacy than its rating allows:

    G, PG   at most light
    PG-13   at most deep
    R       intense

`resolve_social` fills `relationshipTierId` and `intimacyBand` when the request leaves them out; values
the request gives win over the table (but not over the cap). Without an affinity nothing is filled in:
a context that says nothing about the relationship is left as it is, so it keeps its cache key.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Annotated, Literal, get_args, overload

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dyngen.domain.contracts import Rating, RelationshipValues, SocialContext
from dyngen.domain.rating import effective_rating

IntimacyBand = Literal["none", "light", "deep", "intense"]

BAND_ORDER: tuple[IntimacyBand, ...] = get_args(IntimacyBand)
"""Intimacy bands from none to the most intimate."""

BAND_CAP: Mapping[Rating, IntimacyBand] = MappingProxyType(
    {Rating.G: "light", Rating.PG: "light", Rating.PG_13: "deep", Rating.R: "intense"}
)
"""The most intimate band each effective rating allows."""


def cap_band(band: IntimacyBand, rating: Rating) -> IntimacyBand:
    """`band`, lowered to the most intimate band `rating` allows."""
    cap = BAND_CAP[rating]
    return band if BAND_ORDER.index(band) <= BAND_ORDER.index(cap) else cap


class RelationshipTier(BaseModel):
    """One row of the relationship table: from `min_affinity` up, a relationship is `tier` with `band`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    min_affinity: Annotated[float, Field(ge=-1000, le=1000)]
    tier: Annotated[str, Field(min_length=1, max_length=200)]
    band: IntimacyBand


DEFAULT_RELATIONSHIP_TIERS: tuple[RelationshipTier, ...] = (
    # -1000 is the lowest affinity a request can carry: every negative affinity is a stranger's.
    RelationshipTier(min_affinity=-1000, tier="stranger", band="none"),
    RelationshipTier(min_affinity=10, tier="acquaintance", band="none"),
    RelationshipTier(min_affinity=30, tier="friend", band="light"),
    RelationshipTier(min_affinity=60, tier="close_friend", band="deep"),
    RelationshipTier(min_affinity=80, tier="lover", band="intense"),
)
"""The default relationship table (see the module docstring)."""


def sorted_tiers(tiers: Iterable[RelationshipTier]) -> tuple[RelationshipTier, ...]:
    """Table rows sorted by minimum affinity.

    Raises:
        ValueError: Two rows start at the same affinity, or share a tier id.
    """
    ordered = tuple(sorted(tiers, key=lambda t: t.min_affinity))
    for low, high in itertools.pairwise(ordered):
        if low.min_affinity == high.min_affinity:
            raise ValueError(f"tiers '{low.tier}' and '{high.tier}' both start at affinity {low.min_affinity:g}")
    names = [t.tier for t in ordered]
    if duplicated := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"tier ids must be unique: {', '.join(duplicated)}")
    return ordered


class RelationshipTable(BaseModel):
    """Rows of (minimum affinity, tier, band), sorted by minimum; minimums and tier ids are unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: tuple[RelationshipTier, ...] = Field(default=DEFAULT_RELATIONSHIP_TIERS, min_length=1, max_length=100)

    @field_validator("tiers")
    @classmethod
    def _sorted_and_unique(cls, tiers: tuple[RelationshipTier, ...]) -> tuple[RelationshipTier, ...]:
        return sorted_tiers(tiers)

    def tier_for(self, affinity: float) -> RelationshipTier:
        """The row an affinity falls in: the last one whose minimum it reaches, else the first."""
        found = self.tiers[0]
        for row in self.tiers:
            if affinity >= row.min_affinity:
                found = row
        return found

    def band_of(self, tier_id: str) -> IntimacyBand | None:
        """The band of a tier id in this table, None for a tier it does not have."""
        return next((row.band for row in self.tiers if row.tier == tier_id), None)


DEFAULT_RELATIONSHIP_TABLE = RelationshipTable()


def relationship(
    values: RelationshipValues | None, *, table: RelationshipTable = DEFAULT_RELATIONSHIP_TABLE
) -> tuple[str, IntimacyBand] | None:
    """The relationship tier and intimacy band that relationship values map to.

    Args:
        values: The request's relationship values; only `affinity` is read.
        table: The relationship table.

    Returns:
        (tier id, band) from the table, or None when there is no affinity to map.
    """
    if values is None or values.affinity is None:
        return None
    row = table.tier_for(values.affinity)
    return row.tier, row.band


@overload
def resolve_social(social: SocialContext, *, node_rating: Rating, table: RelationshipTable = ...) -> SocialContext: ...
@overload
def resolve_social(social: None, *, node_rating: Rating, table: RelationshipTable = ...) -> None: ...
def resolve_social(
    social: SocialContext | None, *, node_rating: Rating, table: RelationshipTable = DEFAULT_RELATIONSHIP_TABLE
) -> SocialContext | None:
    """A social context with its relationship tier and intimacy band filled in and the band capped.

    Args:
        social: The request's social context; None stays None (there is nothing to fill or cap).
        node_rating: The node's `constraints.rating`; with the context's maximums it gives the effective
            rating that caps the band (`BAND_CAP`).
        table: The relationship table.

    Returns:
        The context with `relationshipTierId` from the affinity when absent, `intimacyBand` when absent
        from the tier in force (the given tier's band when the table knows it, else the affinity's band),
        and the band lowered to the cap. Everything else is unchanged; given values are kept.
    """
    if social is None:
        return None
    mapped = relationship(social.relationship_values, table=table)
    tier = social.relationship_tier_id or (mapped[0] if mapped else None)
    band = social.intimacy_band
    if band is None:
        known = table.band_of(social.relationship_tier_id) if social.relationship_tier_id else None
        band = known or (mapped[1] if mapped else None)
    if band is not None:
        band = cap_band(band, effective_rating(node_rating, social).effective)
    if (tier, band) == (social.relationship_tier_id, social.intimacy_band):
        return social
    return social.model_copy(update={"relationship_tier_id": tier, "intimacy_band": band})
