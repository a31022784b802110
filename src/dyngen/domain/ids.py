"""What characters an id, a name or a free text may hold on the wire.

Every backend must store what the contract accepts: PostgreSQL refuses NUL in text and JSON, and a lone
surrogate cannot be encoded at all. An id (node, graph, scene, key name, query value) is also printed in
logs, file names and URLs, so it holds no control character; and U+FFFD in an id is what a path or query
that was not valid UTF-8 decodes to, so it is refused rather than stored as a replacement. Free text may
hold tabs and line breaks, nothing else below U+0020.

The `IdChars` and `TextChars` validators go into `Annotated[str, ...]` types: of the wire models
(`domain/contracts.py`) and of the HTTP path and query parameters, so that the 422 names the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import AfterValidator

MAX_DEPTH = 32  # of free-form JSON inside a wire model (an A/B arm's overrides)
# C0 controls, DEL, C1 controls, UTF-16 surrogates (only lone ones reach a str), and U+FFFD.
_NOT_IN_ID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")
# Free text: the same, except tab, line feed and carriage return (DEL and C1 are harmless in prose).
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _describe(value: str, match: re.Match[str]) -> str:
    char = match.group()
    if char == "\ufffd":
        return f"must be valid UTF-8 text (U+FFFD, a replaced byte, at position {match.start()})"
    return f"must not contain control characters or lone surrogates (U+{ord(char):04X} at position {match.start()})"


def id_problem(value: str) -> str | None:
    """Why `value` cannot be an id, or None when it can."""
    found = _NOT_IN_ID.search(value)
    return None if found is None else _describe(value, found)


def text_problem(value: str) -> str | None:
    """Why `value` cannot be free text (a summary, a note, a rule), or None when it can."""
    found = _NOT_IN_TEXT.search(value)
    return None if found is None else _describe(value, found)


def check_id(value: str) -> str:
    """`value`, when it can be an id.

    Raises:
        ValueError: naming the first character refused (pydantic reports it with the field's path).
    """
    problem = id_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_text(value: str) -> str:
    """`value`, when it can be free text.

    Raises:
        ValueError: naming the first character refused.
    """
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_strings(value: object) -> object:
    """`value` (any JSON), when every string in it, keys included, can be free text, and it is nested at
    most `MAX_DEPTH` deep (deeper, it could not be written back as JSON everywhere).

    Raises:
        ValueError: naming the first character refused and where it is, or the depth.
    """
    stack: list[tuple[str, object, int]] = [("", value, 0)]
    while stack:
        where, item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} deep")
        if isinstance(item, str):
            strings: list[tuple[str, str]] = [(where, item)]
        elif isinstance(item, dict):
            strings = [(f"{where}.{k}".lstrip("."), k) for k in item if isinstance(k, str)]
            stack.extend((f"{where}.{k}".lstrip("."), v, depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            strings = []
            stack.extend((f"{where}.{i}".lstrip("."), v, depth + 1) for i, v in enumerate(item))
        else:
            continue
        for at, text in strings:
            problem = text_problem(text)
            if problem is not None:
                raise ValueError(f"{at}: {problem}" if at else problem)
    return value


def _optional(check: Callable[[str], str]) -> Callable[[str | None], str | None]:
    # Optional query parameters carry the validator on `str | None`: None passes.
    return lambda value: value if value is None else check(value)


IdChars = AfterValidator(_optional(check_id))
TextChars = AfterValidator(_optional(check_text))
JsonChars = AfterValidator(check_strings)
