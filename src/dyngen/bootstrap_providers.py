"""Providers, wired: the installed plugins, the configured instances, chains and pipelines, in one registry
(`bootstrap.build` calls `provider_registry`); `provider_problems` is what `dyngen config check` reports."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import httpx

from dyngen.adapters.providers.breaker import MemoryCircuitBreaker
from dyngen.adapters.providers.chain import build_chains
from dyngen.adapters.providers.plugins import discover, enable_hints, instance_problems, load_instances
from dyngen.config import Settings
from dyngen.ports import (
    CircuitBreaker,
    Clock,
    ElementJudge,
    Provider,
)
from dyngen.services.machinery.media import MediaLinks
from dyngen.services.machinery.pipelines import PipelineProvider
from dyngen.services.machinery.providers import ProviderRegistry

if TYPE_CHECKING:
    from dyngen.adapters.messaging.redis import RedisConnection


def _signer(links: MediaLinks | None, clock: Clock) -> Callable[[str], str | None] | None:
    """Signs a stored scene image into an absolute URL a hosted API can fetch (None without DYNGEN_PUBLIC_URL:
    a relative URL is of no use to it)."""
    if links is None or not links.base_url:
        return None
    signer = links

    def sign(artifact_id: str) -> str | None:
        return signer.url(artifact_id, exp=signer.expiry(clock.now()))

    return sign


def provider_registry(
    settings: Settings,
    providers: Mapping[str, Provider] | None,
    *,
    clock: Clock,
    redis: RedisConnection | None,
    http: httpx.AsyncClient,
    links: MediaLinks | None = None,
) -> ProviderRegistry:
    """The installed providers (or the injected ones) plus the configured chains, each chain's members
    sharing one circuit breaker (through Redis when it is configured)."""
    chains = settings.provider_chains
    pipelines = settings.provider_pipelines
    required = [settings.default_provider, *settings.providers_by_type.values()]
    required += [*settings.providers_by_template.values()]
    required += [member for members in chains.values() for member in members]
    required += [name for p in pipelines.values() for name in (p.script, p.render)]
    required += [settings.element_judge] if settings.element_judge else []
    installed = providers
    if installed is None:
        # Named instances ([providers.<name>], and the ones the flat openai_*/http_video_* settings make).
        sections = settings.provider_sections()
        if "builtin_video" not in sections:
            assets = settings.assets_dir
            sections["builtin_video"] = {
                "assets_dir": assets if assets is not None and assets.is_dir() else None,
                "fragmented": settings.streams_video,
                "concurrency": video_renders(),
            }
        installed = load_instances(
            sections,
            {"client": http, "sign_url": _signer(links, clock)},
            required=[name for name in required if name not in chains and name not in pipelines],
        )
    configured = list(installed)
    breaker: CircuitBreaker
    if redis is not None:
        from dyngen.adapters.providers.redis_breaker import RedisCircuitBreaker

        breaker = RedisCircuitBreaker(
            connection=redis,
            clock=clock,
            failures=settings.breaker_failures,
            window_s=settings.breaker_window_s,
            cooldown_s=settings.breaker_cooldown_s,
        )
    else:
        breaker = MemoryCircuitBreaker(
            clock=clock,
            failures=settings.breaker_failures,
            window_s=settings.breaker_window_s,
            cooldown_s=settings.breaker_cooldown_s,
        )
    built = dict(build_chains(installed, chains, breaker, clock=clock, reserve=settings.chain_member_reserve))
    for name, stages in pipelines.items():
        missing = [n for n in (stages.script, stages.render) if n not in built]
        if missing:
            raise ValueError(f"pipeline {name!r} names provider {missing[0]!r}, which is not installed")
        built[name] = PipelineProvider(name, script=built[stages.script], render=built[stages.render])
    judge = None
    if settings.element_judge:
        found = built.get(settings.element_judge)
        if not isinstance(found, ElementJudge):
            raise ValueError(
                f"routing.judge: provider {settings.element_judge!r} cannot judge elements (kind openai can)"
            )
        judge = found
    return ProviderRegistry(
        built,
        default=settings.default_provider,
        by_type=settings.providers_by_type,
        by_template=settings.providers_by_template,
        hint=(lambda name: enable_hints(configured).get(name)) if providers is None else None,
        judge=judge,
    )


def provider_problems(settings: Settings) -> list[tuple[str, str]]:
    """(`providers.<name>.<key>` or a routing key, message) for each provider setting that cannot work:
    a section its kind refuses, an unknown kind, a chain or route naming an unknown instance."""
    try:
        sections = settings.provider_sections()
    except ValueError as exc:
        return [("providers", str(exc))]
    problems = instance_problems(sections)
    known = set(sections) | set(discover()) | set(settings.provider_chains) | set(settings.provider_pipelines)
    for chain, members in settings.provider_chains.items():
        if chain in sections:
            problems.append((f"chains.{chain}", "has the name of a provider instance; rename the chain"))
        problems.extend((f"chains.{chain}", f"unknown provider {m!r}") for m in members if m not in known)
    for name, stages in settings.provider_pipelines.items():
        if name in sections or name in settings.provider_chains:
            problems.append((f"pipelines.{name}", "has the name of a provider instance or chain; rename the pipeline"))
        problems.extend(
            (f"pipelines.{name}.{stage}", f"unknown provider {member!r}")
            for stage, member in (("script", stages.script), ("render", stages.render))
            if member not in known
        )
    if settings.element_judge and settings.element_judge not in known:
        problems.append(("routing.judge", f"unknown provider {settings.element_judge!r}"))
    routes = {"routing.default": settings.default_provider}
    routes |= {f"routing.by_type.{t}": n for t, n in settings.providers_by_type.items()}
    routes |= {f"routing.by_template.{t}": n for t, n in settings.providers_by_template.items()}
    problems.extend((key, f"unknown provider {name!r}") for key, name in routes.items() if name not in known)
    return problems


def provider_warnings(settings: Settings) -> list[tuple[str, str]]:
    """(`providers.<name>.<key>`, message) for each deprecated provider key still in use (it works, for
    one more release)."""
    try:
        sections = settings.provider_sections()
    except ValueError:
        return []  # reported by provider_problems
    warnings: list[tuple[str, str]] = []
    for name, section in sections.items():
        if section.get("kind", name) == "http_video" and section.get("allow_private_hosts") is True:
            warnings.append(
                (
                    f"providers.{name}.allow_private_hosts",
                    "deprecated, and removed in the next release: it now lets only the hosts of this instance's "
                    "own URLs resolve to private addresses (which they may anyway on their own port); name any "
                    'other private host exactly: private_hosts = ["..."]',
                )
            )
    return warnings


def video_renders() -> int:
    """How many built-in video renders run at once unless `[providers.builtin_video]` says: one per two of the
    CPUs this process may use (x264 runs two threads), at least one. The others wait for a slot within their
    node's deadline: 40 first requests at once for the example's 30 s video on 2 cores all fell back at the
    node's 4 s with every render running (each slowed by all the others), 9 were served with one at a time."""
    return max(1, usable_cpus() // 2)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform has one, as on Linux; else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
