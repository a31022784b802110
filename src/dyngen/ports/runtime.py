"""The clock and the metrics sink."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Every clock read and sleep goes through here, so tests can drive time."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class Metrics(Protocol):
    """Telemetry (spec section 12), exported in Prometheus's text format."""

    def generation(self, *, node: str, type_: str, provider: str, outcome: str, seconds: float, tokens: int) -> None:
        """One provider run ended: `outcome` is complete or the error code."""
        ...

    def cache_request(self, *, node: str, tier: str, hit: bool) -> None: ...

    def provider_call(self, *, provider: str, outcome: str) -> None: ...

    def job_event(self, *, type_: str) -> None: ...

    def waiters(self, delta: int) -> None:
        """Callers waiting on another caller's single flight (+1 on join, -1 when served)."""
        ...

    def seed_drift(self, *, node: str) -> None: ...

    def cache_counts(self, *, node: str) -> tuple[int, int]:
        """(hits, misses) counted for a node (across this machine's processes)."""
        ...

    def render(self) -> tuple[bytes, str]:
        """The exposition and its content type."""
        ...
