"""Rule DSL use cases: compile rule source and evaluate it for a context, or lint it.

The API (`POST /api/dsl/compile`) and the CLI (`dyngen dsl compile|check`) call these.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from dyngen.domain.contracts import (
    PlayerContext,
    SnakeModel,
    SocialContext,
)
from dyngen.domain.dsl import MAX_SOURCE_CHARS, Diagnostic, compile_rules, evaluate
from dyngen.domain.ids import TextChars
from dyngen.domain.wire import load


class DslCompileRequest(SnakeModel):
    """`{source, player_context?, social_context?}`: rules to compile and the context to evaluate them for."""

    # Leading blank lines and indentation are part of the source: stripping them would move every position.
    model_config = ConfigDict(str_strip_whitespace=False)

    source: Annotated[str, Field(max_length=MAX_SOURCE_CHARS), TextChars]
    player_context: PlayerContext | None = None
    social_context: SocialContext | None = None


class DslResult(SnakeModel):
    """What the rules give: `overrides` (empty when there are errors), `warnings` and `errors`."""

    model_config = ConfigDict(str_strip_whitespace=False)

    overrides: dict[str, Any] = Field(default_factory=dict)
    warnings: list[Diagnostic] = Field(default_factory=list)
    errors: list[Diagnostic] = Field(default_factory=list)


class DslContext(SnakeModel):
    """The context rules are evaluated for: `{player_context?, social_context?}`."""

    player_context: PlayerContext | None = None
    social_context: SocialContext | None = None


_CONTEXT_KEYS = frozenset({"player_context", "playerContext", "social_context", "socialContext"})


def load_context(data: Any) -> DslContext:
    """A context file's content: `{player_context?, social_context?}`, or a bare player context.

    Raises:
        DyngenError: GEN_INVALID_CONFIG listing every problem (with the closest name for a typo).
    """
    if isinstance(data, dict) and data and set(data) <= _CONTEXT_KEYS:
        return load(DslContext, data)
    return DslContext(player_context=load(PlayerContext, data))


def compile_and_evaluate(
    *, source: str, player_context: PlayerContext | None = None, social_context: SocialContext | None = None
) -> DslResult:
    """Compile `source` and evaluate it for the context.

    Returns:
        The overrides and every warning (the compiler's, then the evaluator's), or the errors and no
        overrides when the source does not compile.
    """
    compiled = compile_rules(source)
    if compiled.program is None:
        return DslResult(warnings=list(compiled.warnings), errors=list(compiled.errors))
    evaluated = evaluate(compiled.program, player_context=player_context, social_context=social_context)
    return DslResult(overrides=evaluated.overrides, warnings=[*compiled.warnings, *evaluated.warnings])


def lint(*, source: str) -> DslResult:
    """The compiler's errors and warnings for `source`, without evaluating it (no overrides)."""
    compiled = compile_rules(source)
    return DslResult(warnings=list(compiled.warnings), errors=list(compiled.errors))
