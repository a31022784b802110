"""`LayeredCache`: read-through over the configured cache tiers, with promotion, and deletes that reach every
process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from dyngen.ports import CacheTier, InvalidationBus

T = TypeVar("T")


class LayeredCache:
    """Reads tiers in order (fastest first); a hit in a slower tier fills the faster ones.

    Writes and deletes reach every tier; deletes also go out on the invalidation bus, so the local
    (memory) tiers of every other process drop the keys too.

    Args:
        tiers: The fast tiers (memory, Redis), fastest first: read on every request.
        durable: The slow, durable tiers (the object store): read only by `get(..., durable=True)`, which
            the service does inside a single flight, so a crowd of misses costs one slow read, not one each.
        bus: Carries invalidations to other processes (None when there is only one process).
    """

    def __init__(
        self, tiers: Sequence[CacheTier], *, durable: Sequence[CacheTier] = (), bus: InvalidationBus | None = None
    ) -> None:
        self.fast = list(tiers)
        self.tiers = [*tiers, *durable]
        self._bus = bus

    async def get(
        self,
        key: str,
        decode: Callable[[bytes], T | None],
        *,
        durable: bool = False,
        promote_ttl_s: float | None = None,
    ) -> tuple[T, str] | None:
        """The first entry `decode` accepts (it returns None for a stale or unreadable entry), and its tier.

        Reads the fast tiers, and the durable ones too when `durable`. A hit in a slower tier is copied
        into the faster ones with `promote_ttl_s`.
        """
        for index, tier in enumerate(self.tiers if durable else self.fast):
            raw = await tier.get(key)
            if raw is None:
                continue
            value = decode(raw)
            if value is None:
                continue
            for faster in self.tiers[:index]:
                await faster.set(key, raw, ttl_s=promote_ttl_s)
            return value, tier.name
        return None

    async def nearest(self, key: str, decode: Callable[[bytes], T | None]) -> tuple[T, str] | None:
        """`get` from the fastest tier alone (no promotion): the first look of a hit served in one step."""
        if not self.fast:
            return None
        tier = self.fast[0]
        raw = await tier.get(key)
        value = None if raw is None else decode(raw)
        return None if value is None else (value, tier.name)

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        for tier in self.tiers:
            await tier.set(key, value, ttl_s=ttl_s)

    async def entries(self, key: str) -> list[bytes]:
        """What every tier (fast and durable) holds for `key`, each read on its own (retention reads what
        any tier could still serve). The shared tiers read an outage as a miss: check they answer first."""
        found = []
        for tier in self.tiers:
            raw = await tier.get(key)
            if raw is not None:
                found.append(raw)
        return found

    async def drop_copies(self, keys: Sequence[str]) -> None:
        """Ask every other process to drop its local (memory) copies of `keys`; the shared tiers keep
        theirs. Retention does this before removing content a stale local copy may still name."""
        if self._bus is not None and keys:
            await self._bus.publish(keys)

    async def delete(self, keys: Sequence[str]) -> int:
        """Delete `keys` from every tier, the slowest first: while a durable tier's delete waits for its
        commit, a read that finds the entry there would copy it back into the faster tiers emptied already."""
        removed = 0
        for tier in reversed(self.tiers):
            removed = max(removed, await tier.delete(keys))
        if self._bus is not None and keys:
            await self._bus.publish(keys)
        return removed
