"""`front_door.split_context`: a generate body's shape (the body without its player context) and that
context's bytes, which the hit fast path remembers prepared requests by."""

from __future__ import annotations

import json

from dyngen.services.generation.front_door import split_context


def test_bodies_that_differ_only_in_their_player_context_share_a_shape() -> None:
    one = split_context(b'{"type":"transition","player_context":{"playerId":"a"},"version":2}')
    other = split_context(b'{"type":"transition","player_context": {"playerId":"b","flags":{"x":1}} ,"version":2}')

    assert one is not None
    assert other is not None
    assert one[0] != other[0], "the whitespace around the value is part of the shape"
    assert one[1] == b'{"playerId":"a"}'
    assert json.loads(other[1]) == {"playerId": "b", "flags": {"x": 1}}
    same_shape = split_context(b'{"type":"transition","player_context":{"playerId":"z"},"version":2}')
    assert same_shape is not None
    assert same_shape[0] == one[0]


def test_a_body_with_another_field_elsewhere_has_another_shape() -> None:
    one = split_context(b'{"type":"transition","player_context":{},"version":2}')
    other = split_context(b'{"type":"transition","player_context":{},"version":3}')
    assert one is not None
    assert other is not None
    assert one[0] != other[0]


def test_bodies_whose_context_cannot_be_cut_out_plainly_have_no_shape() -> None:
    assert split_context(b'{"type":"transition"}') is None
    assert split_context(b'{"player_context":{},"social_context":{"player_context":{}}}') is None, "named twice"
    assert split_context(b'{"playerContext":{"playerId":"a"}}') is None
    assert split_context(b'{"player_context":null}') is None
    assert split_context(b'{"player_context":{"playerId":') is None
    assert split_context(b'{"player_context":{"a":1}\xff}') is None
    quoted = json.dumps({"summary": 'say "player_context": {}', "x": 1}).encode()
    assert split_context(quoted) is None, "only a key, never text inside a string, is cut out"
