"""What the built-in provider's lines must not mention, and the verdict on each line it asks about.

A line is refused when it mentions a blocked word or a lexicon phrase of an avoided element. The same
constraints meet the same filled templates on every request, so each line is tested once per process
(at most `VERDICTS` lines are remembered per set of constraints, and `MAX_SETS` sets).
"""

from __future__ import annotations

from functools import lru_cache

from dyngen.domain.elements import mention_tests
from dyngen.domain.lexicon import phrase_searches

VERDICTS = 16384
MAX_SETS = 256


class Refusals:
    """The tests for one set of constraints, and the verdicts they gave."""

    def __init__(self, blocked: tuple[str, ...], avoided: tuple[str, ...]) -> None:
        self._tests = (
            *(test for word in blocked for test in mention_tests(word)),
            *(search for element in avoided for search in phrase_searches(element)),
        )
        self._verdicts: dict[str, bool] = {}

    def allowed(self, text: str) -> bool:
        """True when `text` mentions none of the blocked words and avoided phrases."""
        verdict = self._verdicts.get(text)
        if verdict is None:
            verdict = not any(test(text) for test in self._tests)
            if len(self._verdicts) < VERDICTS:
                self._verdicts[text] = verdict
        return verdict


@lru_cache(maxsize=MAX_SETS)
def refusals_for(blocked: tuple[str, ...], avoided: tuple[str, ...]) -> Refusals:
    """The process's `Refusals` for these constraints (blocked words, avoided elements)."""
    return Refusals(blocked, avoided)
