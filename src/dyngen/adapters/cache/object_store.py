"""`ObjectStoreCacheTier`: the durable tier, in the object store (a local folder or S3)."""

from __future__ import annotations

import contextlib
import hashlib
import struct
import time
from collections.abc import Callable, Iterable

from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import ObjectStore

_HEADER = struct.Struct(">d")  # expiry as wall-clock epoch seconds; 0 = never


class ObjectStoreCacheTier:
    """Entries under `cache/<sha256(key)>`, each prefixed with its expiry time.

    Wall-clock expiry, because the entry outlives the process that wrote it. Reads that fail (store
    unreachable) count as misses; the faster tiers keep serving.
    """

    name = "object"

    def __init__(self, *, store: ObjectStore, wall_clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._now = wall_clock

    @staticmethod
    def _key(key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"cache/{digest[:2]}/{digest}"

    async def get(self, key: str) -> bytes | None:
        try:
            raw = await self._store.get(self._key(key))
        except Exception:  # unreachable store: a miss, not an error
            return None
        if raw is None or len(raw) < _HEADER.size:
            return None
        (expires,) = _HEADER.unpack_from(raw)
        if expires and self._now() >= expires:
            return None
        return raw[_HEADER.size :]

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        if ttl_s is not None and ttl_s <= 0:  # already expired: drop any older entry instead
            with contextlib.suppress(Exception):
                await self._store.delete([self._key(key)])
            return
        expires = self._now() + ttl_s if ttl_s is not None else 0.0
        with contextlib.suppress(Exception):  # best effort: the entry can be regenerated
            await self._store.put(
                self._key(key), _HEADER.pack(expires) + value, content_type="application/octet-stream"
            )

    async def delete(self, keys: Iterable[str]) -> int:
        try:
            return await self._store.delete([self._key(k) for k in keys])
        except Exception as exc:  # a silent failure would serve stale content once the store is back
            raise DyngenError(
                ErrorCode.DEPENDENCY_UNAVAILABLE, f"cannot invalidate the object-store cache tier: {exc}"
            ) from exc
