"""Whether content honours a node's requiredElements and avoidElements, and how each was verified.

An element such as `phone_ring` is *mentioned* when each of its content words (`lexicon.content_words`:
`kiss_callback` -> "kiss") appears as a whole word (a plural `s`/`es` allowed) in one line of the content
("Pick up the phone." and "She wears a ring." do not make a phone ring), or when the line says one of the
lexicon's natural phrases for it ("the phone buzzes", "a call comes in"). Content without text (a video
without captions) is judged by its metadata tags instead. Required elements must be mentioned; avoided
ones must not be. The check reads only the payload, so it applies to every provider.

`check` goes beyond words: each element is *verified* (`contracts.Verification`) by the lexicon (the rule
above, plus a graph's own phrases), else by the model's own report (`ElementReport`: where it put each
required element, a quote that must really be in the text), else by a judge model's answer (the service
asks one when it is configured: `JudgeAnswer`, again with a quote found in the text). An element none of
them finds is `absent`. Content without text (a video) is `unverified` element by element: nothing is
taken as present because it was asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from dyngen.domain.contracts import Constraints, Verification
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.lexicon import content_words, element_key, extra_phrases, phrase_searches, said
from dyngen.domain.responses import ElementCheck, GeneratedContentPayload
from dyngen.domain.validation import normalise_element

QUOTE_MAX = 300  # characters of a quote kept on a record
MIN_QUOTE_LETTERS = 5  # a quote with fewer letters proves nothing ("a", "it", "the")


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
    return any(test(text) for test in mention_tests(element))


@lru_cache(maxsize=1024)
def mention_tests(element: str) -> tuple[Callable[[str], object], ...]:
    """The tests `mentions(text, element)` makes: it is true when one of them finds something in `text`
    (compiled once, for a caller that asks of many texts)."""
    return (_pattern(element).match, *phrase_searches(element))


def mentioned(lines: list[str], element: str) -> bool:
    """True when one line mentions every word of `element`."""
    tests = mention_tests(element)
    return any(test(line) for line in lines for test in tests)


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


# --- verification: the lexicon, the model's report, a judge --------------------------------------------


@dataclass(frozen=True, slots=True)
class Mention:
    """Where a model says an element occurs: the beat's index (None: not said) and the words it quotes."""

    beat: int | None
    quote: str


@dataclass(frozen=True, slots=True)
class ElementReport:
    """What a model reports about the elements it was given (its structured output's `elements`).

    Attributes:
        occurs: Elements it says the content has (by `lexicon.element_key`), with where.
        absent: Elements it asserts the content does not have.
    """

    occurs: Mapping[str, Mention] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class JudgeAnswer:
    """A judge model's answer about one element: does the content have it, and the words that show it."""

    occurs: bool
    quote: str | None = None


class ElementsRefusedError(DyngenError):
    """GEN_CONSTRAINT_FAIL for content the element check refused, with how each element stood (`checks`),
    so the fallback's record and response can say which element was missing or present and why."""

    def __init__(self, checks: Sequence[ElementCheck]) -> None:
        super().__init__(ErrorCode.GEN_CONSTRAINT_FAIL, "; ".join(problems(checks)))
        self.checks = list(checks)


class ReportError(ValueError):
    """A model's element report that does not have the shape asked for (the model is asked again)."""


def report_schema(constraints: Constraints) -> dict[str, Any]:
    """The JSON Schema of the `elements` part of a model's answer for these constraints."""
    required = [element_key(e) for e in constraints.required_elements]
    avoided = [element_key(e) for e in constraints.avoid_elements]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["required", "avoided"],
        "properties": {
            "required": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["element", "beat", "quote"],
                    "properties": {
                        "element": {"type": "string", "enum": required or [""]},
                        "beat": {"type": "integer", "minimum": 0},
                        "quote": {"type": "string"},
                    },
                },
            },
            "avoided": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["element", "occurs"],
                    "properties": {
                        "element": {"type": "string", "enum": avoided or [""]},
                        "occurs": {"type": "boolean"},
                    },
                },
            },
        },
    }


