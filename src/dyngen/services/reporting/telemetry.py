"""Telemetry read back: a node's stats for the editor's badge (spec sections 5 and 12), and its A/B arms
compared (spec section 15)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ValidationError

from dyngen.domain.cache_keys import ReviewScore
from dyngen.domain.contracts import GenerationNodeConfig, GenerationStatus
from dyngen.domain.records import GenerationRecord
from dyngen.ports import GenerationFilter, GenerationRepository, Metrics, NodeConfigRepository, ReviewRepository

WINDOW = 500  # the latest generations the percentiles are computed over


class NodeStats(BaseModel):
    node_id: str
    generations: int
    last_latency_ms: float | None = None
    p50_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    cache_hits: int
    cache_misses: int
    cost_tokens: int
    cost: float
    errors: dict[str, int]
    mean_quality_score: float | None = None
    mean_review_score: float | None = None
    reviews: int = 0


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (`q` in 0..1) of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


async def node_stats(
    *, node_id: str, records: GenerationRepository, reviews: ReviewRepository, metrics: Metrics
) -> NodeStats:
    """Latency over the node's latest generations, its cost and errors, and its cache reads."""
    runs = _runs(await records.find(GenerationFilter(node_id=node_id, limit=WINDOW)))
    latencies = [r.latency_ms for r in runs if r.status is GenerationStatus.COMPLETE]
    hits, misses = metrics.cache_counts(node=node_id)
    scores = _quality_scores(runs)
    reviewed = _pooled((await reviews.arm_scores(node_id)).values())
    return NodeStats(
        node_id=node_id,
        generations=len(runs),
        last_latency_ms=runs[0].latency_ms if runs else None,
        p50_latency_ms=percentile(latencies, 0.5),
        p95_latency_ms=percentile(latencies, 0.95),
        cache_hits=hits,
        cache_misses=misses,
        cost_tokens=sum(r.cost_tokens for r in runs),
        cost=round(sum(r.cost for r in runs), 6),
        errors=dict(Counter(r.error_code for r in runs if r.error_code)),
        mean_quality_score=round(sum(scores) / len(scores), 4) if scores else None,
        mean_review_score=reviewed.mean if reviewed else None,
        reviews=reviewed.count if reviewed else 0,
    )


def _runs(records: list[GenerationRecord]) -> list[GenerationRecord]:
    return [r for r in records if r.status in (GenerationStatus.COMPLETE, GenerationStatus.FAILED) and r.attempts]


def _quality_scores(runs: list[GenerationRecord]) -> list[float]:
    return [
        r.content.metadata.quality_score
        for r in runs
        if r.content is not None and r.content.metadata is not None and r.content.metadata.quality_score is not None
    ]


def _pooled(scores: Iterable[ReviewScore]) -> ReviewScore | None:
    """The mean of several groups' reviews (each weighted by its count)."""
    groups = [s for s in scores if s.count]
    count = sum(s.count for s in groups)
    if not count:
        return None
    return ReviewScore(mean=round(sum(s.mean * s.count for s in groups) / count, 4), count=count)


class ArmStats(BaseModel):
    """One arm of a node's A/B test over the node's latest generations.

    `weight` is the arm's weight in the node's saved config (None for an arm it no longer declares);
    `errors` counts the runs that ended in the fallback; `mean_quality_score` is the provider's quality
    score (0..1), `mean_review_score` the reviewers' (1..5).
    """

    arm: str
    weight: float | None = None
    generations: int
    p50_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    cost: float
    errors: int
    mean_quality_score: float | None = None
    mean_review_score: float | None = None
    reviews: int = 0


class NodeArms(BaseModel):
    node_id: str
    arms: list[ArmStats]


async def arm_stats(
    *, node_id: str, records: GenerationRepository, reviews: ReviewRepository, nodes: NodeConfigRepository
) -> NodeArms:
    """The node's arms side by side: latency, cost, errors and quality per arm, over its latest
    generations. Lists the arms of the node's saved config (in its order, even before any traffic), then
    any other arm its generations or reviews name."""
    runs = _runs(await records.find(GenerationFilter(node_id=node_id, limit=WINDOW)))
    by_arm = await reviews.arm_scores(node_id)
    saved = await nodes.node_version(node_id)
    weights: dict[str, float] = {}
    if saved is not None:
        try:
            declared = GenerationNodeConfig.model_validate(saved.config).arms or []
        except ValidationError:  # a config saved by an older release: its arms are still in the records
            declared = []
        weights = {arm.id: arm.weight for arm in declared}
    seen = sorted(({r.arm for r in runs if r.arm} | {a for a in by_arm if a}) - weights.keys())
    arms: list[ArmStats] = []
    for arm_id in [*weights, *seen]:
        mine = [r for r in runs if r.arm == arm_id]
        latencies = [r.latency_ms for r in mine if r.status is GenerationStatus.COMPLETE]
        scores = _quality_scores(mine)
        reviewed = by_arm.get(arm_id)
        arms.append(
            ArmStats(
                arm=arm_id,
                weight=weights.get(arm_id),
                generations=len(mine),
                p50_latency_ms=percentile(latencies, 0.5),
                p95_latency_ms=percentile(latencies, 0.95),
                cost=round(sum(r.cost for r in mine), 6),
                errors=sum(1 for r in mine if r.error_code),
                mean_quality_score=round(sum(scores) / len(scores), 4) if scores else None,
                mean_review_score=reviewed.mean if reviewed else None,
                reviews=reviewed.count if reviewed else 0,
            )
        )
    return NodeArms(node_id=node_id, arms=arms)
