"""What the built-in provider's lines must not mention, and the verdict on each line it asks about.

A line is refused when it mentions a blocked word or a lexicon phrase of an avoided element. The same
constraints meet the same filled templates on every request, so each line is tested once per process
(at most `VERDICTS` lines are remembered per set of constraints, and `MAX_SETS` sets), and so is each pool
of templates filled with the same fields: the lines it gives that pass (at most `POOLS` per set).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from dyngen.adapters.providers import phrasebook as book
from dyngen.domain.elements import mention_tests, mentions
from dyngen.domain.lexicon import phrase_searches

VERDICTS = 16384
POOLS = 4096
MAX_SETS = 256

Line = tuple[str, str, tuple[str, ...]]
"""A line a pool gives: its template, the template filled, and the filled line's sentences (`book.sentences`)."""


class Refusals:
    """The tests for one set of constraints, and the verdicts they gave."""

    def __init__(self, blocked: tuple[str, ...], avoided: tuple[str, ...]) -> None:
        self._tests = (
            *(test for word in blocked for test in mention_tests(word)),
            *(search for element in avoided for search in phrase_searches(element)),
        )
        self._verdicts: dict[str, bool] = {}
        self._pools: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...], str | None], tuple[Line, ...]] = {}
        self._kept: dict[tuple[str, ...], tuple[str, ...]] = {}

    def allowed(self, text: str) -> bool:
        """True when `text` mentions none of the blocked words and avoided phrases."""
        verdict = self._verdicts.get(text)
        if verdict is None:
            verdict = not any(test(text) for test in self._tests)
            if len(self._verdicts) < VERDICTS:
                self._verdicts[text] = verdict
        return verdict

    def kept(self, words: tuple[str, ...]) -> tuple[str, ...]:
        """The `words` that are allowed, in their order (for a bank of names or adjectives)."""
        found = self._kept.get(words)
        if found is None:
            found = tuple(w for w in words if self.allowed(w))
            if len(self._kept) < POOLS:
                self._kept[words] = found
        return found

    def lines(self, templates: tuple[str, ...], fields: Mapping[str, str], mention: str | None) -> tuple[Line, ...]:
        """The allowed lines `templates` give filled with `fields` (that mention `mention`), in their order.

        A template is made to agree with the place's number (`fields["_plural"]`, see
        `phrasebook.place_fields`); one that needs a field `fields` does not have is left out.
        """
        key = (templates, tuple(fields.items()), mention)
        found = self._pools.get(key)
        if found is None:
            found = tuple(self._fill(templates, fields, mention))
            if len(self._pools) < POOLS:
                self._pools[key] = found
        return found

    def _fill(self, templates: tuple[str, ...], fields: Mapping[str, str], mention: str | None) -> list[Line]:
        plural = bool(fields.get("_plural"))
        found: list[Line] = []
        for template in templates:
            try:
                text = book.agree(template, plural=plural).format_map(fields)
            except KeyError:  # the template needs a detail this request does not have
                continue
            if self.allowed(text) and (mention is None or mentions(text, mention)):
                found.append((template, text, book.sentences(text)))
        return found


@lru_cache(maxsize=MAX_SETS)
def refusals_for(blocked: tuple[str, ...], avoided: tuple[str, ...]) -> Refusals:
    """The process's `Refusals` for these constraints (blocked words, avoided elements)."""
    return Refusals(blocked, avoided)
