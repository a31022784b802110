"""`PrometheusMetrics`: dyngen's telemetry as Prometheus metrics.

With several processes on one machine (`dyngen serve --workers N`, `dyngen worker`), the CLI points
`PROMETHEUS_MULTIPROC_DIR` at a folder shared by all of them before anything imports prometheus_client;
every process writes its samples there and `/metrics` in any API process reports the sum.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class PrometheusMetrics:
    """Args:
    multiprocess_dir: The shared folder of multiprocess mode, or None for one process.
    """

    def __init__(self, *, multiprocess_dir: Path | None = None) -> None:
        self._multiprocess_dir = multiprocess_dir
        # In multiprocess mode samples go to files, not to a registry; otherwise each Services has its own.
        self._registry = CollectorRegistry() if multiprocess_dir is None else None
        registry = self._registry
        self._generation_seconds = Histogram(
            "dyngen_generation_seconds",
            "Provider run latency, by node, generation type, provider and outcome.",
            ["node", "type", "provider", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._tokens = Counter(
            "dyngen_generation_tokens", "Cost tokens of provider runs.", ["node", "provider"], registry=registry
        )
        self._cache = Counter(
            "dyngen_cache_requests",
            "Cache reads by node, tier and result.",
            ["node", "tier", "result"],
            registry=registry,
        )
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}
        self._errors = Counter(
            "dyngen_generation_errors", "Failed generations by error code.", ["code"], registry=registry
        )
        self._provider_calls = Counter(
            "dyngen_provider_calls",
            "Provider attempts by provider and outcome.",
            ["provider", "outcome"],
            registry=registry,
        )
        self._jobs = Counter("dyngen_job_events", "Job state changes by event type.", ["type"], registry=registry)
        self._waiters = Gauge(
            "dyngen_single_flight_waiters",
            "Callers waiting on another caller's generation.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._drift = Counter(
            "dyngen_seed_drift",
            "Regenerations whose content differed for the same key and seed.",
            ["node"],
            registry=registry,
        )

    def _child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once per label set: `labels` checks and locks each time (about
        a tenth of a memory-tier hit's service code). Children are never removed, so the dictionary holds
        what the metrics hold anyway."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def generation(self, *, node: str, type_: str, provider: str, outcome: str, seconds: float, tokens: int) -> None:
        self._child(self._generation_seconds, node, type_, provider, outcome).observe(seconds)
        if tokens:
            self._child(self._tokens, node, provider).inc(tokens)
        if outcome != "complete":
            self._errors.labels(outcome).inc()

    def provider_call(self, *, provider: str, outcome: str) -> None:
        self._child(self._provider_calls, provider, outcome).inc()

    def cache_request(self, *, node: str, tier: str, hit: bool) -> None:  # counted on every request
        self._child(self._cache, node, tier, "hit" if hit else "miss").inc()

    def job_event(self, *, type_: str) -> None:
        self._jobs.labels(type_).inc()

    def waiters(self, delta: int) -> None:
        self._waiters.inc(delta)

    def seed_drift(self, *, node: str) -> None:
        self._drift.labels(node).inc()

    def _collected(self) -> CollectorRegistry:
        if self._registry is not None:
            return self._registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self._multiprocess_dir))  # type: ignore[no-untyped-call]
        return registry

    def cache_counts(self, *, node: str) -> tuple[int, int]:
        hits = misses = 0
        for family in self._collected().collect():
            if family.name != "dyngen_cache_requests":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("node") == node:
                    if sample.labels.get("result") == "hit":
                        hits += int(sample.value)
                    else:
                        misses += int(sample.value)
        return hits, misses

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self._collected()), CONTENT_TYPE_LATEST
