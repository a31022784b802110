"""The Measure of issue 17 on a smaller sample: a scripted model writing natural (non-keyword) lines, sent
through the real `OpenAIProvider` over loopback, is almost never refused where the element is there, and
always refused where it is not (`tests/support/element_corpus.py --measure 200` is the full run)."""

from __future__ import annotations

from tests.support.element_corpus import measure


async def test_natural_lines_pass_and_missing_elements_are_refused() -> None:
    results = await measure(40)
    present, absent = results["present"], results["absent"]
    assert present.generations == absent.generations == 40
    assert present.share < 0.02, present.refusals
    assert absent.share == 1.0
    # The report carries what the lexicon misses: without it, most natural lines would be refused.
    assert present.by["model_report"] > present.by["lexicon"]
    assert results["present, lexicon only"].share > 0.5
    # A report that quotes a real line about something else passes the words; a judge refuses it.
    assert results["lying, no judge"].share == 0.0
    assert results["lying, judge"].share == 1.0
