"""`RevalidatingMemo`: values read from a store, served while a re-read is stuck or refused.

The game runtime reads a stored graph's current version and a saved node's config on the request path; a
database that does not answer (or refuses) must not hold or fail a request for a node the process already
knows (issue 12: content or the node's fallback within the node's deadline). The key cache does the same
for API keys (`key_cache.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from dyngen.domain.errors import DyngenError
from dyngen.services.machinery.memo import LruMemo

log = logging.getLogger("dyngen.revalidating")

K = TypeVar("K")
V = TypeVar("V")

REFRESH_WAIT_S = 0.25
"""How long the request that starts a re-read waits for it before it is served what is known."""


class RevalidatingMemo(Generic[K, V]):
    """At most `max_entries` values by key, each trusted for `ttl_s` seconds after it was read.

    Past `ttl_s`, the next request starts a re-read (concurrent requests share it). While the known value
    is at most `stale_s` past its `ttl_s`, a re-read that does not answer at once does not hold requests:
    the request that started it waits `REFRESH_WAIT_S` at most (then says it is stuck, in the log), later
    ones not at all, and they are served the known value while it goes on (stale-while-revalidate); a
    re-read that fails with a `DyngenError` (the store is down) is served the known value too. Older than
    that, or never read, a request waits for the read and gets its error.

    Args:
        ttl_s: Seconds a read value is trusted.
        stale_s: Seconds past `ttl_s` that a known value is served while its re-read is stuck or failing.
        max_entries: Values remembered (least recently used go first).
        what: Names the values in the log.
    """

    def __init__(self, *, ttl_s: float, stale_s: float, max_entries: int = 1024, what: str = "value") -> None:
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self.what = what
        self._known: LruMemo[K, tuple[V, float]] = LruMemo(max_entries)
        self._reading: dict[K, asyncio.Task[V]] = {}

    def forget(self, key: K) -> None:
        """Drop what is known of `key` (changed in this process): the next request reads it again."""
        self._known.discard(key)
        self._reading.pop(key, None)  # a read under way stores nothing (it may have read the old value)

    def fresh(self, key: K, *, now: float) -> V | None:
        """The value of `key` when it is known and fresh, without a turn of the event loop; else None (`get`
        it)."""
        known = self._known.get(key)
        return known[0] if known is not None and now - known[1] < self.ttl_s else None

    async def get(self, key: K, read: Callable[[], Awaitable[V]], *, now: float) -> V:
        """The value of `key`: known and fresh, else from `read()` (see the class for a stuck or failing one).

        Raises:
            Whatever `read()` raises, when no known value is recent enough to serve instead.
        """
        known = self._known.get(key)
        if known is not None and now - known[1] < self.ttl_s:
            return known[0]
        task = self._reading.get(key)
        started = task is None or task.done()
        if task is None or started:
            task = asyncio.create_task(self._read(key, read, now), name=f"dyngen-reread-{self.what}")
            task.add_done_callback(_retrieve)  # a failure is answered to its waiters or logged, not at exit
            self._reading[key] = task
        if known is None or now - known[1] >= self.ttl_s + self.stale_s:
            return await asyncio.shield(task)  # the requests that arrived with it share its answer
        if started:
            await asyncio.wait({task}, timeout=REFRESH_WAIT_S)
            if not task.done():
                log.warning("revalidating.read_stuck what=%s serving_known=true", self.what)
                return known[0]
        elif not task.done():  # another request's re-read, under way: served what is known meanwhile
            return known[0]
        error = task.exception()
        if error is None:
            return task.result()
        if isinstance(error, DyngenError):
            log.warning("revalidating.read_failed what=%s code=%s serving_known=true", self.what, error.code.value)
            return known[0]
        raise error

    async def _read(self, key: K, read: Callable[[], Awaitable[V]], now: float) -> V:
        current = asyncio.current_task()
        try:
            value = await read()
        except BaseException:
            if self._reading.get(key) is current:
                del self._reading[key]
            raise
        if self._reading.get(key) is current:  # not forgotten meanwhile
            del self._reading[key]
            self._known.put(key, (value, now))
        return value


def _retrieve(task: asyncio.Task[object]) -> None:
    if not task.cancelled():
        task.exception()
