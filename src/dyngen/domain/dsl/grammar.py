"""The rule grammar (lark, LALR with a contextual lexer) and its syntax errors as positioned diagnostics.

docs/dsl.md shows the grammar in EBNF; `GRAMMAR` is the source of truth. Keywords are case-insensitive
(`IF` and `if` both work); names, strings and values are not. Newlines are white space: a statement ends
where the next keyword starts. Comments run from `#` or `//` to the end of the line.
"""

from __future__ import annotations

import re
from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from dyngen.domain.dsl.diagnostics import Diagnostic, diagnostic, end_position
from dyngen.domain.dsl.fields import style_field

GRAMMAR = r"""
start: statement*

?statement: if_stmt | set_stmt | include_stmt | duration_stmt | constraint_stmt

if_stmt: IF condition THEN branch else_clause?
else_clause: ELSE THEN? branch   -> else_branch
           | ELSE if_stmt        -> else_if
?branch: assignments | block
assignments: assignment (","? assignment)*
block: "{" statement* "}"

set_stmt: SET assignment (","? assignment)*
assignment: NAME "=" (STRING | NAME)

include_stmt: INCLUDE include_item ("," include_item)*
?include_item: NAME "(" STRING ")"   -> call
             | element

duration_stmt: DURATION seconds MINUS seconds (TARGET seconds)?
seconds: NUMBER UNIT?

constraint_stmt: CONSTRAINT constraint_part+
?constraint_part: RATING "=" (RATING_VALUE | STRING)   -> rating
                | AVOID element ("," element)*       -> avoid
element: NAME | STRING

?condition: or_expr
?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr              -> negation
         | comparison
         | "(" or_expr ")"
?comparison: operand (COMP_OP operand)?
?operand: path | TRUE | FALSE | STRING | number
number: MINUS? NUMBER
path: NAME ("." NAME)*

IF: "IF"i
THEN: "THEN"i
ELSE: "ELSE"i
SET: "SET"i
INCLUDE: "INCLUDE"i
DURATION: "DURATION"i
TARGET: "TARGET"i
CONSTRAINT: "CONSTRAINT"i
RATING: "rating"i
AVOID: "AVOID"i
AND: "and"i
OR: "or"i
NOT: "not"i
TRUE: "true"i
FALSE: "false"i
UNIT: /s(?:ec(?:ond)?s?)?/
MINUS: "-"
COMP_OP: "==" | "!=" | "<=" | ">=" | "<" | ">"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
RATING_VALUE: /[A-Za-z0-9][A-Za-z0-9-]*/
STRING: /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/
NUMBER: /[0-9]+(\.[0-9]+)?/
COMMENT: /#[^\n]*/ | /\/\/[^\n]*/

%ignore /[ \t\f\r\n]+/
%ignore COMMENT
"""

MAX_DEPTH = 100
"""Deepest nesting of conditions and blocks accepted (deeper input is an error, not a stack overflow)."""

# How an expected terminal reads in a message, in the order messages list them.
_SHOWN = {
    "IF": "IF",
    "SET": "SET",
    "INCLUDE": "INCLUDE",
    "DURATION": "DURATION",
    "CONSTRAINT": "CONSTRAINT",
    "THEN": "THEN",
    "ELSE": "ELSE",
    "TARGET": "TARGET",
    "RATING": "rating",
    "AVOID": "AVOID",
    "NOT": "not",
    "AND": "and",
    "OR": "or",
    "COMP_OP": "a comparison (==, !=, <, <=, >, >=)",
    "NAME": "a name",
    "STRING": 'a "string"',
    "NUMBER": "a number",
    "TRUE": "true",
    "FALSE": "false",
    "RATING_VALUE": "a rating (G, PG, PG-13, R)",
    "UNIT": "s",
    "MINUS": "'-'",
    "EQUAL": "'='",
    "COMMA": "','",
    "DOT": "'.'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "$END": "the end of the rules",
}
_ORDER = {name: index for index, name in enumerate(_SHOWN)}


@cache
def parser() -> Lark:
    """The LALR parser, built on first use (not at import)."""
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)


def _expected(names: set[str]) -> str:
    shown = [_SHOWN.get(n, repr(n)) for n in sorted(names, key=lambda n: (_ORDER.get(n, len(_ORDER)), n))]
    shown = list(dict.fromkeys(shown))
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " or " + shown[-1]


_NOT_CODE = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|#[^\n]*|//[^\n]*')


def _closers(source: str, before: int, expected: set[str]) -> set[str]:
    """`expected` without a `)` or `}` that nothing open could close.

    LALR merges parser states, so its lookahead may offer a closer where no bracket is open.
    """
    code = _NOT_CODE.sub("", source[:before])
    for closer, opener, shut in (("RPAR", "(", ")"), ("RBRACE", "{", "}")):
        if closer in expected and code.count(opener) <= code.count(shut):
            expected = expected - {closer}
    return expected


_WORD = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")


def _shown_token(source: str, token: Token) -> str:
    """The text to call unexpected: a whole word, even when the error lexer matched only part of it."""
    word = _WORD.match(source, token.start_pos or 0)
    return word.group() if word else str(token.value)


def _hint(text: str, expected: set[str]) -> str:
    if text == "=" and "COMP_OP" in expected:
        return "; compare with '==' (a single '=' assigns)"
    if "SET" in expected and style_field(text) is not None:
        return f"; outside THEN/ELSE, setting a field is a statement of its own: SET {text} = ..."
    if text.isidentifier() and "THEN" in expected:
        return "; is THEN missing?"
    return ""


def syntax_error(source: str, error: UnexpectedInput) -> Diagnostic:
    """A positioned diagnostic for a lark syntax error."""
    if isinstance(error, UnexpectedToken):
        token = error.token
        before = len(source) if token.type == "$END" else (token.start_pos or 0)
        expected = _closers(source, before, set(error.expected))
        text = "" if token.type == "$END" else _shown_token(source, token)
        if token.type == "$END":
            line, column = end_position(source)
            what = "the rules end too early"
        else:
            line, column = token.line or 1, token.column or 1
            what = f"unexpected '{text}'"
        message = f"{what}: expected {_expected(expected)}{_hint(text, expected)}"
        return diagnostic(source, "DSL_SYNTAX", message, line, column)
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        char = source[position] if 0 <= position < len(source) else ""
        if char and char in "\"'":
            message = f"unterminated string: close it with {char} on the same line"
        else:
            message = f"unexpected character {char!r}"
            if error.allowed:
                message += f": expected {_expected(set(error.allowed))}"
        return diagnostic(source, "DSL_SYNTAX", message, error.line, error.column)
    line, column = end_position(source)
    return diagnostic(source, "DSL_SYNTAX", "the rules end too early", line, column)


def parse(source: str) -> Tree[Token] | Diagnostic:
    """The parse tree of `source`, or the diagnostic for its first syntax error."""
    try:
        tree = parser().parse(source)
    except UnexpectedInput as error:
        return syntax_error(source, error)
    too_deep = _too_deep(tree)
    if too_deep is not None:
        line, column = too_deep
        return diagnostic(
            source, "DSL_TOO_DEEP", f"nested more than {MAX_DEPTH} levels deep: split the condition", line, column
        )
    return tree


def _too_deep(tree: Tree[Token]) -> tuple[int, int] | None:
    """Where the tree first nests deeper than MAX_DEPTH, found without recursion."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            return (getattr(meta, "line", 1), getattr(meta, "column", 1))
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return None
