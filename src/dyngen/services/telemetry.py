"""Telemetry read back: a node's stats for the editor's badge (spec sections 5 and 12)."""

from __future__ import annotations

import math
from collections import Counter

from pydantic import BaseModel

from dyngen.domain.contracts import GenerationStatus
from dyngen.ports import GenerationFilter
from dyngen.services.container import Services

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


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (`q` in 0..1) of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


async def node_stats(*, node_id: str, services: Services) -> NodeStats:
    """Latency over the node's latest generations, its cost and errors, and its cache reads."""
    records = await services.repository.find(GenerationFilter(node_id=node_id, limit=WINDOW))
    runs = [r for r in records if r.status in (GenerationStatus.COMPLETE, GenerationStatus.FAILED) and r.attempts]
    latencies = [r.latency_ms for r in runs if r.status is GenerationStatus.COMPLETE]
    hits, misses = services.metrics.cache_counts(node=node_id)
    scores = [
        r.content.metadata.quality_score
        for r in runs
        if r.content is not None and r.content.metadata is not None and r.content.metadata.quality_score is not None
    ]
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
    )
