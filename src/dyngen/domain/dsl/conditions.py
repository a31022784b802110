"""What a condition means: how values compare and when a value counts as true.

- A field that is not set (absent from the context, or null) makes every comparison with it false,
  `!=` included, and is false on its own: a rule never fires on data it does not have. `not` still
  negates: `not player_choice.x == true` is true when the choice was never made.
- `==` and `!=` compare values of the same kind (true/false, numbers, strings; strings exactly, case
  included). Values of different kinds are never equal: `flags.x == true` is false for the string
  "true".
- `<`, `<=`, `>`, `>=` compare numbers only; with anything else they are false.
- A value on its own (`IF flags.met_sarah`) is true when it is true, a number other than 0, or a
  non-empty string.
"""

from __future__ import annotations

from collections.abc import Callable

from dyngen.domain.dsl.fields import SOCIAL_FIELDS
from dyngen.domain.dsl.program import And, Compare, Condition, Const, Not, Operand, Or, Ref, Scalar, Test

Lookup = Callable[[Ref], Scalar | None]
"""The value of a reference in some context, None when it is not set."""

Mismatch = Callable[[Compare, Scalar, Scalar], None]
"""Told about a comparison whose values are of kinds it cannot compare."""

ORDERING = frozenset({"<", "<=", ">", ">="})


def kind(value: Scalar) -> str:
    """`bool`, `number` or `string` (a bool is not a number here)."""
    if isinstance(value, bool):
        return "bool"
    return "string" if isinstance(value, str) else "number"


def truthy(value: Scalar | None) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value != ""
    return bool(value)


def compare(op: str, left: Scalar, right: Scalar) -> bool | None:
    """`left op right`, or None when the kinds cannot be compared that way."""
    if op in ORDERING:
        if kind(left) != "number" or kind(right) != "number":
            return None
        assert not isinstance(left, str)
        assert not isinstance(right, str)
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    if kind(left) != kind(right):
        return None
    return (left == right) if op == "==" else (left != right)


def static_kind(operand: Operand) -> str | None:
    """The kind an operand always has (a literal's, or a typed field's), None when it may be any."""
    if isinstance(operand, Const):
        return kind(operand.value)
    if operand.root == "stats":
        return "number"
    if operand.root == "social" and operand.key in SOCIAL_FIELDS:
        return "number" if SOCIAL_FIELDS[operand.key].kind == "number" else "string"
    return None


def static_mismatch(compare: Compare) -> bool:
    """Whether the kinds in `compare` can be seen never to match without a context (the compiler warns)."""
    left, right = static_kind(compare.left), static_kind(compare.right)
    if compare.op in ORDERING:
        return left not in (None, "number") or right not in (None, "number")
    return left is not None and right is not None and left != right


def value_of(operand: Operand, lookup: Lookup) -> Scalar | None:
    return operand.value if isinstance(operand, Const) else lookup(operand)


def holds(condition: Condition, lookup: Lookup, mismatch: Mismatch | None = None) -> bool:
    """Whether `condition` is true for the values `lookup` gives (`and`/`or` stop early, left to right)."""
    if isinstance(condition, Compare):
        left, right = value_of(condition.left, lookup), value_of(condition.right, lookup)
        if left is None or right is None:
            return False
        result = compare(condition.op, left, right)
        if result is None:
            if mismatch is not None:
                mismatch(condition, left, right)
            return condition.op == "!="
        return result
    if isinstance(condition, Test):
        return truthy(value_of(condition.operand, lookup))
    if isinstance(condition, Not):
        return not holds(condition.operand, lookup, mismatch)
    if isinstance(condition, And):
        return all(holds(c, lookup, mismatch) for c in condition.operands)
    assert isinstance(condition, Or)
    return any(holds(c, lookup, mismatch) for c in condition.operands)


def refs(condition: Condition) -> list[Ref]:
    """The references a condition reads, in order, each once (by root and key)."""
    found: dict[tuple[str, str, bool], Ref] = {}
    stack: list[Condition] = [condition]
    while stack:
        current = stack.pop()
        if isinstance(current, Compare):
            operands: list[Operand] = [current.left, current.right]
        elif isinstance(current, Test):
            operands = [current.operand]
        elif isinstance(current, Not):
            stack.append(current.operand)
            continue
        else:
            stack.extend(reversed(current.operands))
            continue
        for operand in operands:
            if isinstance(operand, Ref):
                found.setdefault((operand.root, operand.key, operand.known), operand)
    return list(found.values())


def consts(condition: Condition) -> list[Scalar]:
    """The literals a condition holds."""
    values: list[Scalar] = []
    stack: list[Condition] = [condition]
    while stack:
        current = stack.pop()
        if isinstance(current, Compare):
            values.extend(o.value for o in (current.left, current.right) if isinstance(o, Const))
        elif isinstance(current, Test):
            if isinstance(current.operand, Const):
                values.append(current.operand.value)
        elif isinstance(current, Not):
            stack.append(current.operand)
        else:
            stack.extend(current.operands)
    return values
