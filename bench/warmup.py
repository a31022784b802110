"""Warm-up efficiency: 1,000 transitions through a provider with 50 ms latency at concurrency 32.

What is measured:

1. Baseline, in this run: a bare pool of 32 asyncio workers taking 1,000 `asyncio.sleep(0.05)` calls
   (what the provider's latency alone allows on this machine, with no dyngen around it).
2. `services.warmup.run_warmup` on a graph of 1,000 `once` transitions in a row, through services built
   by `bootstrap.build` (embedded default: SQLite records, memory + database cache tiers, artifacts in a
   folder), with the provider replaced by one that sleeps 50 ms and returns a small transition script
   with one artifact. Every item is a full miss: validate, single flight, provider, artifact stored,
   generation recorded, cache filled, and the item's outcome stored with its events.
   The ideal rate is 32 / 0.05 s = 640 transitions/s; goal: at least 90 % of it. Both this and the service
   path alone run with the interpreter settings `dyngen warm` and `dyngen serve` use
   (`entrypoints/interpreter.py`: startup's objects frozen, young ones collected every 10,000, threads
   switched every 0.5 ms), and all three on the event loop `dyngen warm` runs on (`interpreter.run`: uvloop).
3. The same warm-up again: every item is now a cache hit (informational).

CPU time per item (process time over the run) says where the rest goes when the goal is missed: at
640/s the service may spend at most ~1.5 ms of CPU per transition, and one core runs the event loop.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import BenchError, Row

if TYPE_CHECKING:
    from dyngen.domain.contracts import GenerateContentRequest
    from dyngen.ports import ProviderCall, ProviderResult

ITEMS = 1000
CONCURRENCY = 32
LATENCY_S = 0.05
IDEAL_RATE = CONCURRENCY / LATENCY_S
GOAL_RATIO = 0.9


class SleepingProvider:
    """Answers every call after `LATENCY_S` with a short transition script and its JSON artifact."""

    def __init__(self) -> None:
        from dyngen.domain.contracts import GenerationType
        from dyngen.ports import ProviderInfo

        self.info = ProviderInfo(
            name="sleeping",
            generation_types=frozenset(GenerationType),
            media=frozenset({"application/json"}),
            deterministic=True,
        )
        self.calls = 0

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return 0.001

    async def generate(self, call: ProviderCall) -> ProviderResult:
        from dyngen.domain.contracts import PayloadType
        from dyngen.domain.responses import GeneratedContentPayload
        from dyngen.ports import ArtifactBlob, ProviderResult

        self.calls += 1
        await asyncio.sleep(LATENCY_S)
        payload = GeneratedContentPayload(
            type=PayloadType.DIALOGUE,
            duration=call.request.duration.target,
            dialogue=[f"The light changes (seed {call.seed}).", "Footsteps fade down the stairs."],
        )
        blob = ArtifactBlob(role="script", media_type="application/json", data=payload.model_dump_json().encode())
        return ProviderResult(payload=payload, artifacts=[blob], tokens=12, cost=0.001, fingerprint="sleeping/1")


def graph_body(count: int) -> dict[str, Any]:
    from tests.support.examples import transition_chain

    return transition_chain(count, "bench_warmup")


async def bare_pool() -> float:
    """Seconds for 1,000 50 ms sleeps taken by 32 workers."""
    remaining = iter(range(ITEMS))

    async def worker() -> None:
        for _ in remaining:
            await asyncio.sleep(LATENCY_S)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - began


async def service_pool(data_dir: Path) -> tuple[float, float]:
    """Seconds and CPU seconds for the same 1,000 requests through `generate_content` by 32 workers, with no
    warm-up around them: what the service path itself allows (the second baseline)."""
    from dyngen.bootstrap import build
    from dyngen.bootstrap_ports import generation_ports
    from dyngen.config import Settings
    from dyngen.domain.contracts import PlayerContext
    from dyngen.domain.graph import SceneGraph
    from dyngen.entrypoints import interpreter
    from dyngen.services.generation.front_door import generate_content
    from dyngen.services.warmup.plan import node_request

    services = await build(Settings(data_dir=data_dir, providers_by_type={}), providers={"builtin": SleepingProvider()})
    try:
        graph = SceneGraph.model_validate(graph_body(ITEMS))
        context = PlayerContext(playthrough_id="bench")
        requests = iter([node_request(graph, node, player_context=context) for node in graph.generation_nodes()])
        failed = 0

        async def worker() -> None:
            nonlocal failed
            for request in requests:
                response = await generate_content(request=request, ports=generation_ports(services))
                failed += response.error is not None

        with interpreter.long_running():  # as `dyngen serve` and `dyngen warm` run (entrypoints/interpreter.py)
            cpu = time.process_time()
            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        await services.aclose()
    if failed:
        raise BenchError(f"service pool: {failed} of {ITEMS} generations failed")
    return elapsed, cpu


async def warm_runs(data_dir: Path) -> tuple[float, float, float, float, Any, Any, int]:
    from dyngen.bootstrap import build
    from dyngen.bootstrap_ports import preparer, warmup_ports
    from dyngen.config import Settings
    from dyngen.domain.graph import SceneGraph
    from dyngen.entrypoints import interpreter
    from dyngen.services.warmup import runner as warmup_runner
    from dyngen.services.warmup import runs as warmup

    provider = SleepingProvider()
    settings = Settings(data_dir=data_dir, providers_by_type={})
    services = await build(settings, providers={"builtin": provider})
    try:
        with interpreter.long_running():  # as `dyngen warm` runs it (entrypoints/interpreter.py)
            graph = SceneGraph.model_validate(graph_body(ITEMS))

            async def planned_run() -> Any:
                return await warmup.create_warmup(
                    graph=graph,
                    graph_version=None,
                    concurrency=CONCURRENCY,
                    origin="cli",
                    preparer=preparer(services),
                    warmups=services.warmups,
                    clock=services.clock,
                )

            began = time.perf_counter()
            run = await planned_run()
            planned = time.perf_counter() - began
            cpu = time.process_time()
            began = time.perf_counter()
            first = await warmup_runner.run_warmup(warmup_id=run.id, ports=warmup_ports(services))
            elapsed = time.perf_counter() - began
            cpu = time.process_time() - cpu
            again = await planned_run()
            began = time.perf_counter()
            second = await warmup_runner.run_warmup(warmup_id=again.id, ports=warmup_ports(services))
            cached_s = time.perf_counter() - began
    finally:
        await services.aclose()
    return planned, elapsed, cpu, cached_s, first, second, provider.calls


def run() -> list[Row]:
    from dyngen.entrypoints import interpreter  # `run`: the event loop `dyngen warm` runs on, for all three

    baseline_s = interpreter.run(bare_pool())
    with tempfile.TemporaryDirectory(prefix="dyngen-bench-warmup-") as tmp:
        service_s, service_cpu = interpreter.run(service_pool(Path(tmp) / "service"))
        planned, elapsed, cpu, cached_s, first, second, calls = interpreter.run(warm_runs(Path(tmp) / "warmup"))
    if (first.status.value, first.generated, calls) != ("complete", ITEMS, ITEMS):
        raise BenchError(
            f"first warm-up: status {first.status.value}, generated {first.generated}, failed {first.failed},"
            f" {calls} provider calls (expected complete, {ITEMS}, {ITEMS})"
        )
    if (second.status.value, second.cached) != ("complete", ITEMS):
        raise BenchError(f"second warm-up: status {second.status.value}, cached {second.cached} (expected {ITEMS})")
    baseline_rate = ITEMS / baseline_s
    rate = ITEMS / elapsed
    print(f"  bare pool of {CONCURRENCY} workers: {ITEMS} x {LATENCY_S * 1000:.0f} ms sleeps in {baseline_s:.3f} s")
    print(
        f"  service path, no warm-up: {ITEMS} generate_content misses by {CONCURRENCY} workers in {service_s:.3f} s"
        f" = {ITEMS / service_s:.0f}/s; CPU {service_cpu / ITEMS * 1000:.2f} ms per transition"
    )
    print(f"  planning {ITEMS} transitions (resolve, store the run): {planned:.3f} s")
    print(
        f"  warm-up: {ITEMS} generated in {elapsed:.3f} s = {rate:.0f}/s; CPU {cpu:.2f} s"
        f" = {cpu / ITEMS * 1000:.2f} ms per transition"
    )
    print(f"  second warm-up: {ITEMS} cached in {cached_s:.3f} s = {ITEMS / cached_s:.0f}/s")
    return [
        Row(
            "warmup",
            "bare pool rate (baseline)",
            f"{baseline_rate:.0f}/s",
            f"{IDEAL_RATE:.0f}/s ideal",
            f"{baseline_rate / IDEAL_RATE:.2f}",
        ),
        Row(
            "warmup",
            f"{ITEMS} misses, {LATENCY_S * 1000:.0f} ms provider, concurrency {CONCURRENCY}",
            f"{rate:.0f}/s",
            f"{IDEAL_RATE:.0f}/s ideal",
            f"{rate / IDEAL_RATE:.2f}",
            f">= {GOAL_RATIO:.0%} of ideal",
            rate / IDEAL_RATE >= GOAL_RATIO,
        ),
        Row(
            "warmup", "same, vs the bare pool", f"{rate:.0f}/s", f"{baseline_rate:.0f}/s", f"{rate / baseline_rate:.2f}"
        ),
        Row(
            "warmup",
            "same, vs the service path alone",
            f"{rate:.0f}/s",
            f"{ITEMS / service_s:.0f}/s",
            f"{rate / (ITEMS / service_s):.2f}",
        ),
        Row("warmup", "CPU per transition", f"{cpu / ITEMS * 1000:.2f} ms", f"{1000 / IDEAL_RATE:.2f} ms budget"),
        Row(
            "warmup",
            f"{ITEMS} cache hits",
            f"{ITEMS / cached_s:.0f}/s",
            f"{rate:.0f}/s misses",
            f"{(ITEMS / cached_s) / rate:.1f}x",
        ),
    ]
