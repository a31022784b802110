"""Preparing a generate request: everything about it that does not depend on the moment (its resolved node,
validation, provider, cache key, seed, variant and config fingerprint), and its variant picked again by
review scores at serve time.

Preparing is two steps: the `Groundwork` (the node resolved and validated, its provider, fingerprint and
content digest), then what the player context's ids decide (`finish`: the key's scope, the seed, the
variant). A request whose resolution reads no more of its player context than those ids (no rules,
template or A/B arms) has one groundwork for every player context (`Preparer.for_context`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass, replace

from dyngen.domain.cache_keys import (
    ReviewPolicy,
    cache_key,
    choose_variant,
    content_digest,
    pool_of,
    resolve_seed,
)
from dyngen.domain.contracts import (
    GenerateContentRequest,
    NodeStatus,
    PlayerContext,
    SeedSource,
    Severity,
    Strategy,
)
from dyngen.domain.dsl import CompileResult, compile_rules
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.prompts import template_findings
from dyngen.domain.responses import VariantInfo
from dyngen.domain.validation import validate_config
from dyngen.ports import Clock, Provider, ReviewRepository
from dyngen.services.generation.outcomes import Prepared
from dyngen.services.generation.resolution import Resolved, resolve
from dyngen.services.machinery.container import Options
from dyngen.services.machinery.memo import LruMemo
from dyngen.services.machinery.providers import ProviderRegistry
from dyngen.services.machinery.scores import ScoreBoard
from dyngen.services.machinery.template_library import TemplateLibrary

log = logging.getLogger("dyngen.generation")

_SHAPING_FIELDS = {
    "style",
    "duration",
    "constraints",
    "from_scene",
    "to_scene",
    "social_context",
    "provider",
    "fallback",
    "prompt",
    "characters",
    "lore",
}


def config_fingerprint(request: GenerateContentRequest, *, provider: str) -> str:
    """A hash of everything that shapes content but is not in the cache key: the request's shaping
    fields and the provider that makes it.

    A cached entry made under another fingerprint is stale (the node changed without a version bump, or
    another provider now makes its content, as text where video is expected) and is regenerated rather
    than served.
    """
    shaping = request.model_dump(mode="json", include=_SHAPING_FIELDS) | {"provider": provider}
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _reject_invalid(request: GenerateContentRequest) -> None:
    report = validate_config(request.node_config())
    # A prompt template that cannot render is refused like any config error (422), not sent to a provider.
    templates = template_findings(request.prompt)
    if report.status is NodeStatus.ERRORS or templates:
        errors = [f for f in [*report.findings, *templates] if f.severity is Severity.ERROR]
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"the node config has {len(errors)} error{'s' if len(errors) != 1 else ''}",
            details=[f.model_dump(mode="json") for f in errors],
        )


@dataclass(frozen=True, slots=True)
class Groundwork:
    """The part of a prepared request its player context's ids do not change: the node as resolved and
    validated, its provider, its config fingerprint and the content digest its cache key ends with."""

    resolved: Resolved
    provider: Provider
    fingerprint: str
    digest: str

    def for_context(self, context: PlayerContext | None) -> Groundwork:
        """This groundwork for another player context of a request whose resolution does not read it."""
        request = self.resolved.request.model_copy(update={"player_context": context})
        return replace(self, resolved=replace(self.resolved, request=request))


def groundwork(resolved: Resolved, *, providers: ProviderRegistry) -> Groundwork:
    """The groundwork of a resolved, valid request.

    Raises:
        DyngenError: GEN_INVALID_CONFIG (422) for an unknown provider, or one that cannot make its type.
    """
    request = resolved.request
    provider = providers.select(request)
    fingerprint = config_fingerprint(request, provider=provider.info.name)
    return Groundwork(resolved=resolved, provider=provider, fingerprint=fingerprint, digest=content_digest(request))


def prepare(
    *,
    request: GenerateContentRequest,
    providers: ProviderRegistry,
    templates: TemplateLibrary,
    rules: LruMemo[bytes, CompileResult],
    entropy: random.Random,
    options: Options,
) -> Prepared:
    """Validate a request and work out everything about it that does not depend on the moment.

    `rules` remembers compiled rule sources; `entropy` draws fresh (`timestamp`) seeds.

    Raises:
        DyngenError: GEN_INVALID_CONFIG (422) for a config with errors, a missing scope id or an unknown
            provider; FORBIDDEN (403) for `simulate` while dev tools are off.
    """
    if request.simulate is not None and not options.dev_tools:
        raise DyngenError(ErrorCode.FORBIDDEN, "simulate is a dev tool and dev tools are off in this deployment")
    try:
        resolved = resolve(request=request, templates=templates, rules=rules, relationships=options.relationship_table)
        _reject_invalid(resolved.request)
    except DyngenError as exc:
        if not _rules_broke_it(request, exc, templates=templates, rules=rules, options=options):
            raise
        return _refused(request, exc, providers=providers, entropy=entropy)
    return finish(groundwork(resolved, providers=providers), entropy=entropy, options=options)


def finish(ground: Groundwork, *, entropy: random.Random, options: Options) -> Prepared:
    """A prepared request from its groundwork: what its player context's ids decide (the key's scope, the
    seed and, for a pooled node, the variant).

    Raises:
        DyngenError: GEN_INVALID_CONFIG (422) naming the missing id (a playthroughId, playerId or seed).
    """
    resolved, provider = ground.resolved, ground.provider
    request = resolved.request
    key = cache_key(request, qualifiers=resolved.qualifiers, digest=ground.digest)
    seed = resolve_seed(request, entropy=entropy)
    variant = None
    if (pool := pool_of(request, seed, qualifiers=resolved.qualifiers, digest=ground.digest)) is not None:
        # Without reviews; `scored` picks again by review scores at serve time.
        index = choose_variant(pool.choice_seed, pool.size, {}, options.review_policy)
        key, seed = pool.keys[index], pool.seeds[index]
        variant = VariantInfo(index=index, pool_size=pool.size)
    forced = request.simulate.forced_failure() if request.simulate else None
    return Prepared(
        request=request,
        provider=provider,
        key=key,
        fingerprint=ground.fingerprint,
        seed=seed if seed.source is not SeedSource.TIMESTAMP else None,
        cacheable=request.strategy is not Strategy.ALWAYS and forced is None,
        ttl_s=options.cache_ttl_s.get(request.strategy.value),
        variant=variant,
        rating=resolved.rating,
        pool=pool,
        arm=resolved.arm,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Preparer:
    """What preparing a request reads, for the use cases that prepare requests without serving them: a
    job (when it is submitted and when it runs) and a warm-up's plan.

    Attributes:
        providers: The configured providers, one of which each request is made by.
        templates: The template library a node's `template_id` names.
        rules: Compiled rule sources, remembered by source.
        entropy: Where fresh (`timestamp`) seeds come from.
        options: The settings `prepare` reads (dev tools, relationship table, review policy, cache TTLs).
    """

    providers: ProviderRegistry
    templates: TemplateLibrary
    rules: LruMemo[bytes, CompileResult]
    entropy: random.Random
    options: Options

    def prepare(self, request: GenerateContentRequest) -> Prepared:
        """`prepare` with these dependencies (same errors)."""
        return prepare(
            request=request,
            providers=self.providers,
            templates=self.templates,
            rules=self.rules,
            entropy=self.entropy,
            options=self.options,
        )

    def groundwork(self, request: GenerateContentRequest) -> Groundwork:
        """The groundwork of a request without `simulate` or rules (same errors as `prepare`)."""
        resolved = self.resolve(request)
        _reject_invalid(resolved.request)
        return groundwork(resolved, providers=self.providers)

    def for_context(self, ground: Groundwork, context: PlayerContext | None) -> Prepared:
        """The prepared request of `ground`'s request with another player context, when its resolution does
        not read the context (no rules, template or A/B arms); `finish`'s errors."""
        return finish(ground.for_context(context), entropy=self.entropy, options=self.options)

    def resolve(self, request: GenerateContentRequest) -> Resolved:
        """`resolution.resolve` with these dependencies (same errors): the request its template, arm, rules
        and social context make."""
        return resolve(
            request=request, templates=self.templates, rules=self.rules, relationships=self.options.relationship_table
        )


