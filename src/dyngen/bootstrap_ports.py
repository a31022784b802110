"""The ports of the use cases, picked out of `Services` by bootstrap (the entrypoints and tests call these):
generation's, play's, authoring's and health's bundles are built once and kept in `Services.bundles`."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TypeVar, cast

from dyngen.services.authoring.ports import AuthoringPorts
from dyngen.services.authoring.runtime_graphs import live_graph, referenced
from dyngen.services.generation.front_door import generate_content, warm_content
from dyngen.services.generation.ports import GenerationPorts, RunPorts, ServePorts
from dyngen.services.generation.request import Preparer
from dyngen.services.generation.runs import generate_for_job
from dyngen.services.jobs import lifecycle as jobs
from dyngen.services.machinery.container import Services
from dyngen.services.play.ports import PlayPorts
from dyngen.services.reporting.health import HealthPorts
from dyngen.services.warmup import runner

T = TypeVar("T")


def _kept(services: Services, name: str, make: Callable[[Services], T]) -> T:
    """The bundle `name` of `services`: built by `make` at the first call, then read from `Services.bundles`
    (emptied when a field of `services` is set after `build`)."""
    built = services.bundles.get(name)
    if built is None:
        built = services.bundles[name] = make(services)
    return cast(T, built)


# The ports of the use cases, picked out of `Services` (the entrypoints and tests call these). Generation's,
# play's, authoring's and health's are built once, at the first call, and kept in `Services.bundles` (the hot
# path reads them per request without building anything); a test that sets a field of `Services` after
# `build` drops them, so the next call builds them from the new value. The others are built at each call (once per job,
# warm-up or command).


def preparer(services: Services) -> Preparer:
    """What preparing a request reads (jobs, warm-up plans, the Prompt view)."""
    return generation_ports(services).preparer


def job_ports(services: Services) -> jobs.JobPorts:
    """Where jobs live and are announced (submit, cancel, resume, reap)."""
    return generation_ports(services).jobs


def run_ports(services: Services) -> RunPorts:
    """What one provider run takes (a miss, a hybrid refresh, a job)."""
    return generation_ports(services).serving.runs


def generation_ports(services: Services) -> GenerationPorts:
    """What generation's front door takes (the API's generate routes, `dyngen generate`, `play`, warm-ups)."""
    return _kept(services, "generation", _generation_ports)


def _generation_ports(services: Services) -> GenerationPorts:
    options = services.options
    runs = RunPorts(
        clock=services.clock,
        metrics=services.metrics,
        cache=services.cache,
        artifacts=services.artifacts,
        repository=services.repository,
        jobs=services.jobs,
        outbox=services.outbox,
        tasks=services.refreshes,
        judge=services.providers.judge,
        ledger=services.budget_ledger,
        limits=services.budget_limits,
        hashes=services.memo.hashes,
        live=services.live,
        options=options,
    )
    serving = ServePorts(
        runs=runs,
        clock=services.clock,
        metrics=services.metrics,
        cache=services.cache,
        flights=services.single_flight,
        memo=services.memo,
        media=services.media,
        entropy=services.entropy,
        scores=services.scores,
        reviews=services.reviews,
        rate_limiter=services.rate_limiter,
        tasks=services.refreshes,
        options=options,
    )
    return GenerationPorts(
        serving=serving,
        preparer=Preparer(
            providers=services.providers,
            templates=services.templates,
            rules=services.memo.rules,
            entropy=services.entropy,
            options=options,
        ),
        jobs=jobs.JobPorts(
            jobs=services.jobs,
            queue=services.queue,
            notifier=services.notifier,
            metrics=services.metrics,
            clock=services.clock,
        ),
        referenced=functools.partial(referenced, ports=authoring_ports(services)),
        memo=services.memo,
        clock=services.clock,
        rate_limiter=services.rate_limiter,
        options=options,
    )


def _warming_ports(services: Services) -> GenerationPorts:
    ports = generation_ports(services)
    if ports.serving.runs.live is None:
        return ports
    runs = dataclasses.replace(ports.serving.runs, live=None)
    return dataclasses.replace(ports, serving=dataclasses.replace(ports.serving, runs=runs))


def play_ports(services: Services) -> PlayPorts:
    """What playing a stored graph takes (the by-reference route, `advance`)."""
    return _kept(services, "play", _play_ports)


def _play_ports(services: Services) -> PlayPorts:
    return PlayPorts(
        generation=generation_ports(services),
        live_graph=functools.partial(live_graph, ports=authoring_ports(services)),
        graphs=services.runtime_graphs,
    )


def authoring_ports(services: Services) -> AuthoringPorts:
    """What saving graphs and node configs, and reading them as the runtime does, takes (the graph and
    node routes, the example graph, the flat request's `node_id`, the by-reference route)."""
    return _kept(services, "authoring", _authoring_ports)


def _authoring_ports(services: Services) -> AuthoringPorts:
    return AuthoringPorts(
        graphs=services.graphs,
        nodes=services.nodes,
        providers=services.providers,
        cache=services.runtime_graphs,
        clock=services.clock,
        default_timeout_ms=services.options.default_timeout_ms,
    )


def health_ports(services: Services) -> HealthPorts:
    """What a health check asks (`/api/health`, a graph's health)."""
    return _kept(services, "health", _health_ports)


def _health_ports(services: Services) -> HealthPorts:
    return HealthPorts(
        repository=services.repository,
        jobs=services.jobs,
        reviews=services.reviews,
        artifacts=services.artifacts,
        outbox=services.outbox,
        providers=services.providers,
        cache=services.cache,
        metrics=services.metrics,
        clock=services.clock,
        probes=services.probes,
        options=services.options,
    )


def job_runner(services: Services) -> jobs.JobRunner:
    """What running a job takes; its provider run goes through generation's `generate_for_job`."""
    options = services.options
    return jobs.JobRunner(
        ports=job_ports(services),
        preparer=preparer(services),
        cache=services.cache,
        entries=services.memo.entries,
        generate=functools.partial(generate_for_job, run_ports(services)),
        repository=services.repository,
        outbox=services.outbox,
        tasks=services.refreshes,
        running=services.running,
        entropy=services.entropy,
        lease_s=options.job_lease_s,
        max_attempts=options.job_max_attempts,
        retry_base_s=options.job_retry_base_s,
        record_timeout_s=options.record_timeout_s,
    )


def warmup_ports(services: Services) -> runner.WarmupPorts:
    """What running warm-ups takes; each item goes through generation's front door, answered once its
    content is whole and kept (no video is answered while it renders: a warm-up plays nothing, and would
    start its next render while this one still runs)."""
    return runner.WarmupPorts(
        warmups=services.warmups,
        notifier=services.notifier,
        clock=services.clock,
        generate=functools.partial(generate_content, ports=_kept(services, "warming", _warming_ports)),
        warm=functools.partial(warm_content, ports=_kept(services, "warming", _warming_ports)),
        rate_limiter=services.rate_limiter,
        rate_limits=services.options.rate_limits,
        running=services.running,
        runner_id=services.runner_id,
        lease_s=services.options.job_lease_s,
    )
