"""The built-in provider's refusals: which filled lines of a pool pass a set of constraints, remembered."""

from __future__ import annotations

import pytest

from dyngen.adapters.providers import refusals
from dyngen.adapters.providers.refusals import Refusals

POOL = (
    "Rain falls on {place}.",
    "The wine glass tips over.",
    "{Place} [waits|wait] in the rain.",
    "A letter from {other} arrives.",
)


def test_a_pools_lines_are_its_allowed_templates_filled_in_order_with_their_sentences() -> None:
    found = Refusals(("wine",), ()).lines(POOL, {"place": "the docks", "Place": "The docks", "_plural": "yes"}, None)
    assert found == (
        ("Rain falls on {place}.", "Rain falls on the docks.", ("rain falls on the docks.",)),
        ("{Place} [waits|wait] in the rain.", "The docks wait in the rain.", ("the docks wait in the rain.",)),
    )


def test_lines_that_must_mention_an_element_are_only_those_that_do() -> None:
    fields = {"place": "the cafe", "Place": "The cafe", "_plural": ""}
    found = Refusals((), ()).lines(POOL, fields, "wine_glass")
    assert [text for _, text, _ in found] == ["The wine glass tips over."]


def test_the_same_pool_with_other_fields_gives_other_lines() -> None:
    verdicts = Refusals((), ())
    cafe = verdicts.lines(POOL, {"place": "the cafe", "Place": "The cafe", "_plural": ""}, None)
    docks = verdicts.lines(POOL, {"place": "the docks", "Place": "The docks", "_plural": "yes"}, None)
    assert "The cafe waits in the rain." in [text for _, text, _ in cafe]
    assert "The docks wait in the rain." in [text for _, text, _ in docks]
    assert verdicts.lines(POOL, {"place": "the cafe", "Place": "The cafe", "_plural": ""}, None) == cafe


def test_remembered_pools_stay_bounded_and_a_pool_past_the_bound_is_still_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(refusals, "POOLS", 3)
    verdicts = Refusals((), ())
    for n in range(10):
        assert [text for _, text, _ in verdicts.lines(("Line {n}.",), {"n": str(n)}, None)] == [f"Line {n}."]
    assert len(verdicts._pools) == 3


def test_kept_words_are_the_allowed_ones_in_their_order() -> None:
    assert Refusals(("kiss",), ()).kept(("Juno", "Kiss", "Mara", "kisses")) == ("Juno", "Mara")
