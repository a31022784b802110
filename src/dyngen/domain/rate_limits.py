"""Rate limits as GCRA (the generic cell rate algorithm): one number per key, the theoretical arrival time.

A limit admits `burst` requests at once from idle and then one every `1 / per_second` seconds. The state
of a key is its theoretical arrival time (TAT); a request is admitted when the TAT is no more than
`interval * (burst - 1)` ahead of now, and then moves the TAT one interval on. The Redis adapter runs the
same arithmetic in Lua on Redis's clock; the memory adapter runs `gcra` on the injected Clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate limit.

    Attributes:
        per_second: Sustained requests per second.
        burst: Requests admitted at once after a quiet spell (at least 1).
    """

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_second <= 0:
            raise ValueError("a rate limit needs a positive rate")
        if self.burst < 1:
            raise ValueError("a rate limit's burst is at least 1")

    @property
    def interval_s(self) -> float:
        return 1.0 / self.per_second

    @property
    def tolerance_s(self) -> float:
        return self.interval_s * (self.burst - 1)


@dataclass(frozen=True, slots=True)
class GcraStep:
    """The decision for one request and the key's next state.

    Attributes:
        allowed: The request is admitted.
        tat: The key's theoretical arrival time afterwards (unchanged when refused).
        retry_after_s: When refused, seconds until the same request would be admitted (0 when allowed).
    """

    allowed: bool
    tat: float
    retry_after_s: float


def gcra(tat: float | None, now: float, rate: Rate) -> GcraStep:
    """One request against a key whose theoretical arrival time is `tat` (None: never seen)."""
    current = now if tat is None else max(tat, now)
    ahead = current - now
    if ahead > rate.tolerance_s + 1e-9:
        return GcraStep(allowed=False, tat=current, retry_after_s=ahead - rate.tolerance_s)
    return GcraStep(allowed=True, tat=current + rate.interval_s, retry_after_s=0.0)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Which rate limits apply, from settings (None: no limit).

    Attributes:
        api_key: Generate requests per API key (unauthenticated callers share one key, `-`).
        player: Generate requests per player (`player_context.playerId`).
        always_node: Generations per always-fresh node, unless `nodes` has its own.
        nodes: Per always-fresh node id.
    """

    api_key: Rate | None = None
    player: Rate | None = None
    always_node: Rate | None = None
    nodes: dict[str, Rate] = field(default_factory=dict)

    def node(self, node_id: str | None) -> Rate | None:
        if node_id is not None and node_id in self.nodes:
            return self.nodes[node_id]
        return self.always_node
