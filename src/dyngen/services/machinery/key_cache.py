"""`KeyCache`: what the request path needs to know about API keys, without asking the repository every time."""

from __future__ import annotations

import asyncio
import logging

from dyngen.domain.errors import DyngenError
from dyngen.ports import ApiKey, ApiKeyRepository
from dyngen.services.machinery.memo import LruMemo

log = logging.getLogger("dyngen.access")

_UNKNOWN_KEYS_REMEMBERED = 1024
# How long the request that starts a key refresh waits for it before it is served from what is known.
REFRESH_WAIT_S = 0.25


class KeyCache:
    """What the hot path needs to know about keys, refreshed at most every `ttl_s` seconds.

    Holds whether any active key exists, the active keys seen since the last refresh (by hash) and a
    bounded set of hashes that matched no active key. A key created or revoked in this process takes
    effect at once (`forget`); one created or revoked by another process within `ttl_s`. Concurrent
    requests share one refresh and one lookup per key: a cold process hit by hundreds of requests at once
    asks the database once, not once per request (which would drain its connection pool).

    A refresh that does not answer at once (a hung database) does not hold requests: while what is known
    is at most `stale_s` past its `ttl_s`, the request that started the refresh waits `REFRESH_WAIT_S` at
    most, later ones not at all, and they are answered from what is known while the refresh goes on
    (stale-while-revalidate). Older than that, a request waits for the refresh (bounded by the database's
    own timeouts).

    Args:
        ttl_s: Seconds between refreshes (0 asks the repository on every request).
        stale_s: Seconds past `ttl_s` that known keys are served while a refresh is stuck.
    """

    def __init__(self, *, ttl_s: float = 5.0, stale_s: float = 0.0) -> None:
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self._refreshing: asyncio.Task[None] | None = None
        self._loaded_at: float | None = None
        self._any_active = False
        self._active: dict[str, ApiKey] = {}
        self._unknown: LruMemo[str, bool] = LruMemo(_UNKNOWN_KEYS_REMEMBERED)
        self._looking_up = asyncio.Lock()

    def forget(self) -> None:
        """Drop everything: the next request asks the repository again."""
        self._loaded_at = None

    async def any_active(self, repository: ApiKeyRepository, *, now: float) -> bool:
        await self._refresh(repository, now)
        return self._any_active

    async def active_key(self, repository: ApiKeyRepository, key_hash: str, *, now: float) -> ApiKey | None:
        """The active key with this hash, or None (unknown or revoked)."""
        await self._refresh(repository, now)
        if (known := self._active.get(key_hash)) is not None:
            return known
        if self._unknown.get(key_hash):
            return None
        async with self._looking_up:  # the requests that arrived with it wait for its answer
            if (known := self._active.get(key_hash)) is not None:
                return known
            if self._unknown.get(key_hash):
                return None
            found = await repository.key_by_hash(key_hash)
            if found is None or found.revoked_at is not None:
                self._unknown.put(key_hash, True)
                return None
            self._active[key_hash] = found
            return found

    def _fresh(self, now: float) -> bool:
        return self._loaded_at is not None and now - self._loaded_at < self.ttl_s

    async def _refresh(self, repository: ApiKeyRepository, now: float) -> None:
        if self._fresh(now):
            return
        task = self._refreshing
        started = task is None or task.done()
        if task is None or started:
            task = self._refreshing = asyncio.create_task(self._load(repository, now), name="dyngen-key-refresh")
            task.add_done_callback(_retrieve)  # a background failure is logged by `_load`, not at exit
        usable = self._loaded_at is not None and now - self._loaded_at < self.ttl_s + self.stale_s
        if not usable:
            await asyncio.shield(task)  # the requests that arrived with it share its answer
            return
        if started:
            await asyncio.wait({task}, timeout=REFRESH_WAIT_S)
            if not task.done():
                log.warning("access.refresh_stuck serving_cached_keys=%d", len(self._active))
        if task.done():
            task.result()

    async def _load(self, repository: ApiKeyRepository, now: float) -> None:
        try:
            count = await repository.count_active_keys()
        except DyngenError:
            if self._loaded_at is None:
                raise
            # The database is down: keep what we knew (keys seen before still work; new ones wait), and
            # ask again after another ttl rather than on every request.
            log.warning("access.refresh_failed keeping_cached_keys=%d", len(self._active))
            self._loaded_at = now
            return
        self._loaded_at = now
        self._any_active = count > 0
        self._active = {}
        self._unknown = LruMemo(_UNKNOWN_KEYS_REMEMBERED)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
