"""`compile_rules`: DSL source -> a `Program`, or positioned errors; warnings either way.

Errors (the program is not produced): syntax errors (the first one), values a node config cannot hold
(an unknown rating or pacing, an empty element, a duration over a day), unknown functions. Warnings (the
program is produced): see `analysis`, plus unknown fields, which the compiler finds while it builds.
No input raises: every problem is a diagnostic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lark import Token, Tree

from dyngen.domain.dsl import analysis
from dyngen.domain.dsl.diagnostics import Diagnostic, diagnostic
from dyngen.domain.dsl.fields import (
    ELEMENT_MAX_CHARS,
    MAX_ELEMENTS,
    MOOD_MAX_CHARS,
    PLAYER_ROOTS,
    RATINGS,
    ROOTS,
    SOCIAL_FIELDS,
    STYLE_FIELDS,
    closest,
    rating,
    social_field,
    style_field,
)
from dyngen.domain.dsl.grammar import parse
from dyngen.domain.dsl.program import (
    And,
    Assign,
    Compare,
    CompileResult,
    Condition,
    Const,
    Element,
    If,
    Include,
    Not,
    Operand,
    Or,
    Position,
    Program,
    Ref,
    SetConstraints,
    SetDuration,
    Statement,
    Test,
    walk,
)
from dyngen.domain.ids import id_problem
from dyngen.domain.validation import normalise_element

MAX_SOURCE_CHARS = 100_000
MAX_SECONDS = 86_400
MAX_NUMBER_CHARS = 15
CALLBACK_FUNCTION = "callback_to_scene"

Node = Tree[Token] | Token


def compile_rules(source: str) -> CompileResult:
    """Compile rule source.

    Args:
        source: DSL text (docs/dsl.md).

    Returns:
        A `CompileResult`: the program and its warnings, or `program=None` with at least one error.
    """
    if len(source) > MAX_SOURCE_CHARS:
        message = f"the rules are {len(source)} characters long; at most {MAX_SOURCE_CHARS} are accepted"
        return CompileResult(None, (diagnostic(source, "DSL_TOO_LONG", message, 1, 1),))
    parsed = parse(source)
    if isinstance(parsed, Diagnostic):
        return CompileResult(None, (parsed,))
    builder = _Builder(source)
    program = Program(builder.statements(parsed.children), source)
    builder.count_elements(program)
    if builder.errors:
        return CompileResult(None, _ordered(builder.errors), _ordered(builder.warnings))
    return CompileResult(program, (), _ordered([*builder.warnings, *analysis.warnings(program)]))


def _ordered(found: Sequence[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(found, key=lambda d: (d.line, d.column)))


def _at(node: Node) -> Position:
    if isinstance(node, Token):
        return Position(node.line or 1, node.column or 1)
    return Position(getattr(node.meta, "line", 1), getattr(node.meta, "column", 1))


def _trees(node: Tree[Token]) -> list[Tree[Token]]:
    return [child for child in node.children if isinstance(child, Tree)]


_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _text(token: Token) -> str:
    """A STRING token's value without quotes and escapes; any other token's text as written."""
    if token.type != "STRING":
        return str(token)
    return _ESCAPE.sub(lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), str(token)[1:-1])


def _quoted(options: Sequence[str]) -> str:
    return ", ".join(options[:-1]) + " or " + options[-1] if len(options) > 1 else "".join(options)


class _Builder:
    """Turns the parse tree into program data, collecting errors and unknown-field warnings."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []

    def _report(self, into: list[Diagnostic], code: str, message: str, at: Position, suggestion: str | None) -> None:
        if suggestion:
            message += f"; did you mean '{suggestion}'?"
        into.append(diagnostic(self.source, code, message, at.line, at.column, suggestion=suggestion))

    def error(self, code: str, message: str, at: Position, suggestion: str | None = None) -> None:
        self._report(self.errors, code, message, at, suggestion)

    def warn(self, code: str, message: str, at: Position, suggestion: str | None = None) -> None:
        self._report(self.warnings, code, message, at, suggestion)

    # --- statements ---------------------------------------------------------------------------

    def statements(self, children: Sequence[Node]) -> tuple[Statement, ...]:
        built: list[Statement] = []
        for child in children:
            if isinstance(child, Tree):
                built.extend(self.statement(child))
        return tuple(built)

    def statement(self, tree: Tree[Token]) -> list[Statement]:
        kind = tree.data
        if kind == "if_stmt":
            return [self.if_(tree)]
        if kind == "set_stmt":
            return list(self.assignments(_trees(tree)))
        if kind == "include_stmt":
            return [Include(tuple(self.include_item(item) for item in tree.children[1:]), _at(tree))]
        if kind == "duration_stmt":
            return self.duration(tree)
        if kind == "constraint_stmt":
            return [self.constraints(tree)]
        return []  # the grammar has no other statement

    def if_(self, tree: Tree[Token]) -> If:
        condition = self.condition(tree.children[1])
        then = self.branch(tree.children[3])
        otherwise: tuple[Statement, ...] = ()
        else_at = None
        if len(tree.children) > 4:
            clause = tree.children[4]
            assert isinstance(clause, Tree)
            else_at = _at(clause)
            last = clause.children[-1]
            if clause.data == "else_if":
                assert isinstance(last, Tree)
                otherwise = (self.if_(last),)
            else:
                otherwise = self.branch(last)
        return If(condition, then, otherwise, _at(tree), else_at)

    def branch(self, node: Node) -> tuple[Statement, ...]:
        assert isinstance(node, Tree)
        if node.data == "block":
            return self.statements(node.children)
        return self.assignments(_trees(node))

    def assignments(self, trees: list[Tree[Token]]) -> tuple[Assign, ...]:
        built: list[Assign] = []
        seen: set[str] = set()
        for tree in trees:
            assign = self.assignment(tree)
            if assign is None:
                continue
            if assign.field in seen:
                self.warn(
                    "DSL_ASSIGNED_TWICE",
                    f"{assign.field} is set twice here; the last value ('{assign.value}') wins",
                    assign.at,
                )
            seen.add(assign.field)
            built.append(assign)
        return tuple(built)

    def assignment(self, tree: Tree[Token]) -> Assign | None:
        name, value = tree.children
        assert isinstance(name, Token)
        assert isinstance(value, Token)
        field = style_field(str(name))
        if field is None:
            message = f"unknown style field '{name}' (ignored): rules set {_quoted(list(STYLE_FIELDS))}"
            suggestion = closest(str(name), STYLE_FIELDS)
            if str(name).lower() == "rating":
                message, suggestion = message + "; the rating is set with CONSTRAINT rating=PG-13", None
            self.warn("DSL_UNKNOWN_FIELD", message, _at(name), suggestion)
            return None
        text = _text(value).strip()
        allowed = STYLE_FIELDS[field]
        if allowed is not None:
            if text.lower() not in allowed:
                self.error(
                    "DSL_INVALID_VALUE",
                    f"'{text}' is not a {field} value: use {_quoted(list(allowed))}",
                    _at(value),
                    closest(text, allowed),
                )
                return None
            text = text.lower()
        elif not 1 <= len(text) <= MOOD_MAX_CHARS or id_problem(text):
            self.error(
                "DSL_INVALID_VALUE",
                f"{field} needs a mood of 1 to {MOOD_MAX_CHARS} characters, none of them a control character",
                _at(value),
            )
            return None
        return Assign(field, text, _at(name))

    def element(self, token: Token) -> Element:
        name = _text(token).strip()
        if not normalise_element(name) or len(name) > ELEMENT_MAX_CHARS or id_problem(name):
            self.error(
                "DSL_INVALID_VALUE",
                f"an element is a name of 1 to {ELEMENT_MAX_CHARS} characters with a letter or digit, e.g. phone_ring",
                _at(token),
            )
        return Element(name, _at(token))

    def include_item(self, item: Node) -> Element:
        assert isinstance(item, Tree)
        if item.data == "element":
            token = item.children[0]
            assert isinstance(token, Token)
            return self.element(token)
        function, argument = item.children
        assert isinstance(function, Token)
        assert isinstance(argument, Token)
        if str(function) != CALLBACK_FUNCTION:
            self.error(
                "DSL_UNKNOWN_FUNCTION",
                f"unknown function '{function}': INCLUDE takes an element or {CALLBACK_FUNCTION}(\"scene\")",
                _at(function),
                closest(str(function), [CALLBACK_FUNCTION]),
            )
        scene = normalise_element(_text(argument))
        name = f"{scene}_callback"
        if not scene or len(name) > ELEMENT_MAX_CHARS or id_problem(name):
            self.error(
                "DSL_INVALID_VALUE",
                f'{CALLBACK_FUNCTION} needs a scene name (at most {ELEMENT_MAX_CHARS - 9} characters), e.g. "kiss"',
                _at(argument),
            )
        return Element(name, _at(function))

    def number(self, token: Token, *, negative: bool = False) -> int | float:
        text = str(token)
        if len(text) > MAX_NUMBER_CHARS:
            self.error("DSL_INVALID_VALUE", f"number too long (at most {MAX_NUMBER_CHARS} characters)", _at(token))
            return 0
        value = float(text) if "." in text else int(text)
        return -value if negative else value

    def seconds(self, tree: Tree[Token]) -> int | float:
        token = tree.children[0]
        assert isinstance(token, Token)
        value = self.number(token)
        if value > MAX_SECONDS:
            self.error("DSL_INVALID_VALUE", f"a duration is at most {MAX_SECONDS} seconds (a day)", _at(token))
        return value

    def duration(self, tree: Tree[Token]) -> list[Statement]:
        low, high, *target = (self.seconds(t) for t in _trees(tree))
        target_at = next((_at(c) for c in tree.children if isinstance(c, Token) and c.type == "TARGET"), None)
        return [SetDuration(low, high, target[0] if target else None, _at(tree), target_at)]

    def constraints(self, tree: Tree[Token]) -> SetConstraints:
        chosen: str | None = None
        avoid: list[Element] = []
        for part in _trees(tree):
            if part.data == "avoid":
                avoid.extend(self.element(_only_token(element)) for element in _trees(part))
                continue
            value = part.children[-1]
            assert isinstance(value, Token)
            found = rating(_text(value).strip())
            if found is None:
                message = f"'{_text(value)}' is not a rating: use {_quoted(list(RATINGS))}"
                self.error("DSL_INVALID_VALUE", message, _at(value), closest(_text(value), RATINGS))
            elif chosen is not None:
                self.warn("DSL_ASSIGNED_TWICE", f"rating is set twice here; the last ({found}) wins", _at(part))
            chosen = found or chosen
        return SetConstraints(chosen, tuple(avoid), _at(tree))

    def count_elements(self, program: Program) -> None:
        """A node holds at most MAX_ELEMENTS required and avoided elements: more is an error."""
        required: dict[str, Element] = {}
        avoided: dict[str, Element] = {}
        for statement, _ in walk(program.statements):
            if isinstance(statement, Include):
                required.update((normalise_element(e.name), e) for e in statement.elements)
            if isinstance(statement, SetConstraints):
                avoided.update((normalise_element(e.name), e) for e in statement.avoid)
        for kind, names in (("required", required), ("avoided", avoided)):
            if len(names) > MAX_ELEMENTS:
                extra = list(names.values())[MAX_ELEMENTS]
                self.error("DSL_TOO_MANY_ELEMENTS", f"more than {MAX_ELEMENTS} {kind} elements", extra.at)

    # --- conditions ---------------------------------------------------------------------------

    def condition(self, node: Node) -> Condition:
        if isinstance(node, Tree) and node.data in ("or_expr", "and_expr"):
            keyword = "OR" if node.data == "or_expr" else "AND"
            parts = tuple(self.condition(c) for c in node.children if not (isinstance(c, Token) and c.type == keyword))
            return Or(parts, _at(node)) if keyword == "OR" else And(parts, _at(node))
        if isinstance(node, Tree) and node.data == "negation":
            return Not(self.condition(node.children[-1]), _at(node))
        if isinstance(node, Tree) and node.data == "comparison":
            left, op, right = node.children
            return Compare(str(op), self.operand(left), self.operand(right), _at(node))
        return Test(self.operand(node), _at(node))

    def operand(self, node: Node) -> Operand:
        if isinstance(node, Token):
            if node.type in ("TRUE", "FALSE"):
                return Const(node.type == "TRUE", _at(node))
            return Const(_text(node), _at(node))
        if node.data == "number":
            *sign, digits = node.children
            assert isinstance(digits, Token)
            return Const(self.number(digits, negative=bool(sign)), _at(node))
        return self.ref([str(c) for c in node.children], _at(node))

    def ref(self, parts: list[str], at: Position) -> Ref:
        text = ".".join(parts)
        root, rest = parts[0], ".".join(parts[1:])
        if root in PLAYER_ROOTS:
            if not rest:
                self.warn("DSL_UNKNOWN_FIELD", f"'{root}' needs a name after it, e.g. {root}.quest_accept", at)
            return Ref(root, rest, text, at, known=bool(rest))
        if root == "social":
            key = social_field(rest)
            if key is not None:
                return Ref(root, key, text, at)
            message = f"unknown social field '{rest}': known are {_quoted(list(SOCIAL_FIELDS))}"
            self.warn("DSL_UNKNOWN_FIELD", message, at, closest(rest, SOCIAL_FIELDS))
            return Ref(root, rest, text, at, known=False)
        if rest:
            message = f"unknown field '{text}': fields start with {_quoted(list(ROOTS))}"
        else:
            message = f"unknown name '{text}': write \"{text}\" for a string, or a field such as flags.{text}"
        self.warn("DSL_UNKNOWN_FIELD", message, at, closest(root, ROOTS))
        return Ref(root, rest, text, at, known=False)


def _only_token(tree: Tree[Token]) -> Token:
    token = tree.children[0]
    assert isinstance(token, Token)
    return token
