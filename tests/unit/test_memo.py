"""The hot path's memo keys (`services/machinery/memo.py`)."""

from __future__ import annotations

from dyngen.services.machinery.memo import BODY_KEY_MAX, body_key


def test_a_body_up_to_the_limit_is_its_own_key() -> None:
    body = b'{"player_context":{"playerId":"p1"}}'
    edge = b"x" * BODY_KEY_MAX

    assert body_key(body) is body
    assert body_key(edge) is edge


def test_a_longer_body_is_keyed_by_its_digest_and_never_meets_a_body_key() -> None:
    long = b"x" * (BODY_KEY_MAX + 1)
    other = b"x" * BODY_KEY_MAX + b"y"
    key = body_key(long)

    assert isinstance(key, tuple)
    assert len(key[0]) == 16
    assert key == body_key(bytes(bytearray(long)))
    assert key != body_key(other)
    assert body_key(key[0]) != key, "a short body that is a digest's bytes is not that digest's key"
