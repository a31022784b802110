"""`MemoryCacheTier`: the in-process LRU tier, bounded by bytes and by entries."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable


class MemoryCacheTier:
    """An LRU of byte values with optional TTLs.

    Args:
        max_bytes: Evict least-recently-used entries while the values' total size exceeds this.
        max_entries: Evict while there are more entries than this.
        monotonic: Clock for TTLs (seconds).
    """

    name = "memory"

    def __init__(self, *, max_bytes: int, max_entries: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and self._monotonic() >= expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        self._drop(key)
        if len(value) > self._max_bytes or self._max_entries == 0:
            return
        expires = self._monotonic() + ttl_s if ttl_s is not None else None
        self._entries[key] = (value, expires)
        self._bytes += len(value)
        while self._bytes > self._max_bytes or len(self._entries) > self._max_entries:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    async def delete(self, keys: Iterable[str]) -> int:
        removed = 0
        for key in keys:
            removed += self._drop(key)
        return removed

    async def clear(self) -> None:
        """Drop everything (after missed invalidations, nothing here can be trusted)."""
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: str) -> int:
        entry = self._entries.pop(key, None)
        if entry is None:
            return 0
        self._bytes -= len(entry[0])
        return 1
