"""`MemoryCircuitBreaker`: the embedded circuit breaker of provider chains (one process).

`dyngen.adapters.providers.redis_breaker.RedisCircuitBreaker` is the scaled one (every process agrees).

A provider that fails `failures` times within `window_s` seconds cools down for `cooldown_s` seconds.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from datetime import timedelta

from dyngen.ports import Clock, Cooldown

log = logging.getLogger("dyngen.providers.breaker")


def cooldown_reason(failures: int, window_s: float, code: str) -> str:
    return f"{failures} failures in {window_s:g} s ({code})"


class MemoryCircuitBreaker:
    """The embedded breaker: failure times and cooldowns in this process, read from the injected clock.

    Args:
        clock: Its monotonic clock counts the window and the cooldown; its wall clock dates the expiry.
        failures: Failures within the window that trip the breaker.
        window_s: The window, seconds.
        cooldown_s: How long a tripped provider is skipped, seconds.
    """

    def __init__(self, *, clock: Clock, failures: int = 3, window_s: float = 60.0, cooldown_s: float = 30.0) -> None:
        self._clock = clock
        self._failures = failures
        self._window_s = window_s
        self._cooldown_s = cooldown_s
        self._seen: dict[str, deque[float]] = {}
        self._open: dict[str, tuple[float, Cooldown]] = {}  # name -> (monotonic end, cooldown)

    async def cooldown(self, name: str) -> Cooldown | None:
        entry = self._open.get(name)
        if entry is None:
            return None
        if self._clock.monotonic() >= entry[0]:
            del self._open[name]
            return None
        return entry[1]

    async def record_failure(self, name: str, *, code: str) -> Cooldown | None:
        if await self.cooldown(name) is not None:
            return None  # a call that started before the cooldown; it is already open
        now = self._clock.monotonic()
        seen = self._seen.setdefault(name, deque())
        seen.append(now)
        while seen and seen[0] <= now - self._window_s:
            seen.popleft()
        if len(seen) < self._failures:
            return None
        seen.clear()
        cooldown = Cooldown(
            until=self._clock.now() + timedelta(seconds=self._cooldown_s),
            reason=cooldown_reason(self._failures, self._window_s, code),
        )
        self._open[name] = (now + self._cooldown_s, cooldown)
        log.warning("provider.cooldown name=%s until=%s reason=%s", name, cooldown.until.isoformat(), cooldown.reason)
        return cooldown

    async def cooldowns(self, names: Iterable[str]) -> dict[str, Cooldown]:
        found = {name: await self.cooldown(name) for name in names}
        return {name: c for name, c in found.items() if c is not None}
