"""Seed drift (spec section 9): the same key, seed, config and provider made other content before.

What a key's completed generations made is remembered per key in this process (`GenerationMemo.hashes`):
the first deterministic miss of a key reads it from the database (one light read, no artifacts), every
later one compares with what is remembered, its own generation added. The read needs the key alone, so it
starts before the provider is called (`look_up`) and is done by the time the content is there: the
answer does not wait for it after the provider (issue 18: ~3-5 ms per miss at concurrency 32). A key's
history made by another process after this one read it is not seen here; that process sees this one's
record when it looks, so a drift between two processes is still caught by one of them, as long as its memo
has not been filled first.
"""

from __future__ import annotations

import asyncio
import logging

from dyngen.domain.records import GenerationRecord
from dyngen.ports import HISTORY_PER_KEY, ContentHash
from dyngen.services.generation.ports import RunPorts

log = logging.getLogger("dyngen.generation")

# The share of what is left of the node's deadline that the lookup may take: the record and the answer
# need the rest (a database that accepts and never answers would otherwise hold the answer past it).
LOOKUP_SHARE = 0.25


Lookup = asyncio.Future[list[ContentHash]]


def look_up(key: str, *, ports: RunPorts) -> Lookup | None:
    """Start reading `key`'s history for `drifted`, unless it is remembered already or the database is
    taken as down (records wait in the outbox): the repository's future, read in place at once on SQLite,
    else with the other lookups of the moment (no task of its own: one per miss cost ~6 % of a miss's
    instructions, issue 18). The caller cancels it when there is nothing to compare."""
    if ports.hashes.get(key) is not None or (ports.outbox is not None and ports.outbox.holding()):
        return None
    try:
        return ports.repository.content_hashes_soon(key)
    except Exception as exc:  # telemetry: the generation goes on without it
        log.info("generation.drift_lookup_failed key=%s error=%s", key, type(exc).__name__)
        return None


async def drifted(record: GenerationRecord, *, deadline: float, ports: RunPorts, lookup: Lookup | None = None) -> bool:
    """Whether `record`'s content differs from an earlier generation of the same inputs.

    Logged with both hashes and counted; the caller marks the generation non-deterministic. A key not yet
    remembered is looked up (`lookup`, started by `look_up` before the provider ran, or now) and waited
    for within a share of what is left of the node's deadline (`LOOKUP_SHARE`) and `record_timeout_s`,
    and not at all while the database is taken as down (records wait in the outbox): telemetry never
    holds a player.
    """
    known = ports.hashes.get(record.cache_key)
    if known is None:
        within = min(ports.options.record_timeout_s, (deadline - ports.clock.monotonic()) * LOOKUP_SHARE)
        if within <= 0 or (ports.outbox is not None and ports.outbox.holding()):
            return False
        try:
            if lookup is None:
                lookup = ports.repository.content_hashes_soon(record.cache_key)
            if lookup.cancelled():
                return False  # the service is closing
            found: list[ContentHash] = await ports.tasks.run_within(f"drift:{record.id}", lookup, timeout_s=within)
            known = tuple(found)
        except Exception as exc:  # telemetry must never fail a generation (nor wait past its share)
            log.info("generation.drift_lookup_failed key=%s error=%s", record.cache_key, type(exc).__name__)
            return False
    mine = ContentHash(
        id=record.id,
        seed=record.seed,
        config_fingerprint=record.config_fingerprint,
        provider_fingerprint=record.provider_fingerprint,
        content_hash=record.content_hash,
    )
    ports.hashes.put(record.cache_key, (mine, *known)[:HISTORY_PER_KEY])
    for previous in known:
        same_inputs = (
            previous.id != record.id
            and previous.seed == record.seed
            and previous.config_fingerprint == record.config_fingerprint
            and previous.provider_fingerprint == record.provider_fingerprint
            and previous.content_hash is not None
        )
        if same_inputs and previous.content_hash != record.content_hash:
            log.warning(
                "generation.seed_drift key=%s seed=%s previous=%s previous_hash=%s hash=%s",
                record.cache_key,
                record.seed,
                previous.id,
                previous.content_hash,
                record.content_hash,
            )
            ports.metrics.seed_drift(node=record.node_id or "-")
            return True
    return False
