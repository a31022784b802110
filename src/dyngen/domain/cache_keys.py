"""Seeds and cache keys (spec sections 4 and 7).

Key pattern: ``[type]|[purpose]|[fromSceneId]|[toSceneId]|[strategy]|[seed]|[version]``. The version slot
ends with ``;c=<digest>`` of the content-shaping config (`content_digest`), so the spec's seven parts are
the readable prefix and two nodes whose config differs never share an entry.

The seed slot holds the strategy's scope: nothing for ``once``, the playthroughId for
``per_playthrough``, the playerId for ``per_player``. A seed the designer fixed by hand is appended as
``@<seed>`` so changing it changes the key. ``always`` has a key (for records and metrics) but never
reads a cache. Components are percent-escaped (``%``, ``|`` and ``@`` only), so an id containing the
separator or the seed marker cannot collide with another key. Everything is plain string and SHA-256
work, stable across processes, machines and Python versions (no ``hash()``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dyngen.domain.contracts import DEFAULT_SEED_SOURCE, GenerateContentRequest, SeedSource, Strategy
from dyngen.domain.errors import DyngenError, ErrorCode

SEPARATOR = "|"
SEED_BITS = 63


@dataclass(frozen=True, slots=True)
class ResolvedSeed:
    """The seed a generation runs with, where it came from, and whether it is reproducible."""

    value: int
    source: SeedSource
    deterministic: bool


def escape(component: str) -> str:
    """Escape one key component so it can never contain the separator or the seed marker."""
    return component.replace("%", "%25").replace(SEPARATOR, "%7C").replace("@", "%40")


def stable_int(*parts: str) -> int:
    """A 63-bit integer from strings, the same on every machine and Python version."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


def _missing(field: str, why: str) -> DyngenError:
    return DyngenError(
        ErrorCode.GEN_INVALID_CONFIG,
        f"{field} is required {why}",
        details=[{"field": field, "message": f"required {why}", "type": "missing"}],
    )


def seed_source_for(request: GenerateContentRequest) -> SeedSource:
    """The seed source the request asked for, or the one its strategy implies."""
    return request.seed_source or DEFAULT_SEED_SOURCE[request.strategy]


def scope_id(request: GenerateContentRequest) -> str:
    """The id the strategy caches per: '' for once/always, playthroughId, or playerId.

    Raises:
        DyngenError: GEN_INVALID_CONFIG naming the missing field when the strategy needs an id.
    """
    context = request.player_context
    if request.strategy is Strategy.PER_PLAYTHROUGH:
        if context is None or not context.playthrough_id:
            raise _missing("player_context.playthroughId", "for strategy per_playthrough")
        return context.playthrough_id
    if request.strategy is Strategy.PER_PLAYER:
        if context is None or not context.player_id:
            raise _missing("player_context.playerId", "for strategy per_player")
        return context.player_id
    return ""


def resolve_seed(request: GenerateContentRequest, *, entropy: random.Random) -> ResolvedSeed:
    """Resolve the seed for a request.

    Args:
        request: The generation request.
        entropy: Where a ``timestamp`` seed draws its fresh value (the service passes one seeded from
            its clock, so tests can pin it).

    Raises:
        DyngenError: GEN_INVALID_CONFIG naming the missing field (a playthroughId, playerId or seed).
    """
    source = seed_source_for(request)
    context = request.player_context
    if source is SeedSource.FIXED:
        if request.seed is not None:
            return ResolvedSeed(request.seed, source, True)
        if request.seed_source is SeedSource.FIXED:
            raise _missing("seed", "for seedSource fixed")
        # `once` without a hand-set seed: one stable seed for the node's content.
        return ResolvedSeed(stable_int("once", *_identity(request)), source, True)
    if source is SeedSource.PLAYTHROUGH:
        if context is None or not context.playthrough_id:
            raise _missing("player_context.playthroughId", "for seedSource playthrough")
        return ResolvedSeed(stable_int("playthrough", context.playthrough_id), source, True)
    if source is SeedSource.PLAYER:
        if context is None or not context.player_id:
            raise _missing("player_context.playerId", "for seedSource player")
        return ResolvedSeed(stable_int("player", context.player_id), source, True)
    return ResolvedSeed(entropy.getrandbits(SEED_BITS), source, False)


