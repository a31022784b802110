"""`ObjectStoreCacheTier`: the durable tier, in the object store (a local folder or S3)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ObjectStore

T = TypeVar("T")
_HEADER = struct.Struct(">d")  # expiry as wall-clock epoch seconds; 0 = never
# The longest a request waits on this tier: a read not answered by then is a miss, a write not done by
# then finishes behind the answer. Far under a node's deadline: a store that accepts and never answers
# must not hold a miss past it (the store's own timeouts, seconds, still end the call it leaves running).
WITHIN_S = 0.5
CACHE_FOLDER = "cache"  # the entries' folder (prefix) in the store


class ObjectStoreCacheTier:
    """Entries under `cache/<sha256(key)>`, each prefixed with its expiry time.

    Wall-clock expiry, because the entry outlives the process that wrote it. Reads that fail (store
    unreachable) or that the store has not answered within `within_s` count as misses; the faster tiers
    keep serving. A call left behind carries on within the store's own deadline, so that the store's
    adapter still learns whether it answers (and stops calling it while it does not). `within_s=None`
    waits for the store (a folder, memory). With `writes=False` it only reads and deletes: the folder
    entries an embedded install wrote before its durable tier moved into the database (`SqlCacheTier`)
    are still served, and invalidated, but no new ones are made.
    """

    name = "object"

    def __init__(
        self,
        *,
        store: ObjectStore,
        wall_clock: Callable[[], float] = time.time,
        within_s: float | None = WITHIN_S,
        writes: bool = True,
    ) -> None:
        self._store = store
        self._writes = writes
        self._now = wall_clock
        self._within_s = within_s
        self._behind: set[asyncio.Task[object]] = set()

    async def _bounded(self, call: Awaitable[T]) -> T:
        """`call` within `within_s`; past it, TimeoutError, and the call carries on behind (no bound when
        `within_s` is None: a local store, which cannot hang up on us)."""
        if self._within_s is None:
            return await call
        task = asyncio.ensure_future(call)
        try:
            async with asyncio.timeout(self._within_s):
                return await asyncio.shield(task)
        except BaseException:
            if not task.done():
                self._behind.add(task)
                task.add_done_callback(self._left_behind)
            raise

    def _left_behind(self, task: asyncio.Task[object]) -> None:
        self._behind.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its failure is the store adapter's to report

    @staticmethod
    def _key(key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{CACHE_FOLDER}/{digest[:2]}/{digest}"

    async def get(self, key: str) -> bytes | None:
        try:
            raw = await self._bounded(self._store.get(self._key(key)))
        except Exception:  # unreachable or silent store: a miss, not an error
            return None
        if raw is None or len(raw) < _HEADER.size:
            return None
        (expires,) = _HEADER.unpack_from(raw)
        if expires and self._now() >= expires:
            return None
        return raw[_HEADER.size :]

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        if not self._writes:
            return
        if ttl_s is not None and ttl_s <= 0:  # already expired: drop any older entry instead
            with contextlib.suppress(Exception):
                await self._store.delete([self._key(key)])
            return
        expires = self._now() + ttl_s if ttl_s is not None else 0.0
        with contextlib.suppress(Exception):  # best effort: the entry can be regenerated
            await self._bounded(
                self._store.put(self._key(key), _HEADER.pack(expires) + value, content_type="application/octet-stream")
            )

    async def delete(self, keys: Iterable[str]) -> int:
        try:
            return await self._store.delete([self._key(k) for k in keys])
        except Exception as exc:  # a silent failure would serve stale content once the store is back
            raise DyngenError(
                ErrorCode.DEPENDENCY_UNAVAILABLE, f"cannot invalidate the object-store cache tier: {exc}"
            ) from exc
