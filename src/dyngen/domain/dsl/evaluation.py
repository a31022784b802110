"""`evaluate`: run a compiled program against one request's player and social context.

Statements run in order; a later assignment to the same field wins, INCLUDE and AVOID add to their
lists. The result is `overrides`: the parts of a `GenerationNodeConfig` the rules set, in its wire
spelling, for example::

    {"style": {"moodTo": "determined", "pacing": "fast"},
     "constraints": {"requiredElements": ["kiss_callback"], "rating": "PG-13", "avoidElements": ["violence"]},
     "duration": {"min": 20, "max": 40, "target": 30}}

`merge_overrides` / `apply_overrides` put them over a node config: objects merge key by key, lists add
the elements the node does not have yet, anything else is replaced. See `conditions` for what a
condition means when a value is missing or of another kind (each such case is a warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from dyngen.domain.contracts import (
    GenerationNodeConfig,
    PlayerContext,
    SocialContext,
)
from dyngen.domain.dsl.conditions import holds, static_mismatch
from dyngen.domain.dsl.diagnostics import Diagnostic, diagnostic
from dyngen.domain.dsl.fields import PLAYER_ROOTS, SOCIAL_FIELDS
from dyngen.domain.dsl.program import (
    Assign,
    Compare,
    If,
    Include,
    Position,
    Program,
    Ref,
    Scalar,
    SetConstraints,
    SetDuration,
    Statement,
)
from dyngen.domain.validation import normalise_element
from dyngen.domain.wire import load


@dataclass(frozen=True)
class Evaluation:
    """The overrides the rules give for one context, and what the evaluator noticed on the way."""

    overrides: dict[str, Any]
    warnings: tuple[Diagnostic, ...] = ()


def evaluate(
    program: Program, *, player_context: PlayerContext | None, social_context: SocialContext | None
) -> Evaluation:
    """The overrides `program` gives for this context.

    Warnings: `DSL_CONTEXT_MISSING` for each field read that the context does not set (it counts as
    not set: comparisons with it are false), `DSL_TYPE_MISMATCH` for a comparison of values of kinds
    that cannot be compared (a string with `<`, a string with `true`).
    """
    run = _Run(program.source, player_context, social_context)
    run.statements(program.statements)
    return Evaluation(run.overrides(), tuple(sorted(run.warnings, key=lambda d: (d.line, d.column))))


def _show(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else f"{value:g}"


class _Run:
    def __init__(self, source: str, player: PlayerContext | None, social: SocialContext | None) -> None:
        self.source = source
        self.player = player
        self.social = social
        self.warnings: list[Diagnostic] = []
        self._warned: set[tuple[Any, ...]] = set()
        self.style: dict[str, str] = {}
        self.required: dict[str, str] = {}
        self.avoided: dict[str, str] = {}
        self.rating: str | None = None
        self.duration: dict[str, int | float] | None = None

    def warn(self, once: tuple[Any, ...], code: str, message: str, at: Position) -> None:
        if once not in self._warned:
            self._warned.add(once)
            self.warnings.append(diagnostic(self.source, code, message, at.line, at.column))

    def lookup(self, ref: Ref) -> Scalar | None:
        if not ref.known:
            return None  # the compiler warned about it
        if ref.root in PLAYER_ROOTS:
            values = getattr(self.player, PLAYER_ROOTS[ref.root], None) if self.player else None
            value: Any = (values or {}).get(ref.key)
            where = "player context"
        else:
            value = self.social
            for attribute in SOCIAL_FIELDS[ref.key].attributes:
                value = getattr(value, attribute, None)
            value = value.value if isinstance(value, Enum) else value
            where = "social context"
        if value is None:
            self.warn(
                (ref.root, ref.key),
                "DSL_CONTEXT_MISSING",
                f"{ref.text} is not set in the {where}: it counts as not set (comparisons with it are false)",
                ref.at,
            )
            return None
        assert isinstance(value, bool | int | float | str)
        return value

    def mismatch(self, compare: Compare, left: Scalar, right: Scalar) -> None:
        if static_mismatch(compare):
            return  # the compiler warned about it already
        outcome = "true" if compare.op == "!=" else "false"
        self.warn(
            ("mismatch", compare.at),
            "DSL_TYPE_MISMATCH",
            f"cannot compare {_show(left)} {compare.op} {_show(right)}: taken as {outcome}",
            compare.at,
        )

    def statements(self, statements: tuple[Statement, ...]) -> None:
        for statement in statements:
            if isinstance(statement, If):
                chosen = holds(statement.condition, self.lookup, self.mismatch)
                self.statements(statement.then if chosen else statement.otherwise)
            elif isinstance(statement, Assign):
                self.style[statement.field] = statement.value
            elif isinstance(statement, Include):
                for element in statement.elements:
                    self.required.setdefault(normalise_element(element.name), element.name)
            elif isinstance(statement, SetDuration):
                self.duration = {"min": statement.min, "max": statement.max}
                if statement.target is not None:
                    self.duration["target"] = statement.target
            else:
                assert isinstance(statement, SetConstraints)
                self.rating = statement.rating or self.rating
                for element in statement.avoid:
                    self.avoided.setdefault(normalise_element(element.name), element.name)

    def overrides(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.style:
            found["style"] = dict(self.style)
        constraints: dict[str, Any] = {}
        if self.required:
            constraints["requiredElements"] = list(self.required.values())
        if self.rating is not None:
            constraints["rating"] = self.rating
        if self.avoided:
            constraints["avoidElements"] = list(self.avoided.values())
        if constraints:
            found["constraints"] = constraints
        if self.duration is not None:
            found["duration"] = dict(self.duration)
        return found


def merge_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A wire-spelled node config with `overrides` put over it (objects merged, lists added to)."""
    merged = dict(config)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = merge_overrides(current, value)
        elif isinstance(value, list) and isinstance(current, list):
            present = {normalise_element(str(item)) for item in current}
            merged[key] = [*current, *(item for item in value if normalise_element(str(item)) not in present)]
        else:
            merged[key] = value
    return merged


def apply_overrides(config: GenerationNodeConfig, overrides: dict[str, Any]) -> GenerationNodeConfig:
    """`config` with the rules' `overrides` applied.

    Raises:
        DyngenError: GEN_INVALID_CONFIG when the result is not a valid config (e.g. more than 50
            required elements once the node's and the rules' are added up).
    """
    wire = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    return load(GenerationNodeConfig, merge_overrides(wire, overrides))