def _rules_broke_it(
    request: GenerateContentRequest,
    error: DyngenError,
    *,
    templates: TemplateLibrary,
    rules: LruMemo[bytes, CompileResult],
    options: Options,
) -> bool:
    """Whether `error` comes from what the node's (compiling) rules made of it for this player: the same
    node without its rules resolves to a valid config."""
    if (
        error.code is not ErrorCode.GEN_INVALID_CONFIG
        or not request.rules
        or compile_rules(request.rules).program is None
    ):
        return False
    try:
        unruled = request.model_copy(update={"rules": None})
        resolved = resolve(request=unruled, templates=templates, rules=rules, relationships=options.relationship_table)
        _reject_invalid(resolved.request)
    except DyngenError:
        return False
    return True


def _refused(
    request: GenerateContentRequest, error: DyngenError, *, providers: ProviderRegistry, entropy: random.Random
) -> Prepared:
    """A request its rules made invalid for this player: served as the node's fallback with the error and
    its findings on the record (spec: the player never waits on a broken scene), never cached."""
    log.warning("generation.rules_invalid node=%s findings=%d", request.node_id, len(error.details or []))
    provider = providers.select(request)
    return Prepared(
        request=request,
        provider=provider,
        key=cache_key(request),
        fingerprint=config_fingerprint(request, provider=provider.info.name),
        seed=resolve_seed(request, entropy=entropy),
        cacheable=False,
        ttl_s=None,
        refused=error,
    )


async def scored(
    prepared: Prepared, *, scores: ScoreBoard, reviews: ReviewRepository, clock: Clock, policy: ReviewPolicy
) -> Prepared:
    """`prepared` with its pool's variant chosen by review scores (`domain.cache_keys.choose_variant`):
    better-scored variants serve more players, variants scored below the drop threshold none. Unchanged
    for a node without a pool, or while no variant of the pool has a review."""
    pool = prepared.pool
    if pool is None:
        return prepared
    by_key = await scores.key_scores(reviews, pool.keys, now=clock.monotonic())
    if not by_key:
        return prepared
    index = choose_variant(
        pool.choice_seed, pool.size, {i: by_key[k] for i, k in enumerate(pool.keys) if k in by_key}, policy
    )
    if prepared.variant is not None and prepared.variant.index == index:
        return prepared
    return replace(
        prepared, key=pool.keys[index], seed=pool.seeds[index], variant=VariantInfo(index=index, pool_size=pool.size)
    )
