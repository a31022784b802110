"""Compile-time warnings: rules that compile but cannot do what they say.

- `DSL_UNREACHABLE_BRANCH`: a THEN or ELSE that never runs (`IF false`, `IF true ... ELSE`,
  `stats.hp > 5 and stats.hp < 3`, an ELSE IF already excluded by the IF before it).
- `DSL_CONSTANT_CONDITION`: a condition without ELSE that is always true (the IF is not needed).
- `DSL_ELEMENT_REQUIRED_AND_AVOIDED`: an element INCLUDEd and AVOIDed where both can apply at once.
- `DSL_TARGET_OUT_OF_RANGE`, `DSL_RANGE_INVERTED`, `DSL_DURATION_NOT_POSITIVE`: durations the node
  validator would refuse.
- `DSL_TYPE_MISMATCH`: a comparison between kinds that never match (`stats.hp == "high"`, `x > "a"`).
- `DSL_UNKNOWN_VALUE`: a social field compared with a value it never takes (`social.intimacyBand == "dep"`).

Whether a branch can run is decided exactly, by trying every combination of values that can make a
difference: the literals the conditions mention, values between and around them, true, false, "" and
"not set". When there are too many combinations (more than `MAX_COMBINATIONS`) the check is skipped
rather than guessed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from dyngen.domain.dsl.conditions import ORDERING, consts, holds, kind, refs, static_kind, static_mismatch
from dyngen.domain.dsl.diagnostics import Diagnostic, diagnostic
from dyngen.domain.dsl.fields import SOCIAL_FIELDS, closest
from dyngen.domain.dsl.program import (
    And,
    Compare,
    Condition,
    Const,
    Element,
    If,
    Include,
    Not,
    Operand,
    Or,
    Path,
    Position,
    Program,
    Ref,
    Scalar,
    SetConstraints,
    SetDuration,
    Statement,
    walk,
)
from dyngen.domain.validation import normalise_element

MAX_COMBINATIONS = 4096
MAX_WORK = 200_000
"""Combinations times condition size: the most a single reachability check may evaluate."""
MAX_PAIR_CHECKS = 200
"""Required/avoided pairs in different places checked at most (a bound for huge rule sets)."""


def warnings(program: Program) -> list[Diagnostic]:
    """Every compile-time warning for `program` (unknown fields are reported by the compiler)."""
    found = _Analysis(program.source)
    mismatched = found.comparisons(program.statements)
    found.reachability(program.statements, (), mismatched)
    found.required_and_avoided(program.statements)
    found.durations(program.statements)
    return found.diagnostics


def _show(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else f"{value:g}"


def _describe(operand: Operand) -> str:
    if isinstance(operand, Const):
        return _show(operand.value)
    return f"{operand.text} (a {static_kind(operand)})"


def _candidates(conditions: Sequence[Condition]) -> tuple[list[Scalar], list[Scalar]]:
    """Numbers and strings worth trying: every literal, and values between and around the numbers."""
    literals = [value for condition in conditions for value in consts(condition)]
    numbers = sorted({float(v) for v in literals if kind(v) == "number"} | {0.0, 1.0})
    between = [(a + b) / 2 for a, b in itertools.pairwise(numbers)]
    tried: list[Scalar] = sorted({*numbers, *between, numbers[0] - 1, numbers[-1] + 1})
    strings: list[Scalar] = list(dict.fromkeys([*(v for v in literals if kind(v) == "string"), "", "\x00other"]))
    return tried, strings


def _domain(ref: Ref, numbers: list[Scalar], strings: list[Scalar]) -> list[Scalar | None]:
    if not ref.known:
        return [None]
    if ref.root == "social":
        field = SOCIAL_FIELDS[ref.key]
        values: list[Scalar] = list(field.values) if field.kind == "choice" else []
        return [None, *(values or (numbers if field.kind == "number" else strings))]
    if ref.root == "stats":
        return [None, *numbers]
    return [None, True, False, *numbers, *strings]


def _size(condition: Condition) -> int:
    count, stack = 0, [condition]
    while stack:
        current = stack.pop()
        count += 1
        if isinstance(current, Not):
            stack.append(current.operand)
        elif isinstance(current, And | Or):
            stack.extend(current.operands)
    return count


def _path_key(path: Path) -> tuple[tuple[int, bool], ...]:
    return tuple((id(condition), wanted) for condition, wanted in path)


def satisfiable(path: Path) -> bool | None:
    """Whether some context makes every condition of `path` come out as wanted (None: too costly to tell)."""
    if not path:
        return True
    conditions = [condition for condition, _ in path]
    numbers, strings = _candidates(conditions)
    keyed = {(r.root, r.key, r.known): r for condition in conditions for r in refs(condition)}
    domains = [_domain(ref, numbers, strings) for ref in keyed.values()]
    combinations = math.prod(len(d) for d in domains)
    if combinations > MAX_COMBINATIONS or combinations * sum(map(_size, conditions)) > MAX_WORK:
        return None
    for combination in itertools.product(*domains):
        values = dict(zip(keyed, combination, strict=True))

        def lookup(ref: Ref, values: dict[tuple[str, str, bool], Scalar | None] = values) -> Scalar | None:
            return values[(ref.root, ref.key, ref.known)]

        if all(holds(condition, lookup) == wanted for condition, wanted in path):
            return True
    return False


class _Analysis:
    def __init__(self, source: str) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    def warn(self, code: str, message: str, at: Position, suggestion: str | None = None) -> None:
        if suggestion:
            message += f"; did you mean '{suggestion}'?"
        self.diagnostics.append(diagnostic(self.source, code, message, at.line, at.column, suggestion=suggestion))

    # --- comparisons whose kinds never match ------------------------------------------------------

    def comparisons(self, statements: tuple[Statement, ...]) -> set[int]:
        """Warn about mismatched comparisons; the ids of the IF conditions that hold one."""
        mismatched: set[int] = set()
        for statement, _ in walk(statements):
            if isinstance(statement, If) and self._check(statement.condition):
                mismatched.add(id(statement.condition))
        return mismatched

    def _check(self, condition: Condition) -> bool:
        found = False
        stack: list[Condition] = [condition]
        while stack:
            current = stack.pop()
            if isinstance(current, Compare):
                found = self._compare(current) or found
            elif isinstance(current, Not):
                stack.append(current.operand)
            elif isinstance(current, And | Or):
                stack.extend(current.operands)
        return found

    def _compare(self, compare: Compare) -> bool:
        left, right = compare.left, compare.right
        if static_mismatch(compare):
            if compare.op in ORDERING:
                bad = right if static_kind(right) not in (None, "number") else left
                message = f"{compare.op} compares numbers; {_describe(bad)} is not one: this comparison is always false"
                self.warn("DSL_TYPE_MISMATCH", message, bad.at)
            else:
                outcome = "true" if compare.op == "!=" else "false"
                message = (
                    f"{_describe(left)} and {_describe(right)} are never equal: this comparison is always {outcome}"
                )
                self.warn("DSL_TYPE_MISMATCH", message, compare.at)
            return True
        for side, other in ((left, right), (right, left)):
            field = SOCIAL_FIELDS.get(side.key) if isinstance(side, Ref) and side.root == "social" else None
            if field is None or not field.values or not isinstance(other, Const) or other.value in field.values:
                continue
            assert isinstance(side, Ref)
            self.warn(
                "DSL_UNKNOWN_VALUE",
                f"{side.text} is one of {', '.join(field.values)}, never {_show(other.value)}",
                other.at,
                closest(str(other.value), field.values),
            )
            return True
        return False

    # --- branches that never run --------------------------------------------------------------

    def reachability(self, statements: tuple[Statement, ...], path: Path, skip: set[int]) -> None:
        for statement in statements:
            if not isinstance(statement, If):
                continue
            condition = statement.condition
            if id(condition) in skip or not all(r.known for r in refs(condition)):
                # Already warned about: a second warning for the same mistake would be noise.
                self.reachability(statement.then, path, skip)
                self.reachability(statement.otherwise, path, skip)
                continue
            can_be_true = satisfiable((*path, (condition, True)))
            can_be_false = satisfiable((*path, (condition, False)))
            where = " where it stands (given the conditions around it)" if path else ""
            if can_be_true is False:
                self.warn(
                    "DSL_UNREACHABLE_BRANCH",
                    f"this condition is never true{where}: its THEN branch never runs",
                    condition.at,
                )
            if can_be_false is False:
                if statement.otherwise:
                    self.warn(
                        "DSL_UNREACHABLE_BRANCH",
                        f"the condition of this IF is always true{where}: its ELSE branch never runs",
                        statement.else_at or statement.at,
                    )
                else:
                    self.warn(
                        "DSL_CONSTANT_CONDITION",
                        f"this condition is always true{where}: the IF is not needed",
                        condition.at,
                    )
            if can_be_true is not False:
                self.reachability(statement.then, (*path, (condition, True)), skip)
            if can_be_false is not False:
                self.reachability(statement.otherwise, (*path, (condition, False)), skip)

    # --- elements, durations ------------------------------------------------------------------

    def required_and_avoided(self, statements: tuple[Statement, ...]) -> None:
        """One warning per element both required and avoided where both can apply at once."""
        avoided: dict[str, dict[tuple[tuple[int, bool], ...], tuple[Element, Path]]] = {}
        for statement, path in walk(statements):
            if isinstance(statement, SetConstraints):
                for element in statement.avoid:
                    places = avoided.setdefault(normalise_element(element.name), {})
                    places.setdefault(_path_key(path), (element, path))
        reported: set[str] = set()
        checks = 0
        for statement, path in walk(statements):
            if not isinstance(statement, Include):
                continue
            for element in statement.elements:
                name = normalise_element(element.name)
                for other, other_path in avoided.get(name, {}).values():
                    if name in reported or checks >= MAX_PAIR_CHECKS:
                        break
                    checks += 1
                    if satisfiable((*path, *other_path)) is False:
                        continue  # in branches that exclude each other
                    reported.add(name)
                    self.warn(
                        "DSL_ELEMENT_REQUIRED_AND_AVOIDED",
                        f"'{element.name}' is required here and avoided on line {other.at.line}: "
                        "no content can satisfy both",
                        element.at,
                    )

    def durations(self, statements: tuple[Statement, ...]) -> None:
        for statement, _ in walk(statements):
            if not isinstance(statement, SetDuration):
                continue
            d = statement
            if 0 in (d.min, d.max, d.target):
                self.warn("DSL_DURATION_NOT_POSITIVE", "durations must be positive seconds; 0 is refused", d.at)
            if d.min > d.max:
                self.warn("DSL_RANGE_INVERTED", f"the range {d.min:g}-{d.max:g}s runs backwards", d.at)
            elif d.target is not None and not d.min <= d.target <= d.max:
                self.warn(
                    "DSL_TARGET_OUT_OF_RANGE",
                    f"target {d.target:g}s is outside the range {d.min:g}-{d.max:g}s",
                    d.target_at or d.at,
                )


# --- contradictions: what a branch that can run makes invalid (these block a save) ------------------


def _branch(path: Path) -> str:
    """Where a statement runs, in words: 'in every context' or 'when the IF on line 2 is true, ...'."""
    if not path:
        return "in every context"
    return "when " + " and ".join(
        f"the IF condition on line {condition.at.line} is {'true' if wanted else 'false'}" for condition, wanted in path
    )


def contradictions(program: Program, *, required: Sequence[str] = (), avoided: Sequence[str] = ()) -> list[Diagnostic]:
    """The contradictions some context can reach: for each, the branch that reaches it and its line.

    A rule that requires an element the node (or another rule on a branch that can run at the same time)
    avoids, avoids an element the node requires, or sets a duration the validator refuses, in a branch
    `satisfiable` proves can run. Unlike the warnings these are errors: the config they produce cannot
    generate. A branch whose reachability is too costly to decide is not reported (nothing is proven).

    Args:
        program: The compiled rules.
        required: The node's own required elements.
        avoided: The node's own avoided elements.
    """
    found = _Analysis(program.source)
    node_required = {normalise_element(e) for e in required}
    node_avoided = {normalise_element(e) for e in avoided}
    placed = walk(program.statements)
    avoids = [
        (element, path)
        for statement, path in placed
        if isinstance(statement, SetConstraints)
        for element in statement.avoid
    ]
    checks = 0
    for statement, path in placed:
        if satisfiable(path) is not True:
            continue
        where = _branch(path)
        if isinstance(statement, Include):
            for element in statement.elements:
                name = normalise_element(element.name)
                if name in node_avoided:
                    found.warn(
                        "DSL_CONTRADICTION",
                        f"'{element.name}' is required here ({where}) and the node avoids it: "
                        "no content can satisfy both",
                        element.at,
                    )
                    continue
                for other, other_path in avoids:
                    if normalise_element(other.name) != name or checks >= MAX_PAIR_CHECKS:
                        continue
                    checks += 1
                    if satisfiable((*path, *other_path)) is True:
                        found.warn(
                            "DSL_CONTRADICTION",
                            f"'{element.name}' is required here and avoided on line {other.at.line} "
                            f"({_branch(tuple(dict.fromkeys((*path, *other_path))))}): no content can satisfy both",
                            element.at,
                        )
                        break
        elif isinstance(statement, SetConstraints):
            for element in statement.avoid:
                if normalise_element(element.name) in node_required:
                    found.warn(
                        "DSL_CONTRADICTION",
                        f"'{element.name}' is avoided here ({where}) and the node requires it: "
                        "no content can satisfy both",
                        element.at,
                    )
        elif isinstance(statement, SetDuration):
            d = statement
            problem = None
            if 0 in (d.min, d.max, d.target):
                problem = "durations must be positive seconds; 0 is refused"
            elif d.min > d.max:
                problem = f"the range {d.min:g}-{d.max:g}s runs backwards"
            elif d.target is not None and not d.min <= d.target <= d.max:
                problem = f"target {d.target:g}s is outside the range {d.min:g}-{d.max:g}s"
            if problem is not None:
                found.warn("DSL_CONTRADICTION", f"{problem} ({where})", d.at)
    return found.diagnostics
