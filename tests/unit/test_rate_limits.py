"""GCRA arithmetic (domain/rate_limits.py) through the MemoryRateLimiter on a FakeClock, budget periods,
and the settings that configure both."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dyngen.adapters.rate_limits.memory import MemoryRateLimiter
from dyngen.config import Settings
from dyngen.config_sections import RateLimitSetting
from dyngen.domain.budgets import GLOBAL_SCOPE, BudgetPeriod, BudgetPolicy, period_window, to_micros
from dyngen.domain.rate_limits import Rate, gcra
from dyngen.services.access.rate_limits import player_of
from tests.fakes import FakeClock


async def test_a_burst_is_admitted_at_once_then_one_per_interval() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    admitted = [(await limiter.acquire("k", per_second=10, burst=3)).allowed for _ in range(4)]
    assert admitted == [True, True, True, False]
    refused = await limiter.acquire("k", per_second=10, burst=3)
    assert refused.retry_after_s == pytest.approx(0.1)
    clock.advance(0.099)
    assert not (await limiter.acquire("k", per_second=10, burst=3)).allowed
    clock.advance(0.001)
    assert (await limiter.acquire("k", per_second=10, burst=3)).allowed
    assert not (await limiter.acquire("k", per_second=10, burst=3)).allowed


async def test_the_sustained_rate_is_the_configured_one() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    admitted = 0
    for _ in range(10_000):  # a request every millisecond for 10 s at 25/s with a burst of 5
        admitted += (await limiter.acquire("k", per_second=25, burst=5)).allowed
        clock.advance(0.001)
    assert 5 + 249 <= admitted <= 5 + 250  # the burst, then 25 a second (the last slot may fall at 10.0 s)


async def test_keys_are_independent_and_idle_keys_refill() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    assert (await limiter.acquire("a", per_second=1, burst=1)).allowed
    assert not (await limiter.acquire("a", per_second=1, burst=1)).allowed
    assert (await limiter.acquire("b", per_second=1, burst=1)).allowed
    clock.advance(3600)
    results = [(await limiter.acquire("a", per_second=1, burst=2)).allowed for _ in range(3)]
    assert results == [True, True, False], "an idle key gets its whole burst back, no more"


def test_a_refused_request_does_not_move_the_arrival_time() -> None:
    rate = Rate(per_second=2, burst=1)
    first = gcra(None, 100.0, rate)
    refused = gcra(first.tat, 100.1, rate)
    assert (first.allowed, refused.allowed) == (True, False)
    assert refused.tat == first.tat
    assert refused.retry_after_s == pytest.approx(0.4)


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Rate(per_second=0)
    with pytest.raises(ValueError, match="burst"):
        Rate(per_second=1, burst=0)


def test_rate_limit_settings_read_rate_unit_and_burst() -> None:
    assert RateLimitSetting(rate=600, per="minute").to_rate() == Rate(per_second=10, burst=10)
    assert RateLimitSetting(rate=1, per="hour", burst=5).to_rate() == Rate(per_second=1 / 3600, burst=5)
    settings = Settings(
        rate_limit_player={"rate": 2, "burst": 4},  # type: ignore[arg-type]
        rate_limit_always_node={"rate": 1},  # type: ignore[arg-type]
        rate_limit_nodes={"ambient": {"rate": 5}},  # type: ignore[dict-item]
    )
    limits = settings.rate_limits
    assert limits.player == Rate(per_second=2, burst=4)
    assert limits.api_key is None
    assert limits.node("ambient") == Rate(per_second=5, burst=5)
    assert limits.node("other") == Rate(per_second=1, burst=1)


@pytest.mark.parametrize(
    ("period", "key", "start", "end"),
    [
        (BudgetPeriod.HOUR, "2026-12-31T23", datetime(2026, 12, 31, 23), datetime(2027, 1, 1)),
        (BudgetPeriod.DAY, "2026-12-31", datetime(2026, 12, 31), datetime(2027, 1, 1)),
        (BudgetPeriod.WEEK, "2026-W53", datetime(2026, 12, 28), datetime(2027, 1, 4)),
        (BudgetPeriod.MONTH, "2026-12", datetime(2026, 12, 1), datetime(2027, 1, 1)),
    ],
)
def test_budget_periods_follow_utc_calendar_boundaries(
    period: BudgetPeriod, key: str, start: datetime, end: datetime
) -> None:
    window = period_window(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), period)
    assert (window.key, window.start, window.end) == (key, start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


def test_a_node_budget_comes_from_its_own_entry_or_the_default() -> None:
    policy = BudgetPolicy(global_cap=50, node_default=5, nodes={"ambient": 0.5})
    assert [(s.scope, s.limit) for s in policy.limits_for("ambient")] == [
        (GLOBAL_SCOPE, to_micros(50)),
        ("node:ambient", to_micros(0.5)),
    ]
    assert policy.limits_for("cafe")[1].limit == to_micros(5)
    assert not BudgetPolicy().limited
    assert to_micros(0.1) * 3 == to_micros(0.3), "micro-units add up where floats do not"


@pytest.mark.parametrize(
    ("body", "player"),
    [
        (b'{"player_context": {"playerId": "p1"}}', "p1"),
        (b'{"playerContext": {"player_id": "p2"}}', "p2"),
        (b'{"player_context": {}}', None),
        (b"not json", None),
        (b"[" * 50_000, None),
    ],
    ids=["spec spelling", "other spelling", "no player", "not json", "nested too deep for json"],
)
def test_the_player_of_a_raw_body(body: bytes, player: str | None) -> None:
    assert player_of(body) == player