def _identity(request: GenerateContentRequest) -> tuple[str, str, str, str]:
    return (
        request.type.value,
        request.purpose.value,
        request.from_scene.id if request.from_scene else "",
        request.to_scene.id if request.to_scene else "",
    )


# What shapes a node's content beside the key's seven parts (its scenes' text, moods and the rest of its
# config as resolved): two nodes that differ here never share (and so never overwrite) an entry.
CONTENT_FIELDS = frozenset(
    {"style", "duration", "constraints", "from_scene", "to_scene", "social_context", "prompt", "characters", "lore"}
)


def content_digest(request: GenerateContentRequest) -> str:
    """12 hex digits of SHA-256 over the request's `CONTENT_FIELDS` (canonical JSON), stable everywhere."""
    shaping = request.model_dump(mode="json", include=set(CONTENT_FIELDS), exclude_none=True)
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _version_slot(request: GenerateContentRequest, qualifiers: Sequence[str], digest: str) -> str:
    """The version, with what else decides the content appended
    (`1;t=<template>:<v>;r=<rules outcome>;c=<content digest>`)."""
    return escape(";".join([str(request.version), *qualifiers, f"c={digest}"]))


def cache_key(request: GenerateContentRequest, *, qualifiers: Sequence[str] = (), digest: str | None = None) -> str:
    """The server's cache key for a request (a client's ``cache_key`` hint is never trusted).

    Args:
        request: The (resolved) request.
        qualifiers: What else decides the content and joins the version slot: the template's id and
            version, the outcome of the node's rules.
        digest: The request's `content_digest`, when worked out already (default: worked out here).

    Raises:
        DyngenError: GEN_INVALID_CONFIG when the strategy's scope id is missing.
    """
    slot = escape(scope_id(request))
    if request.seed is not None and seed_source_for(request) is SeedSource.FIXED:
        slot += f"@{request.seed}"
    parts = [escape(p) for p in _identity(request)]
    version = _version_slot(request, qualifiers, digest if digest is not None else content_digest(request))
    return SEPARATOR.join([*parts, request.strategy.value, slot, version])


def split_key(key: str) -> list[str]:
    """The seven unescaped components of a key made by `cache_key`."""
    return [p.replace("%7C", SEPARATOR).replace("%40", "@").replace("%25", "%") for p in key.split(SEPARATOR)]


@dataclass(frozen=True, slots=True)
class ReviewScore:
    """What reviewers made of a generation, a variant or an arm: the mean of its 1-5 scores and their count."""

    mean: float
    count: int


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    """How reviews steer variant choice.

    Attributes:
        drop_below: A variant whose mean score is below this (with at least `min_reviews` reviews) leaves
            the pool.
        min_reviews: Reviews a variant needs before it can be dropped.
    """

    drop_below: float = 2.0
    min_reviews: int = 3


NEUTRAL_SCORE = 3.0  # an unreviewed variant weighs as much as one scored 3 of 5


def variant_weights(size: int, scores: Mapping[int, ReviewScore], policy: ReviewPolicy) -> list[float]:
    """Each variant's share of the pool: 2 ** (mean score - 3), so every point of score doubles it
    (unreviewed: 1); 0 for a dropped variant. The pool is never empty: when every variant would be
    dropped, the best-scored one (the lowest index among equals) stays, with weight 1."""
    weights: list[float] = []
    for index in range(size):
        score = scores.get(index)
        if score is None or score.count == 0:
            weights.append(1.0)
        elif score.count >= policy.min_reviews and score.mean < policy.drop_below:
            weights.append(0.0)
        else:
            weights.append(2.0 ** (score.mean - NEUTRAL_SCORE))
    if not any(weights):
        best = max(range(size), key=lambda i: (scores[i].mean, -i))
        weights[best] = 1.0
    return weights


