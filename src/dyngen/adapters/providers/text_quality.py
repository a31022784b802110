"""The built-in text's quality score (`metadata.quality_score`, 0..1), measured on the finished content::

    score = 0.3 * coverage + 0.2 * length_fit + 0.15 * variety + 0.15 * mood_coverage
          + 0.1 * grounding + 0.1 * agreement

coverage is the share of required elements the element check finds (1.0 when none is required);
length_fit is min(r, 1/r) for r = words / (target seconds * the pacing's words per second); variety is
distinct sentences / sentences; mood_coverage is the share of the requested moods the phrasebook knows
(unknown moods get generic lines around the mood word); grounding is 1.0 when a scene detail (location or
emotional state) made it into the text, else 0.6; agreement is the share of lines naming a plural place
without a singular verb after it.
"""

from __future__ import annotations

from collections.abc import Sequence

from dyngen.adapters.providers import phrasebook as book
from dyngen.domain.contracts import Pacing
from dyngen.domain.elements import mentioned

# How fast a line is read aloud at each pacing: what a target duration holds.
WORDS_PER_SECOND = {Pacing.SLOW: 1.6, Pacing.MEDIUM: 2.2, Pacing.FAST: 2.8}


def quality_score(
    *,
    texts: Sequence[str],
    target_s: float,
    pacing: Pacing,
    moods_known: Sequence[bool],
    places: Sequence[str],
    grounded: bool,
    required: Sequence[str],
) -> float:
    """The quality score of finished content, from what can be measured in it (see the module docstring)."""
    lines = list(texts)
    coverage = sum(1 for e in required if mentioned(lines, e)) / len(required) if required else 1.0
    words = sum(len(t.split()) for t in lines)
    expected = target_s * WORDS_PER_SECOND[pacing]
    ratio = words / expected if expected > 0 else 1.0
    length_fit = min(ratio, 1 / ratio) if ratio > 0 else 0.0
    said = [s for t in lines for s in dict.fromkeys(book.sentences(t))]
    variety = len(set(said)) / len(said) if said else 0.0
    mood_coverage = sum(moods_known) / len(moods_known) if moods_known else 1.0
    plural = [p for p in places if book.is_plural(p)]
    disagreeing = sum(1 for t in lines if any(book.disagrees(t, p) for p in plural))
    agreement = 1.0 - disagreeing / len(lines) if lines else 1.0
    return (
        0.3 * coverage
        + 0.2 * length_fit
        + 0.15 * variety
        + 0.15 * mood_coverage
        + 0.1 * (1.0 if grounded else 0.6)
        + 0.1 * agreement
    )
