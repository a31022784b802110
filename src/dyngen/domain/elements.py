"""Whether content honours a node's requiredElements and avoidElements.

An element such as `phone_ring` is *mentioned* when each of its content words (`lexicon.content_words`:
`kiss_callback` -> "kiss") appears as a whole word (a plural `s`/`es` allowed) in one line of the content
("Pick up the phone." and "She wears a ring." do not make a phone ring), or when the line says one of the
lexicon's natural phrases for it ("the phone buzzes", "a call comes in"). Content without text (a video
without captions) is judged by its metadata tags instead. Required elements must be mentioned; avoided
ones must not be. The check reads only the payload, so it applies to every provider.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dyngen.domain.contracts import Constraints, GeneratedContentPayload
from dyngen.domain.lexicon import content_words, says
from dyngen.domain.validation import normalise_element


def content_lines(payload: GeneratedContentPayload) -> list[str]:
    """Every line a player could read or hear in a payload."""
    lines: list[str] = []
    lines.extend(payload.dialogue or [])
    lines.extend(beat.text for beat in payload.beats or [])
    lines.extend(choice.text for choice in payload.choices or [])
    return [line for line in lines if line.strip()]


def content_text(payload: GeneratedContentPayload) -> str:
    """All the words a player could read or hear in a payload."""
    return "\n".join(content_lines(payload))


@lru_cache(maxsize=1024)
def _pattern(element: str) -> re.Pattern[str]:
    words = content_words(element) if normalise_element(element) else []
    if not words:
        return re.compile(r"(?!)")  # an element with no words is never mentioned (the validator rejects it)
    return re.compile("".join(rf"(?=.*(?<!\w){re.escape(w)}(?:s|es)?(?!\w))" for w in words), re.IGNORECASE | re.DOTALL)


def mentions(text: str, element: str) -> bool:
    """True when every content word of `element` appears in `text` as a whole word, or a lexicon phrase does."""
    return bool(_pattern(element).match(text)) or says(text, element)


def mentioned(lines: list[str], element: str) -> bool:
    """True when one line mentions every word of `element`."""
    return any(mentions(line, element) for line in lines)


def violations(payload: GeneratedContentPayload, constraints: Constraints) -> list[str]:
    """Human-readable reasons the payload breaks its constraints; empty when it honours them."""
    lines = content_lines(payload)
    if lines:

        def present(element: str) -> bool:
            return mentioned(lines, element)
    else:
        tags = {normalise_element(t) for t in (payload.metadata.tags or [] if payload.metadata else [])}

        def present(element: str) -> bool:
            return normalise_element(element) in tags

    problems = [f"required element '{e}' is missing" for e in constraints.required_elements if not present(e)]
    problems.extend(f"avoided element '{e}' is present" for e in constraints.avoid_elements if present(e))
    return problems
