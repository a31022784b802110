"""Reviews steer variant selection (spec section 15): well-scored variants serve more players, variants
scored below the threshold leave the pool, the pool is never empty, and the choice stays deterministic."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from dyngen.domain.cache_keys import (
    ReviewPolicy,
    ReviewScore,
    choose_variant,
    pool_of,
    resolve_seed,
    stable_int,
    variant_pool,
    variant_weights,
)
from dyngen.domain.contracts import GenerateContentRequest
from tests.fakes import FakeScoreSource

POLICY = ReviewPolicy(drop_below=2.0, min_reviews=3)
SEEDS = [stable_int("test", str(n)) for n in range(3000)]


def share(scores: dict[int, ReviewScore], size: int = 3) -> Counter[int]:
    return Counter(choose_variant(seed, size, scores, POLICY) for seed in SEEDS)


def test_without_reviews_the_choice_is_the_seed_modulo_the_pool() -> None:
    assert [choose_variant(seed, 4, {}, POLICY) for seed in SEEDS[:50]] == [seed % 4 for seed in SEEDS[:50]]


def test_equal_scores_change_nothing() -> None:
    same = {i: ReviewScore(mean=4.0, count=5) for i in range(3)}

    assert [choose_variant(seed, 3, same, POLICY) for seed in SEEDS[:50]] == [seed % 3 for seed in SEEDS[:50]]


def test_a_better_scored_variant_serves_more_players() -> None:
    counts = share({0: ReviewScore(mean=5.0, count=4), 2: ReviewScore(mean=2.5, count=4)})

    # Weights 4, 1 (unreviewed), 0.71: variant 0 keeps its players and gains 3/4 of variant 1's and most
    # of variant 2's; 1 keeps a quarter of its own and gains a share of 2's.
    assert counts[0] / len(SEEDS) == pytest.approx(0.80, abs=0.03)
    assert counts[0] > counts[1] > counts[2] > 0


def test_players_only_move_towards_better_scored_variants() -> None:
    before = {0: ReviewScore(mean=3.0, count=3)}
    after = {0: ReviewScore(mean=3.0, count=3), 1: ReviewScore(mean=4.0, count=3), 2: ReviewScore(mean=2.5, count=3)}
    weights = variant_weights(3, after, POLICY)

    for seed in SEEDS:
        old, new = choose_variant(seed, 3, before, POLICY), choose_variant(seed, 3, after, POLICY)
        assert new == old or weights[new] > weights[old]
    assert all(choose_variant(seed, 3, after, POLICY) == 1 for seed in SEEDS if seed % 3 == 1)  # the best stay


def test_a_variant_scored_below_the_threshold_leaves_the_pool() -> None:
    counts = share({1: ReviewScore(mean=1.5, count=3)})

    assert counts[1] == 0
    assert counts[0] + counts[2] == len(SEEDS)


def test_too_few_reviews_do_not_drop_a_variant() -> None:
    assert share({1: ReviewScore(mean=1.0, count=2)})[1] > 0


def test_the_pool_keeps_its_best_variant_when_every_one_is_below_the_threshold() -> None:
    scores = {0: ReviewScore(mean=1.2, count=5), 1: ReviewScore(mean=1.8, count=3), 2: ReviewScore(mean=1.0, count=9)}

    assert variant_weights(3, scores, POLICY) == [0.0, 1.0, 0.0]
    assert set(share(scores)) == {1}


def test_the_choice_is_deterministic_for_the_same_seed_and_scores() -> None:
    scores = {0: ReviewScore(mean=4.5, count=3)}

    assert [choose_variant(s, 3, scores, POLICY) for s in SEEDS[:100]] == [
        choose_variant(s, 3, scores, POLICY) for s in SEEDS[:100]
    ]


def test_a_pool_picks_by_the_scores_of_its_variants_keys() -> None:
    wire: dict[str, Any] = {
        "type": "variation",
        "from_scene": {"id": "gate"},
        "to_scene": {"id": "market"},
        "strategy": "per_playthrough",
        "variants": 3,
    }
    requests = [
        GenerateContentRequest.model_validate({**wire, "player_context": {"playthroughId": f"pt-{n}"}})
        for n in range(300)
    ]
    pool = pool_of(requests[0], resolve_seed(requests[0], entropy=None))  # type: ignore[arg-type]
    assert pool is not None
    source = FakeScoreSource({pool.keys[0]: ReviewScore(mean=1.0, count=3)})

    chosen = []
    for req in requests:
        seed = resolve_seed(req, entropy=None)  # type: ignore[arg-type]
        found = variant_pool(req, seed, scores=source.scores_for(pool.keys), policy=POLICY)
        assert found is not None
        chosen.append(found[0])
        assert found[1] == pool.keys[found[0]]

    assert 0 not in chosen
    assert {1, 2} <= set(chosen)
