"""`MemoryRateLimiter`: GCRA per key in this process (the embedded default)."""

from __future__ import annotations

from collections import OrderedDict

from dyngen.domain.rate_limits import Rate, gcra
from dyngen.ports import Clock, RateDecision


class MemoryRateLimiter:
    """One theoretical arrival time per key, on the injected clock's monotonic time.

    Args:
        clock: Time source (tests drive it).
        max_keys: Keys kept; the least recently used go first (an idle key's state is worthless anyway
            once its TAT is in the past).
    """

    def __init__(self, *, clock: Clock, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._tats: OrderedDict[str, float] = OrderedDict()

    async def acquire(self, key: str, *, per_second: float, burst: int) -> RateDecision:
        return self.acquire_now(key, per_second=per_second, burst=burst)

    def acquire_now(self, key: str, *, per_second: float, burst: int) -> RateDecision:
        """`acquire` without awaiting (no I/O here)."""
        step = gcra(self._tats.get(key), self._clock.monotonic(), Rate(per_second=per_second, burst=burst))
        if step.allowed:
            self._tats[key] = step.tat
            self._tats.move_to_end(key)
            while len(self._tats) > self._max_keys:
                self._tats.popitem(last=False)
        return RateDecision(allowed=step.allowed, retry_after_s=step.retry_after_s)
