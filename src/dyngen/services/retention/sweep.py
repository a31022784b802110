"""One retention sweep, and the server's periodic one.

What a sweep keeps, whatever its age (see `domain/retention.py`):
- every generation a cache entry in any tier this process reads names (memory, Redis, the object store);
- the newest complete generation of each key while that key's entries may still be cached (another
  process's memory tier, which no sweep can read; the keys whose older content goes are also sent on the
  invalidation bus, so those processes drop their local copies and read the shared tiers again);
- every generation owning an artifact that a scene graph or node config names (scene images);
- reviewed generations (A/B arm and pool scores are their reviews), queued and running jobs.
An artifact object goes only when no remaining artifact record names it, checked again after a grace (a
generation may just have stored the same bytes, artifacts being content-addressed). Nothing is removed while a
dependency is down (a shared cache tier that cannot be read could hide a reference).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.retention import RetentionPolicy, may_be_cached, referenced_tokens
from dyngen.ports import BYTES, ArtifactStore, Clock, ExpiredGeneration, RetentionRepository, SingleFlight
from dyngen.services.machinery.layered_cache import LayeredCache

log = logging.getLogger("dyngen.retention")


@dataclass(slots=True)
class SweepReport:
    """What a sweep removed (or, in a dry run, would remove).

    Attributes:
        generations: Generation records removed (`by_strategy`: how many of each strategy, `failed`: of them failed).
        artifacts: Artifact records removed.
        objects: Artifact objects removed from the store; `bytes` is their size.
        events: Job and warm-up events removed (with their generations or on their own).
        warmups: Finished warm-up runs removed.
        kept: Expired generations kept because something still refers to them.
    """

    dry_run: bool = False
    generations: int = 0
    failed: int = 0
    by_strategy: dict[str, int] = field(default_factory=dict)
    artifacts: int = 0
    objects: int = 0
    bytes: int = 0
    events: int = 0
    warmups: int = 0
    kept: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "generations": self.generations,
            "failed": self.failed,
            "by_strategy": dict(sorted(self.by_strategy.items())),
            "artifacts": self.artifacts,
            "objects": self.objects,
            "bytes": self.bytes,
            "events": self.events,
            "warmups": self.warmups,
            "kept": self.kept,
        }


async def _check_dependencies(probes: Mapping[str, Callable[[], Awaitable[None]]]) -> None:
    for name, probe in probes.items():
        try:
            await probe()
        except Exception as exc:
            raise DyngenError(
                ErrorCode.DEPENDENCY_UNAVAILABLE, f"retention sweep skipped: {name} is unreachable ({exc})"
            ) from exc


async def _protected(
    batch: Sequence[ExpiredGeneration],
    *,
    authored: set[str],
    repository: RetentionRepository,
    cache: LayeredCache,
    cache_ttl_s: Mapping[str, float | None],
    now: datetime,
) -> set[str]:
    """The ids in `batch` that something still refers to (`authored`: the generations scene graphs and node
    configs name, or whose artifacts they name)."""
    kept = set(authored)
    keys = sorted({g.cache_key for g in batch})
    for tied in (await repository.newest_complete(keys)).values():
        kept.update(g.id for g in tied if may_be_cached(g.created_at, ttl_s=cache_ttl_s.get(g.strategy), now=now))
    # Only the keys with a candidate nothing keeps yet are read from the tiers (a slow tier is read
    # once per such key, not once per long-cached `once` key at every sweep).
    tokens: set[str] = set()
    for key in sorted({g.cache_key for g in batch if g.id not in kept}):
        for raw in await cache.entries(key):
            tokens |= referenced_tokens(raw)
    owners = await repository.artifact_owners(tokens)
    kept |= tokens | set(owners.values())
    return {g.id for g in batch if g.id in kept}


async def _delete_objects(
    orphans: Mapping[str, int],
    *,
    repository: RetentionRepository,
    artifacts: ArtifactStore,
    clock: Clock,
    grace_s: float,
) -> tuple[int, int]:
    """Delete the objects no record names any more, after `grace_s` and a second look (a generation may
    have stored the same content just now and be about to write its record). Returns (objects, bytes)."""
    if grace_s > 0:
        await clock.sleep(grace_s)
    named = await repository.named_uris(orphans)
    doomed = sorted(uri for uri in orphans if uri not in named)
    if not doomed:
        return 0, 0
    return await artifacts.delete(doomed), sum(orphans[uri] for uri in doomed)


async def sweep(
    *,
    policy: RetentionPolicy,
    repository: RetentionRepository,
    cache: LayeredCache,
    artifacts: ArtifactStore,
    clock: Clock,
    cache_ttl_s: Mapping[str, float | None],
    probes: Mapping[str, Callable[[], Awaitable[None]]] | None = None,
    dry_run: bool = False,
) -> SweepReport:
    """Remove what is past its retention window and referred to by nothing (see the module docstring).

    Raises:
        DyngenError: DEPENDENCY_UNAVAILABLE when a dependency does not answer (nothing is removed then).
    """
    await _check_dependencies(probes or {})
    now = clock.now()
    report = SweepReport(dry_run=dry_run)
    named = referenced_tokens(await repository.authored_references())
    authored = named | set((await repository.artifact_owners(named)).values())
    after: tuple[datetime, str] | None = None
    orphans: dict[str, int] = {}
    while True:
        batch = await repository.expired_generations(
            cutoffs=policy.record_cutoffs(now), failed_before=policy.failed_cutoff(now), after=after, limit=policy.batch
        )
        if not batch:
            break
        after = (batch[-1].created_at, batch[-1].id)
        keep = await _protected(
            batch, authored=authored, repository=repository, cache=cache, cache_ttl_s=cache_ttl_s, now=now
        )
        doomed = [g for g in batch if g.id not in keep]
        report.kept += len(keep)
        if not doomed:
            continue
        if not dry_run:  # other processes' memory tiers may hold an older entry of these keys
            await cache.drop_copies(sorted({g.cache_key for g in doomed}))
        removed = await repository.remove_generations([g.id for g in doomed], dry_run=dry_run)
        report.generations += removed.generations
        report.artifacts += removed.artifacts
        report.events += removed.events
        for g in doomed:
            report.by_strategy[g.strategy] = report.by_strategy.get(g.strategy, 0) + 1
            report.failed += g.status == "failed"
        orphans.update(removed.orphans)
    if dry_run:
        report.objects, report.bytes = len(orphans), sum(orphans.values())
    elif orphans:
        report.objects, report.bytes = await _delete_objects(
            orphans, repository=repository, artifacts=artifacts, clock=clock, grace_s=policy.object_grace_s
        )
    if (before := policy.events_cutoff(now)) is not None:
        report.events += await repository.remove_events(before=before, dry_run=dry_run)
    if (before := policy.warmups_cutoff(now)) is not None:
        report.warmups += await repository.remove_warmups(before=before, dry_run=dry_run)
    log.info(
        "retention.swept dry_run=%s generations=%d artifacts=%d objects=%d bytes=%d events=%d warmups=%d kept=%d",
        dry_run,
        report.generations,
        report.artifacts,
        report.objects,
        report.bytes,
        report.events,
        report.warmups,
        report.kept,
    )
    return report


SWEEP_FLIGHT = "dyngen:retention-sweep"


async def sweep_loop(
    *,
    interval_s: float,
    policy: RetentionPolicy,
    repository: RetentionRepository,
    cache: LayeredCache,
    artifacts: ArtifactStore,
    clock: Clock,
    cache_ttl_s: Mapping[str, float | None],
    flights: SingleFlight,
    probes: Mapping[str, Callable[[], Awaitable[None]]] | None = None,
) -> None:
    """Sweep every `interval_s`, forever (a background task of the server). The sweep runs in a single
    flight, so with Redis one process sweeps at a time; a failed sweep is retried at the next one."""

    async def once() -> bytes:
        report = await sweep(
            policy=policy,
            repository=repository,
            cache=cache,
            artifacts=artifacts,
            clock=clock,
            cache_ttl_s=cache_ttl_s,
            probes=probes,
        )
        return str(report.generations).encode()

    while True:
        await clock.sleep(interval_s)
        try:
            await flights.run(SWEEP_FLIGHT, once, codec=BYTES)
        except asyncio.CancelledError:
            raise
        except DyngenError as exc:
            log.warning("retention.sweep_skipped reason=%s", exc.message)
        except Exception:
            log.exception("retention.sweep_failed")
