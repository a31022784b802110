"""Compiler findings: an error or a warning with its place in the source and a caret excerpt.

A diagnostic points at a line and a column (both from 1, columns counted in characters, a tab is one
column) and carries the source line with a `^` under that column::

    DURATION 20-40s TARGET 50s
                           ^
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

EXCERPT_WIDTH = 100
"""A longer source line is cut to a window of this many characters around the column."""


class Diagnostic(BaseModel):
    """One finding of the compiler or the evaluator.

    Attributes:
        code: What kind of finding (`DSL_SYNTAX`, `DSL_UNKNOWN_FIELD`, ...; docs/dsl.md lists them).
        message: What is wrong and, where possible, how to fix it.
        line: 1-based line of the offending text.
        column: 1-based column of the offending text.
        excerpt: The source line and, under it, a `^` at the column (two lines joined by a newline).
        suggestion: The closest known name, for an unknown name or value.
    """

    # Not the contracts' models: their whitespace stripping would move the caret of an indented excerpt.
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    message: str
    line: int
    column: int
    excerpt: str
    suggestion: str | None = None


def source_line(source: str, line: int) -> str:
    """Line `line` (1-based) of `source` without its line ending; "" past the end.

    Lines are split on `\\n` only, as the parser counts them (`\\r\\n` endings lose their `\\r`).
    """
    lines = source.split("\n")
    return lines[line - 1].rstrip("\r") if 1 <= line <= len(lines) else ""


def excerpt(source: str, line: int, column: int) -> str:
    """The line at `line` and a caret under `column`, cut to a window when the line is long."""
    text = source_line(source, line)
    start = 0
    if len(text) > EXCERPT_WIDTH:
        start = max(0, min(column - 1 - EXCERPT_WIDTH // 2, len(text) - EXCERPT_WIDTH))
        text = text[start : start + EXCERPT_WIDTH]
    # Keep tabs under tabs so the caret lines up however the terminal expands them.
    pad = "".join("\t" if char == "\t" else " " for char in text[: max(column - 1 - start, 0)])
    return f"{text}\n{pad}^"


def diagnostic(
    source: str, code: str, message: str, line: int, column: int, *, suggestion: str | None = None
) -> Diagnostic:
    """A diagnostic at `line`:`column` of `source`, with its excerpt."""
    line, column = max(line, 1), max(column, 1)
    return Diagnostic(
        code=code,
        message=message,
        line=line,
        column=column,
        excerpt=excerpt(source, line, column),
        suggestion=suggestion,
    )


def end_position(source: str) -> tuple[int, int]:
    """The line and column just after the last character that is not white space (where input ended)."""
    trimmed = source.rstrip()
    if not trimmed:
        return 1, 1
    line = trimmed.count("\n") + 1
    return line, len(trimmed) - (trimmed.rfind("\n") + 1) + 1
