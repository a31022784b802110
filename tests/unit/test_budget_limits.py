"""Budget limits set in the editor over the configured defaults (`BudgetPolicy.with_stored`)."""

from __future__ import annotations

import asyncio

import pytest

from dyngen.bootstrap import build
from dyngen.bootstrap_ports import generation_ports
from dyngen.config import MEMORY_URL, Settings
from dyngen.domain.budgets import BudgetPolicy, to_micros
from dyngen.domain.contracts import GenerateContentRequest, GenerationStatus
from dyngen.services.budgets.limits import current_policy
from dyngen.services.generation.front_door import generate_content
from tests.fakes import FakeClock, FakeHangingCall, FakeProvider

# A guard, not a measurement: a call held by the hung read never answers and fails the test.
GUARD_S = 10.0
CONFIGURED = BudgetPolicy(global_cap=10.0, node_default=1.0, nodes={"cafe": 0.5, "roof": 2.0})


def test_without_stored_limits_the_configured_ones_apply() -> None:
    assert CONFIGURED.with_stored({}) == CONFIGURED


def test_a_stored_limit_wins_over_the_configured_one_per_scope() -> None:
    policy = CONFIGURED.with_stored(
        {"global": to_micros(3.0), "default": to_micros(0.25), "node:cafe": to_micros(0.75), "node:new": 0}
    )

    assert policy.global_cap == 3.0
    assert policy.node_limit("cafe") == 0.75
    assert policy.node_limit("roof") == 2.0, "a node without a stored limit keeps its configured one"
    assert policy.node_limit("other") == 0.25, "the stored default applies to nodes without their own"
    assert policy.node_limit("new") == 0.0, "a limit of zero allows nothing, it is not 'no limit'"


def test_a_stored_no_limit_lifts_the_configured_limit_and_the_default() -> None:
    policy = CONFIGURED.with_stored({"global": None, "node:roof": None})

    assert policy.global_cap is None
    assert policy.node_limit("roof") is None, "no limit for roof, not the node default"
    assert policy.node_limit("other") == 1.0
    limits = {limit.scope: limit.limit for limit in policy.limits_for("roof")}
    assert limits == {"global": None, "node:roof": None}


def test_a_stored_limit_makes_an_unlimited_install_limited() -> None:
    assert not BudgetPolicy().limited
    assert BudgetPolicy().with_stored({"node:cafe": to_micros(1.0)}).limited


class _Limits:
    """A budget limit repository whose read never answers: a database that accepts and stays silent."""

    def __init__(self) -> None:
        self.stored_limits = FakeHangingCall()

    def stored_limits_now(self) -> None:
        return None  # not readable at once: read (and waited for) through `stored_limits`


async def test_a_limits_read_that_never_answers_gives_the_configured_limits_within_its_share() -> None:
    limits = _Limits()
    async with asyncio.timeout(GUARD_S):
        policy = await current_policy(policy=CONFIGURED, limits=limits, within_s=0)  # type: ignore[arg-type]
    assert policy == CONFIGURED
    assert limits.stored_limits.calls, "the stored limits were asked for"


async def test_a_generation_is_not_held_by_a_limits_read_that_never_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12: under a hung database, a miss still answers within its node's deadline. Reading the limits
    set in the editor takes at most part of it; before, it waited for the database's own timeouts."""
    services = await build(
        Settings(database_url=MEMORY_URL, retry_backoff_ms=1, providers_by_type={}),
        providers={"builtin": FakeProvider(name="builtin")},
        clock=FakeClock(),
    )
    try:
        hung = FakeHangingCall()
        monkeypatch.setattr(services.budget_limits, "stored_limits", hung)
        monkeypatch.setattr(services.budget_limits, "stored_limits_now", lambda: None)  # a database to wait for
        request = GenerateContentRequest.model_validate(
            {
                "type": "transition",
                "node_id": "hung",
                "player_context": {"playthroughId": "pt-hung"},
                "fallback": {"mode": "placeholder", "timeoutMs": 2000},
            }
        )
        async with asyncio.timeout(GUARD_S):
            answer = await generate_content(request=request, ports=generation_ports(services))
        assert hung.calls, "the stored limits were asked for"
        assert answer.status is GenerationStatus.COMPLETE, answer.error
        hung.release()
    finally:
        await services.aclose()
