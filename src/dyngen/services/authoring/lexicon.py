"""The words an editor offers as a designer types an element or a content rule: the lexicon's elements
(with their natural phrases) and every element and rule the template library uses, each with where it is
from. The editor's autocomplete reads it (`GET /api/lexicon`); nothing here restricts what may be typed."""

from __future__ import annotations

from dyngen.domain.contracts import CamelModel
from dyngen.domain.lexicon import ELEMENT_PHRASES, element_key, spoken_form
from dyngen.services.machinery.template_library import TemplateLibrary

LEXICON_SOURCE = "lexicon"


class LexiconElement(CamelModel):
    """An element id, how it is said, the phrases that count as mentioning it, and where it is known from."""

    id: str
    words: str
    phrases: list[str]
    sources: list[str]


class LexiconRule(CamelModel):
    """A content rule id and the templates that use it."""

    id: str
    sources: list[str]


class Lexicon(CamelModel):
    """Every known element and content rule, sorted by id."""

    elements: list[LexiconElement]
    content_rules: list[LexiconRule]


def lexicon(*, library: TemplateLibrary) -> Lexicon:
    """The lexicon's elements and the template library's elements and rules (`template:<id>` sources)."""
    elements: dict[str, list[str]] = {element: [LEXICON_SOURCE] for element in ELEMENT_PHRASES}
    rules: dict[str, list[str]] = {}
    for template in library.list():
        source = f"template:{template.id}"
        constraints = template.config.constraints
        for element in (*constraints.required_elements, *constraints.avoid_elements):
            found = elements.setdefault(element_key(element), [])
            if source not in found:
                found.append(source)
        for rule in constraints.content_rules:
            found = rules.setdefault(rule, [])
            if source not in found:
                found.append(source)
    return Lexicon(
        elements=[
            LexiconElement(
                id=element,
                words=spoken_form(element),
                phrases=list(ELEMENT_PHRASES.get(element, ())),
                sources=sources,
            )
            for element, sources in sorted(elements.items())
        ],
        content_rules=[LexiconRule(id=rule, sources=sources) for rule, sources in sorted(rules.items())],
    )
