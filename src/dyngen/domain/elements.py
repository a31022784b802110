"""Whether content honours a node's requiredElements and avoidElements.

An element such as `phone_ring` is *mentioned* when each of its words appears in the content's text as a
whole word (a plural `s` allowed), or when the content's metadata tags name it. Required elements must be
mentioned; avoided ones must not be. The check reads only the payload, so it applies to every provider.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dyngen.domain.contracts import Constraints, GeneratedContentPayload
from dyngen.domain.validation import normalise_element


def content_text(payload: GeneratedContentPayload) -> str:
    """All the words a player could read or hear in a payload."""
    parts: list[str] = []
    parts.extend(payload.dialogue or [])
    parts.extend(beat.text for beat in payload.beats or [])
    parts.extend(choice.text for choice in payload.choices or [])
    return "\n".join(parts)


@lru_cache(maxsize=1024)
def _pattern(element: str) -> re.Pattern[str]:
    words = normalise_element(element).split("_")
    return re.compile("".join(rf"(?=.*\b{re.escape(w)}(?:s|es)?\b)" for w in words), re.IGNORECASE | re.DOTALL)


def mentions(text: str, element: str) -> bool:
    """True when every word of `element` appears in `text` as a whole word."""
    return bool(_pattern(element).match(text))


def violations(payload: GeneratedContentPayload, constraints: Constraints) -> list[str]:
    """Human-readable reasons the payload breaks its constraints; empty when it honours them."""
    text = content_text(payload)
    tags = {normalise_element(t) for t in (payload.metadata.tags if payload.metadata and payload.metadata.tags else [])}
    problems = [
        f"required element '{e}' is missing"
        for e in constraints.required_elements
        if normalise_element(e) not in tags and not mentions(text, e)
    ]
    problems.extend(
        f"avoided element '{e}' is present"
        for e in constraints.avoid_elements
        if normalise_element(e) in tags or mentions(text, e)
    )
    return problems
