"""The built-in provider's lines read as lines: no ids, no pasted summaries, no repeats, verbs that agree.

The corpus and its checks live in `tests/support/builtin_corpus.py`; the golden file is regenerated with
`.venv/bin/python -m tests.support.builtin_corpus --write` and read by eye when it changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyngen.adapters.providers import phrasebook as book
from dyngen.adapters.providers.builtin import BuiltinProvider
from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.elements import content_lines, mentions, violations
from dyngen.domain.lexicon import META_WORDS, spoken_form
from dyngen.domain.responses import GeneratedContentPayload
from dyngen.ports import ProviderCall
from tests.support import builtin_corpus as corpus

TEMPLATES = corpus.templates()
PAIRS = corpus.scene_pairs()
# Words for element ids the lexicon does not know; some are function words the phrasing must leave out.
ELEMENT_WORDS = ["lantern", "violin", "red", "scarf", "clue", "map", "callback", "motif", "cue", "2"]


def payload(request: GenerateContentRequest, seed: int) -> GeneratedContentPayload:
    call = ProviderCall(request=request, seed=seed, attempt=1, deadline_s=5.0)
    return asyncio.run(BuiltinProvider().generate(call)).payload


def assert_reads_as_lines(request: GenerateContentRequest, content: GeneratedContentPayload) -> None:
    lines = content_lines(content)
    for line in lines:
        assert corpus.id_shaped(line, request) is None, line
        assert corpus.copied_summary(line, request) is None, line
    said = [s for beat in content.beats or [] for s in dict.fromkeys(book.sentences(beat.text))]
    said += [s for choice in content.choices or [] for s in book.sentences(choice.text)]
    assert len(said) == len(set(said)), f"a sentence is repeated: {said}"
    plural = [p for s in (request.from_scene, request.to_scene) if s and (p := book.place_phrase(s.location))]
    for place in (p for p in plural if book.is_plural(p)):
        assert not any(book.disagrees(line, place) for line in lines), lines
    assert violations(content, request.constraints) == []
    assert content.metadata is not None
    assert content.metadata.quality_score is not None
    assert 0.0 <= content.metadata.quality_score <= 1.0


def test_the_golden_corpus_is_current() -> None:
    assert corpus.render_golden() == corpus.GOLDEN.read_text(), (
        "the built-in provider's lines changed: regenerate with "
        "`.venv/bin/python -m tests.support.builtin_corpus --write` and read the diff"
    )


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["id"] for t in TEMPLATES])
def test_every_template_between_every_scene_pair_reads_as_lines(template: dict[str, Any]) -> None:
    for n, (before, after) in enumerate(PAIRS):
        request = corpus.request_for(template, before, after)
        assert_reads_as_lines(request, payload(request, n))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    template=st.sampled_from(TEMPLATES),
    pair=st.sampled_from(PAIRS),
    moods=st.tuples(st.sampled_from(corpus.MOODS), st.sampled_from(corpus.MOODS)),
    pacing=st.sampled_from(["slow", "medium", "fast"]),
    target=st.integers(min_value=3, max_value=300),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_any_mood_pair_pacing_and_length_reads_as_lines(
    template: dict[str, Any], pair: Any, moods: tuple[str, str], pacing: str, target: int, seed: int
) -> None:
    request = corpus.request_for(
        template | {"duration": {"min": 1, "max": 600, "target": target}},
        *pair,
        moodFrom=moods[0],
        moodTo=moods[1],
        pacing=pacing,
    )
    content = payload(request, seed)
    assert_reads_as_lines(request, content)
    assert content == payload(request, seed), "the same seed gives the same lines"


@settings(max_examples=60, deadline=None)
@given(
    template=st.sampled_from(TEMPLATES),
    words=st.lists(st.sampled_from(ELEMENT_WORDS), min_size=1, max_size=3, unique=True).filter(
        lambda ws: any(w.isalpha() and w not in META_WORDS for w in ws)
    ),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_an_unknown_element_is_phrased_in_words_never_as_its_id(
    template: dict[str, Any], words: list[str], seed: int
) -> None:
    element = "_".join(words)
    constraints = template["constraints"] | {"requiredElements": [element]}
    request = corpus.request_for(template | {"constraints": constraints}, *PAIRS[0])
    content = payload(request, seed)
    assert_reads_as_lines(request, content)
    text = "\n".join(content_lines(content))
    assert "_" not in text, "a one-word id is a word; a longer one is never printed as it is"
    assert not any(meta in text.lower().split() for meta in META_WORDS & set(words))
    assert spoken_form(element) in text


def test_quality_score_is_measured_not_constant() -> None:
    scores = set()
    for n, template in enumerate(TEMPLATES):
        content = payload(corpus.request_for(template, *PAIRS[n]), n)
        assert content.metadata is not None
        scores.add(content.metadata.quality_score)
    assert len(scores) > 3, scores
    short = corpus.request_for(TEMPLATES[1], *PAIRS[0])
    stretched = short.model_copy(update={"duration": short.duration.model_copy(update={"target": 600, "max": 600})})
    short_score = payload(short, 1).metadata.quality_score  # type: ignore[union-attr]
    stretched_score = payload(stretched, 1).metadata.quality_score  # type: ignore[union-attr]
    assert stretched_score is not None
    assert short_score is not None
    assert stretched_score < short_score, "a few lines stretched over ten minutes score lower"


@pytest.mark.parametrize(
    ("place", "plural"),
    [
        ("the city rooftops", True),
        ("the old docks", True),
        ("the corner cafe", False),
        ("the glass", False),
        ("the bus", False),
        ("Paris", False),
        ("the people", True),
    ],
)
def test_plural_places_are_known(place: str, plural: bool) -> None:
    assert book.is_plural(place) is plural


def test_agreement_check_catches_a_singular_verb_after_a_plural_place() -> None:
    assert book.disagrees("The city rooftops settles into something taut.", "the city rooftops")
    assert not book.disagrees("The city rooftops settle into something taut.", "the city rooftops")
    assert not book.disagrees("Light shifts across the city rooftops, taut and slow.", "the city rooftops")


@pytest.mark.parametrize(
    ("text", "element"),
    [
        ("The phone buzzes on the table.", "phone_ring"),
        ("A call comes in.", "phone_ring"),
        ("After that kiss?", "kiss_callback"),
        ("One last glance back at the door.", "last_look"),
        ("They hug for a long time.", "embrace"),
        ("Somebody laughs.", "laughter"),
        ("Footsteps on the stairs.", "footsteps"),
        ("The sun sinks behind the roofs.", "sunset"),
        ("The courtyard is moonlit.", "moonlight"),
        ("Dawn breaks.", "sunrise"),
        ("Nobody mentions the red scarf.", "red_scarf_callback"),
    ],
)
def test_natural_phrases_mention_their_element(text: str, element: str) -> None:
    assert mentions(text, element)


@pytest.mark.parametrize(
    ("text", "element"),
    [
        ("She wears a ring.", "phone_ring"),
        ("A call. It comes in the end.", "phone_ring"),
        ("The sunset paints everything amber.", "sunrise"),
        ("Nobody mentions the scarf.", "red_scarf_callback"),
    ],
)
def test_unrelated_words_do_not_mention_an_element(text: str, element: str) -> None:
    assert not mentions(text, element)


def test_measure_counts_ids_and_summaries_in_the_corpus() -> None:
    totals = corpus.measure(20)
    assert totals["generations"] == 20
    assert totals["lines"] >= 20
    assert totals["id_shaped"] == 0
    assert totals["copied_summary"] == 0
