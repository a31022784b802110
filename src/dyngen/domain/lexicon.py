"""How an element id is said in plain words, and which natural phrases count as mentioning it.

An element id (`phone_ring`, `kiss_callback`) is a designer's label, not something to print. This module
gives each id two things:

- *content words*: the id's words without the ones that name a narrative function rather than a thing
  (`callback`, `motif`, `cue`, ...) or that are not words at all (`clue_2` -> "clue"). They are how an
  unknown element is phrased, and what the keyword rule in `elements.mentions` looks for.
- *phrases*: natural ways to say a known element ("the phone buzzes", "a call comes in" for `phone_ring`),
  shipped for the template library's elements. Any one of them counts as a mention.

A phrase is words in order; each may take an ending (`ring` matches "rings", "ringing", "ringed"), and up
to two other words may sit between them within one sentence ("the phone finally rings").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType

# Words that say what an element does in the story, not what is seen or heard.
META_WORDS: frozenset[str] = frozenset(
    {"callback", "reference", "motif", "cue", "beat", "moment", "reveal", "hint", "sfx", "vfx", "bgm", "element"}
)

# fmt: off
ELEMENT_PHRASES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    # The template library's elements (src/dyngen/defaults/templates), required and avoided.
    "phone_ring": ("phone ring", "phone buzz", "phone vibrate", "phone light up", "a call come in", "incoming call",
                   "ringtone", "phone chime", "cell ring", "cell buzz", "mobile ring", "mobile buzz",
                   "call come through"),
    "kiss_callback": ("kiss", "kissed", "lips met", "lips touch"),
    "footsteps": ("footstep", "footfall", "step echo", "step approach", "step on the stair", "step in the hall",
                  "heel click", "someone walk"),
    "sunset": ("sunset", "sun set", "sun sink", "sun go down", "dusk", "sundown"),
    "moonlight": ("moonlight", "moonlit", "light of the moon", "moon silver", "moonbeam"),
    "sunrise": ("sunrise", "sun rise", "dawn", "daybreak", "first light"),
    "last_look": ("last look", "last glance", "look back", "glance back", "final look"),
    "embrace": ("embrace", "hug", "arms around", "arms wrap", "hold each other", "held each other", "pull close",
                "pulled close"),
    "laughter": ("laughter", "laugh", "giggle", "chuckle", "burst out laughing", "crack up", "grin and snort"),
    "violence": ("violence", "violent", "fight", "punch", "attack", "stab", "shoot", "gunfire", "beat up",
                 "bloodshed"),
    "gore": ("gore", "gory", "blood", "entrails", "severed"),
    "jump_scare": ("jump scare", "jump out", "leap out", "lunge out"),
})
# fmt: on

_ENDING = r"(?:s|es|ed|d|ing|'s)?"
_BETWEEN = r"[^\w.!?;:]+(?:\w+[^\w.!?;:]+){0,2}"  # separators and up to two words, within one sentence


def element_key(element: str) -> str:
    """An element id in its one spelling: `Phone Ring`, `phone-ring` -> "phone_ring"."""
    return "_".join(element.lower().replace("-", " ").replace("_", " ").split())


def content_words(element: str) -> list[str]:
    """The words of an element that name a thing: `kiss_callback` -> ["kiss"], `clue_2` -> ["clue"].

    Falls back to all the id's words when none is left (an id made only of function words or numbers).
    """
    words = element_key(element).split("_")
    kept = [w for w in words if w.isalpha() and w not in META_WORDS]
    return kept or [w for w in words if w]


def spoken_form(element: str) -> str:
    """An element in plain words, never the id itself: `glass_of_wine` -> "glass of wine"."""
    return " ".join(content_words(element))


def phrases(element: str) -> tuple[str, ...]:
    """The natural phrases that mention `element`; empty for elements the lexicon does not know."""
    return ELEMENT_PHRASES.get(element_key(element), ())


@lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = phrase.lower().split()
    body = _BETWEEN.join(re.escape(w) + _ENDING for w in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=1024)
def phrase_searches(element: str) -> tuple[Callable[[str], re.Match[str] | None], ...]:
    """The searches that find one of the lexicon's phrases for `element` in a text: `says(text, element)`
    is true when one of them finds something (compiled once, for a caller that asks many times)."""
    return tuple(_phrase_pattern(phrase).search for phrase in phrases(element) if phrase.strip())


def says(text: str, element: str, extra: Sequence[str] = ()) -> bool:
    """True when `text` contains one of the lexicon's phrases for `element` (or one of `extra`)."""
    return said(text, element, extra) is not None


def said(text: str, element: str, extra: Sequence[str] = ()) -> str | None:
    """The words of `text` that say one of the lexicon's phrases for `element` (or of `extra`, a graph's
    own phrases for it), or None."""
    for phrase in (*phrases(element), *extra):
        if phrase.strip() and (found := _phrase_pattern(phrase).search(text)) is not None:
            return found.group(0)
    return None


def extra_phrases(lexicon: Mapping[str, Sequence[str]] | None, element: str) -> tuple[str, ...]:
    """A graph's own phrases for `element` (its `lexicon` map, keyed by any spelling of the id)."""
    if not lexicon:
        return ()
    key = element_key(element)
    return tuple(p for name, found in lexicon.items() if element_key(name) == key for p in found)
