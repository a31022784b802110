"""Content ratings: their order, the clamp to the world's and the user's maximum, and what elements need.

Two scales name the same four steps. Nodes speak film ratings (`constraints.rating`); the social context
speaks the spec's content ratings (`contentRating`, `worldMaxRating`, `userMaxRating`)::

    G   < PG       < PG-13          < R
    sfw < romantic < mature_implied < restricted

so sfw = G, romantic = PG, mature_implied = PG-13 and restricted = R.

The clamp (`effective_rating`): the effective rating is the most restrictive of the node's rating, the
world maximum and the user maximum. A social `contentRating` is part of the request: it can lower what
is asked for (a romantic scene inside a PG-13 node asks for PG), never raise it. When a maximum is below
what was asked for, the rating is *clamped* and the decision names the maximum(s) that set it, so a
response can say so instead of silently giving something else. A missing maximum sets no limit.

Elements (`ELEMENT_MIN_RATING`): some required elements cannot be honoured below a rating (a kiss in G
content). An element needs the highest rating any of its words needs; see the lexicon for the words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from dyngen.domain.contracts import ContentRating, Rating, SnakeModel, SocialContext

RATING_ORDER: tuple[Rating, ...] = (Rating.G, Rating.PG, Rating.PG_13, Rating.R)
"""Film ratings from the most to the least restrictive."""

CONTENT_RATING_EQUIVALENT: Mapping[ContentRating, Rating] = MappingProxyType(
    {
        ContentRating.SFW: Rating.G,
        ContentRating.ROMANTIC: Rating.PG,
        ContentRating.MATURE_IMPLIED: Rating.PG_13,
        ContentRating.RESTRICTED: Rating.R,
    }
)
"""The film rating each social content rating stands for (same place in the order)."""

_RANK = {rating: rank for rank, rating in enumerate(RATING_ORDER)}


def rank(rating: Rating | ContentRating) -> int:
    """The place of a rating in the order, 0 for the most restrictive (G / sfw)."""
    return _RANK[as_rating(rating)]


def as_rating(rating: Rating | ContentRating) -> Rating:
    """A rating on the film scale: `romantic` -> PG; a film rating is returned as it is."""
    return rating if isinstance(rating, Rating) else CONTENT_RATING_EQUIVALENT[rating]


def as_content_rating(rating: Rating) -> ContentRating:
    """The social content rating a film rating stands for: PG -> `romantic`."""
    return next(c for c, r in CONTENT_RATING_EQUIVALENT.items() if r is rating)


def most_restrictive(ratings: Iterable[Rating | ContentRating | None]) -> Rating | None:
    """The lowest of the given ratings on the film scale (None entries set no limit); None when none."""
    given = [as_rating(r) for r in ratings if r is not None]
    return min(given, key=rank) if given else None


class RatingLimit(StrEnum):
    """A maximum that can clamp a request."""

    WORLD = "world"
    USER = "user"


class RatingDecision(SnakeModel):
    """The rating content is made at, and why.

    Attributes:
        effective: The rating to generate at: the most restrictive of `requested`, `world_max` and
            `user_max`.
        requested: What was asked for: the node's rating, lowered to the social `contentRating` when that
            is lower.
        clamped: True when a maximum is below `requested`, so `effective` is lower than asked for.
        clamped_by: The maximums that set `effective` when clamped (both when they are equal); empty
            otherwise.
        world_max: The world maximum on the film scale, None when the context sets none.
        user_max: The user maximum on the film scale, None when the context sets none.
        reason: One sentence for people when clamped ("PG-13 requested, clamped to PG by the user
            maximum (romantic)"); None otherwise.
    """

    effective: Rating
    requested: Rating
    clamped: bool
    clamped_by: tuple[RatingLimit, ...] = ()
    world_max: Rating | None = None
    user_max: Rating | None = None
    reason: str | None = None


def effective_rating(node_rating: Rating, social: SocialContext | None) -> RatingDecision:
    """Clamp a node's rating to the world's and the user's maximum.

    Args:
        node_rating: The node's `constraints.rating`.
        social: The social context of the request, if any: its `contentRating` may lower the request,
            its `worldMaxRating` and `userMaxRating` cap it.

    Returns:
        The effective rating with what was requested and, when clamped, by which maximum.
    """
    content = social.content_rating if social else None
    requested = most_restrictive([node_rating, content])
    assert requested is not None  # the node's rating is always there
    world = as_rating(social.world_max_rating) if social and social.world_max_rating else None
    user = as_rating(social.user_max_rating) if social and social.user_max_rating else None
    effective = most_restrictive([requested, world, user])
    assert effective is not None
    if effective is requested:
        return RatingDecision(effective=effective, requested=requested, clamped=False, world_max=world, user_max=user)
    limits = {RatingLimit.WORLD: world, RatingLimit.USER: user}
    by = tuple(limit for limit, maximum in limits.items() if maximum is effective)
    names = " and the ".join(
        f"{limit.value} maximum ({as_content_rating(effective).value})" for limit in by
    )  # the wire's own spelling of the limit
    reason = f"{requested.value} requested, clamped to {effective.value} by the {names}"
    return RatingDecision(
        effective=effective,
        requested=requested,
        clamped=True,
        clamped_by=by,
        world_max=world,
        user_max=user,
        reason=reason,
    )


ELEMENT_MIN_RATING: Mapping[str, Rating] = MappingProxyType(
    {
        # PG: affection beyond the family-friendly.
        "kiss": Rating.PG,
        "kissing": Rating.PG,
        "romance": Rating.PG,
        "romantic": Rating.PG,
        "flirt": Rating.PG,
        "flirting": Rating.PG,
        # PG-13: implied intimacy, blood and violence, strong language, alcohol, death.
        "intimacy": Rating.PG_13,
        "blood": Rating.PG_13,
        "bloody": Rating.PG_13,
        "violence": Rating.PG_13,
        "violent": Rating.PG_13,
        "swearing": Rating.PG_13,
        "swear": Rating.PG_13,
        "profanity": Rating.PG_13,
        "alcohol": Rating.PG_13,
        "wine": Rating.PG,
        "beer": Rating.PG_13,
        "whiskey": Rating.PG_13,
        "drinking": Rating.PG_13,
        "drunk": Rating.PG_13,
        "death": Rating.PG_13,
        # R: graphic or explicit content, drugs.
        "gore": Rating.R,
        "gory": Rating.R,
        "nudity": Rating.R,
        "nude": Rating.R,
        "naked": Rating.R,
        "sex": Rating.R,
        "sexual": Rating.R,
        "drug": Rating.R,
    }
)
"""Words that make an element need at least a rating; a word not listed needs nothing (G).

Matching is by whole words of the element id (`_`, `-`, spaces and case ignored, as everywhere for
elements), with a plural `s`/`es` allowed: `kiss_callback` and `stolen-kisses` contain `kiss`, `drugs`
is `drug`; `kissable` and `bloodhound` contain no listed word. The list is deliberately short and
unambiguous: a word that often means something harmless (`drink`, `dead`, `fight`, `gun`) is left out,
because a false alarm blocks a designer's save while a missed word only leaves the rating to the provider.
"""


def element_words(element: str) -> list[str]:
    """The words of an element id: `Kiss-Callback` -> ["kiss", "callback"].

    The same split as `validation.normalise_element` (kept here because validation imports this module).
    """
    return element.lower().replace("-", " ").replace("_", " ").split()


def _lexicon_word(word: str) -> str | None:
    """The lexicon entry a word is, itself or as a plural (`kisses` -> `kiss`, `drugs` -> `drug`)."""
    for candidate in (word, word.removesuffix("s"), word.removesuffix("es")):
        if candidate in ELEMENT_MIN_RATING:
            return candidate
    return None


def element_needs(element: str) -> tuple[Rating, str] | None:
    """The rating an element needs and the word that needs it (the highest one); None when it needs none."""
    found = [entry for word in element_words(element) if (entry := _lexicon_word(word)) is not None]
    if not found:
        return None
    word = max(found, key=lambda w: rank(ELEMENT_MIN_RATING[w]))  # first of the highest, in element order
    return ELEMENT_MIN_RATING[word], word


def element_min_rating(element: str) -> Rating:
    """The lowest rating content with `element` can have: G unless a word of it is in the lexicon."""
    needs = element_needs(element)
    return needs[0] if needs else Rating.G


def elements_over_rating(required_elements: Iterable[str], rating: Rating) -> list[tuple[str, Rating]]:
    """The required elements that need a higher rating than `rating`, each with the rating it needs.

    Args:
        required_elements: Element ids as the node spells them.
        rating: The rating the content is made at (the effective one).

    Returns:
        (element as given, rating it needs), in the order given; empty when every element fits.
    """
    over: list[tuple[str, Rating]] = []
    for element in required_elements:
        needed = element_min_rating(element)
        if rank(needed) > rank(rating):
            over.append((element, needed))
    return over
