"""Retention's pure rules: windows per strategy, what counts as a reference, what may still be cached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dyngen.domain.retention import RetentionPolicy, may_be_cached, referenced_tokens

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def test_each_strategy_gets_its_own_cutoff_and_none_keeps_for_ever() -> None:
    policy = RetentionPolicy(records_s={"always": 60, "once": None}, failed_s=30, events_s=None)

    assert policy.record_cutoffs(NOW) == {"always": NOW - timedelta(seconds=60)}
    assert policy.failed_cutoff(NOW) == NOW - timedelta(seconds=30)
    assert policy.events_cutoff(NOW) is None
    assert policy.warmups_cutoff(NOW) is None


def test_id_shaped_tokens_are_references_and_longer_hex_runs_are_not() -> None:
    artifact, generation = "a" * 32, "0123456789abcdef" * 2
    raw = f'{{"url":"/api/artifacts/{artifact}","generation_id":"{generation}","hash":"{"f" * 64}"}}'.encode()

    assert referenced_tokens(raw) == {artifact, generation}
    assert referenced_tokens(b'{"image":"cafe.png"}') == set()


def test_content_may_be_cached_until_its_strategy_ttl_has_passed() -> None:
    made = NOW - timedelta(days=2)

    assert may_be_cached(made, ttl_s=None, now=NOW)
    assert may_be_cached(made, ttl_s=3 * 86400, now=NOW)
    assert not may_be_cached(made, ttl_s=86400, now=NOW)