def parse_report(data: object, constraints: Constraints, *, beats: int) -> ElementReport:
    """A model's `elements` answer as a report, checked against what it was asked.

    Raises:
        ReportError: Not the shape of `report_schema`, an element it was not asked about, a beat index
            outside the `beats` written, an empty quote, or an avoided element said both ways.
    """
    if not isinstance(data, dict):
        raise ReportError("elements is not an object")
    required = {element_key(e) for e in constraints.required_elements}
    avoided = {element_key(e) for e in constraints.avoid_elements}
    occurs: dict[str, Mention] = {}
    absent: set[str] = set()
    for item in _items(data, "required"):
        key = element_key(str(item.get("element", "")))
        beat, quote = item.get("beat"), item.get("quote")
        if key not in required:
            raise ReportError(f"required element {key!r} was not asked for")
        if not isinstance(beat, int) or isinstance(beat, bool) or not 0 <= beat < beats:
            raise ReportError(f"element {key!r}: beat {beat!r} is not one of the {beats} beats")
        if not isinstance(quote, str) or not quote.strip():
            raise ReportError(f"element {key!r}: no quote")
        occurs.setdefault(key, Mention(beat=beat, quote=quote.strip()[:QUOTE_MAX]))
    for item in _items(data, "avoided"):
        key = element_key(str(item.get("element", "")))
        said_so = item.get("occurs")
        if key not in avoided:
            raise ReportError(f"avoided element {key!r} was not asked for")
        if not isinstance(said_so, bool):
            raise ReportError(f"element {key!r}: occurs is not true or false")
        if said_so:
            occurs.setdefault(key, Mention(beat=None, quote=""))
        else:
            absent.add(key)
    if absent & set(occurs):
        raise ReportError(f"elements said both to occur and not: {sorted(absent & set(occurs))}")
    return ElementReport(occurs=occurs, absent=frozenset(absent))


