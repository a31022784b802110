"""The compiled form of a rule program: plain frozen data that `evaluation` runs per request.

A `Program` is a list of statements. Conditions are trees of `Compare`, `Test`, `Not`, `And` and `Or`
over `Ref`s (a field of the player or social context) and `Const`s (literals). Every node keeps the
`Position` it was written at, so the evaluator can point at the source when it warns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dyngen.domain.dsl.diagnostics import Diagnostic

Scalar = bool | int | float | str
"""A literal, or a value read from a context. `None` stands for "not set"."""


@dataclass(frozen=True)
class Position:
    line: int
    column: int


@dataclass(frozen=True)
class Ref:
    """A field of the context: `root` is player_choice, flags, stats or social.

    `key` is the name under the root (`quest_accept`; `relationshipValues.affinity`, spelled the wire way,
    for social). `known` is False for a reference the compiler could not resolve (it warned): it never
    has a value.
    """

    root: str
    key: str
    text: str
    at: Position
    known: bool = True


@dataclass(frozen=True)
class Const:
    value: Scalar
    at: Position


Operand = Ref | Const


@dataclass(frozen=True)
class Compare:
    """`left op right` with op one of ==, !=, <, <=, >, >=."""

    op: str
    left: Operand
    right: Operand
    at: Position


@dataclass(frozen=True)
class Test:
    """A bare operand used as a condition (`IF flags.met_sarah`): true when its value is truthy."""

    operand: Operand
    at: Position


@dataclass(frozen=True)
class Not:
    operand: Condition
    at: Position


@dataclass(frozen=True)
class And:
    operands: tuple[Condition, ...]
    at: Position


@dataclass(frozen=True)
class Or:
    operands: tuple[Condition, ...]
    at: Position


Condition = Compare | Test | Not | And | Or


@dataclass(frozen=True)
class Element:
    """An element name as the overrides will carry it, and where it was written."""

    name: str
    at: Position


@dataclass(frozen=True)
class Assign:
    """`moodTo = "determined"`: `field` is the wire name of a style field."""

    field: str
    value: str
    at: Position


@dataclass(frozen=True)
class Include:
    """`INCLUDE ...`: required elements."""

    elements: tuple[Element, ...]
    at: Position


@dataclass(frozen=True)
class SetDuration:
    """`DURATION min-max TARGET t` in seconds (`target` None without TARGET)."""

    min: int | float
    max: int | float
    target: int | float | None
    at: Position
    target_at: Position | None = None


@dataclass(frozen=True)
class SetConstraints:
    """`CONSTRAINT rating=R AVOID a, b`: a rating (or None) and avoided elements."""

    rating: str | None
    avoid: tuple[Element, ...]
    at: Position


@dataclass(frozen=True)
class If:
    condition: Condition
    then: tuple[Statement, ...]
    otherwise: tuple[Statement, ...]
    at: Position
    else_at: Position | None = None


Statement = Assign | Include | SetDuration | SetConstraints | If


@dataclass(frozen=True)
class Program:
    """A compiled rule program, with the source it came from (diagnostics quote it)."""

    statements: tuple[Statement, ...]
    source: str = field(repr=False)


@dataclass(frozen=True)
class CompileResult:
    """What `compile_rules` gives: a program, or None with at least one error; warnings either way."""

    program: Program | None
    errors: tuple[Diagnostic, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        return self.program is not None


Path = tuple[tuple[Condition, bool], ...]
"""The conditions (and whether each held) under which a statement runs: () at the top level."""


def walk(statements: tuple[Statement, ...], path: Path = ()) -> list[tuple[Statement, Path]]:
    """Every statement, nested ones included, in source order, each with the path that leads to it."""
    found: list[tuple[Statement, Path]] = []
    for statement in statements:
        found.append((statement, path))
        if isinstance(statement, If):
            found.extend(walk(statement.then, (*path, (statement.condition, True))))
            found.extend(walk(statement.otherwise, (*path, (statement.condition, False))))
    return found
