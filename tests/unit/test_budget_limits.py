"""Budget limits set in the editor over the configured defaults (`BudgetPolicy.with_stored`)."""

from __future__ import annotations

from dyngen.domain.budgets import BudgetPolicy, to_micros

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