def _items(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = data.get(name, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ReportError(f"elements.{name} is not a list of objects")
    return items


_QUOTE_MARKS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-", "\u2013": "-"})


def _plain(text: str) -> str:
    """Text as quotes are compared: lower case, straight quotes, one space, no edge punctuation."""
    return " ".join(text.translate(_QUOTE_MARKS).lower().split())


def quoted_in(quote: str, lines: Sequence[str], beat: int | None = None) -> int | None:
    """The index of the line that holds `quote` (a model's words; its beat first, then any line), or None.

    Case, curly quotes, spacing and the punctuation around the quote do not matter; a quote with fewer
    than `MIN_QUOTE_LETTERS` letters is never found (it would prove nothing).
    """
    plain = _plain(quote).strip(" .,;:!?\"'-\u2026")
    if sum(c.isalpha() for c in plain) < MIN_QUOTE_LETTERS:
        return None
    order = [beat] if beat is not None and 0 <= beat < len(lines) else []
    order += [i for i in range(len(lines)) if i not in order]
    return next((i for i in order if plain in _plain(lines[i])), None)


def _numbered_lines(payload: GeneratedContentPayload) -> list[str]:
    """The lines a beat index points into: the beats (else the dialogue), then the choices."""
    lines = [beat.text for beat in payload.beats] if payload.beats else list(payload.dialogue or [])
    lines.extend(choice.text for choice in payload.choices or [])
    return lines


def _lexicon_find(lines: Sequence[str], element: str, extra: Sequence[str]) -> tuple[int, str] | None:
    for index, line in enumerate(lines):
        if (words := said(line, element, extra)) is not None:
            return index, words
        if _pattern(element).match(line):
            return index, line
    return None


def check(
    payload: GeneratedContentPayload,
    constraints: Constraints,
    *,
    report: ElementReport | None = None,
    lexicon: Mapping[str, Sequence[str]] | None = None,
    judged: Mapping[str, JudgeAnswer] | None = None,
) -> list[ElementCheck]:
    """How each required and avoided element of `constraints` stands in `payload`.

    An element is found by the lexicon first (the shipped phrases, `lexicon`'s own, the element's words); else
    an avoided one the model's `report` admits is present; else the judge's answer in `judged` decides when
    there is one (yes with a quote that is in the text: `judge`; no: `absent`, whatever the report says); else
    the model's report (its quote must be in the text). Not found: `absent`. The beat index is the beat's (or,
    without beats, the dialogue line's); the choices follow.
    """
    lines = _numbered_lines(payload)
    found: list[ElementCheck] = []
    roles: list[tuple[str, Literal["required", "avoided"]]] = [
        *((e, "required") for e in constraints.required_elements),
        *((e, "avoided") for e in constraints.avoid_elements),
    ]
    for element, role in roles:
        if not lines:
            found.append(ElementCheck(element=element, role=role, verified_by=Verification.UNVERIFIED))
            continue
        found.append(_verify(element, role, lines, report, extra=extra_phrases(lexicon, element), judged=judged or {}))
    return found


def _verify(
    element: str,
    role: Literal["required", "avoided"],
    lines: Sequence[str],
    report: ElementReport | None,
    *,
    extra: Sequence[str],
    judged: Mapping[str, JudgeAnswer],
) -> ElementCheck:
    key = element_key(element)
    if (hit := _lexicon_find(lines, element, extra)) is not None:
        return ElementCheck(
            element=element, role=role, verified_by=Verification.LEXICON, beat=hit[0], quote=hit[1][:QUOTE_MAX]
        )
    mention = report.occurs.get(key) if report is not None else None
    answer = judged.get(key)
    if role == "avoided" and mention is not None:  # the model admits it: no quote needed to refuse
        return ElementCheck(element=element, role=role, verified_by=Verification.MODEL_REPORT, quote=mention.quote)
    if answer is not None and answer.occurs and answer.quote and (at := quoted_in(answer.quote, lines)) is not None:
        return ElementCheck(element=element, role=role, verified_by=Verification.JUDGE, beat=at, quote=answer.quote)
    if answer is not None and not answer.occurs:  # the judge's no outweighs the model's own word
        return ElementCheck(element=element, role=role, verified_by=Verification.ABSENT)
    if mention is not None and (at := quoted_in(mention.quote, lines, mention.beat)) is not None:
        return ElementCheck(
            element=element, role=role, verified_by=Verification.MODEL_REPORT, beat=at, quote=mention.quote
        )
    return ElementCheck(element=element, role=role, verified_by=Verification.ABSENT)


def to_judge(checks: Sequence[ElementCheck]) -> list[str]:
    """The elements a judge decides, when one is configured: every element checked in text that the
    lexicon did not find, except an avoided one the model admits. A required element the model reports is
    asked too: its quote is in the text, but only a judge can say that the quote means the element (a
    model may quote a line about something else); the judge's no then outweighs the report."""
    return [
        c.element
        for c in checks
        if c.verified_by is Verification.ABSENT or (c.role == "required" and c.verified_by is Verification.MODEL_REPORT)
    ]


def problems(checks: Sequence[ElementCheck]) -> list[str]:
    """Why the content is refused: a required element found by nothing, an avoided element found."""
    found = (Verification.LEXICON, Verification.MODEL_REPORT, Verification.JUDGE)
    out = [
        f"required element '{c.element}' is missing"
        for c in checks
        if c.role == "required" and c.verified_by is Verification.ABSENT
    ]
    out.extend(
        f"avoided element '{c.element}' is present ({c.verified_by.value}: \"{c.quote}\")"
        if c.quote
        else f"avoided element '{c.element}' is present ({c.verified_by.value})"
        for c in checks
        if c.role == "avoided" and c.verified_by in found
    )
    return out