def _fraction(*parts: str) -> float:
    """A number in (0, 1) from strings, the same everywhere."""
    return (stable_int(*parts) + 0.5) / (1 << SEED_BITS)


def choose_variant(choice_seed: int, size: int, scores: Mapping[int, ReviewScore], policy: ReviewPolicy) -> int:
    """The variant a seed gets from a pool of `size`, deterministic for the same seed and scores.

    Every seed has a home variant, `seed % size` (the choice without reviews). It stays there with a
    chance of its home's weight over the best weight (`variant_weights`): always for the best-scored
    variants, never for a dropped one. Otherwise it moves to a strictly better-scored variant, picked by
    weighted rendezvous hashing among them. The draws come from the seed, so a player's variant only
    changes when scores change, and then only towards better-scored variants; players of variants that
    did not get worse relative to the best stay where they are.
    """
    home = choice_seed % size
    weights = variant_weights(size, scores, policy)
    best = max(weights)
    if weights[home] >= best or _fraction("variant-stay", str(choice_seed)) < weights[home] / best:
        return home
    better = [i for i, weight in enumerate(weights) if weight > weights[home]]
    return max(better, key=lambda i: -weights[i] / math.log(_fraction("variant-move", str(choice_seed), str(i))))


@dataclass(frozen=True, slots=True)
class VariantPool:
    """A node's pool of variants: each one's key and seed, and the seed that chooses among them."""

    choice_seed: int
    keys: tuple[str, ...]
    seeds: tuple[ResolvedSeed, ...]

    @property
    def size(self) -> int:
        return len(self.keys)


def pool_of(
    request: GenerateContentRequest, seed: ResolvedSeed, *, qualifiers: Sequence[str] = (), digest: str | None = None
) -> VariantPool | None:
    """The pool of a node with `variants` (None without one, or with a fresh timestamp seed, which has no
    stable choice). Variant i's key has `v<i>of<size>` in its seed slot; its content comes from its own
    seed, so whoever fills a variant first fills it for all. `digest` as `cache_key`'s."""
    size = request.variants
    if not size or size < 2 or not seed.deterministic:
        return None
    identity = _identity(request)
    version = _version_slot(request, qualifiers, digest if digest is not None else content_digest(request))
    keys: list[str] = []
    seeds: list[ResolvedSeed] = []
    for index in range(size):
        slot = f"v{index}of{size}"
        keys.append(SEPARATOR.join([*(escape(p) for p in identity), request.strategy.value, slot, version]))
        seeds.append(ResolvedSeed(stable_int("variant", *identity, version, slot), SeedSource.FIXED, True))
    return VariantPool(choice_seed=seed.value, keys=tuple(keys), seeds=tuple(seeds))


def variant_pool(
    request: GenerateContentRequest,
    seed: ResolvedSeed,
    *,
    qualifiers: Sequence[str] = (),
    scores: Mapping[int, ReviewScore] | None = None,
    policy: ReviewPolicy | None = None,
) -> tuple[int, str, ResolvedSeed] | None:
    """For a node with a pool of `variants`: the variant this seed gets, its key and its own seed.

    A pool is shared by everyone the node serves: a playthrough (or player) picks a variant by its seed
    (`choose_variant`: `seed % variants` until reviews tell the variants apart), stable across calls.
    Returns None without a pool (or with a fresh timestamp seed, which has no stable choice).
    """
    pool = pool_of(request, seed, qualifiers=qualifiers)
    if pool is None:
        return None
    index = choose_variant(pool.choice_seed, pool.size, scores or {}, policy or ReviewPolicy())
    return index, pool.keys[index], pool.seeds[index]
