"""docs/dsl.md stays true: every ```dsl block compiles, every ```dsl-error block gives errors, and every
```json expect block after a block is what that block really gives.

An expectation is an object with any of: `player_context`, `social_context` (the context to evaluate
for), `overrides` (compared exactly), `warnings`, `errors` (lists of diagnostics, each given field
compared; as many as there really are). A missing `warnings` or `errors` means there are none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dyngen.domain.contracts import PlayerContext, SocialContext
from dyngen.domain.dsl import compile_rules, evaluate

DOC = Path(__file__).resolve().parents[2] / "docs" / "dsl.md"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


@dataclass
class Example:
    source: str
    line: int
    error: bool
    expectations: list[dict[str, Any]] = field(default_factory=list)


def examples() -> list[Example]:
    text = DOC.read_text(encoding="utf-8")
    found: list[Example] = []
    for match in FENCE.finditer(text):
        info, body = match.group(1).strip(), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if info in ("dsl", "dsl-error"):
            found.append(Example(body, line, info == "dsl-error"))
        elif info == "json expect":
            assert found, f"docs/dsl.md:{line}: an expectation before any example"
            found[-1].expectations.append(json.loads(body))
    return found


EXAMPLES = examples()


def test_the_docs_have_examples_of_each_kind():
    assert len([e for e in EXAMPLES if not e.error]) >= 12
    assert len([e for e in EXAMPLES if e.error]) >= 4
    assert sum(len(e.expectations) for e in EXAMPLES) >= 15
    # The spec's section 11 example comes first, exactly as the spec writes it.
    assert EXAMPLES[0].source.startswith("IF player_choice.quest_accept == true\n  THEN moodTo")


def _matches(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> bool:
    if len(expected) != len(actual):
        return False
    remaining = list(actual)
    for want in expected:
        hit = next((a for a in remaining if all(a.get(k) == v for k, v in want.items())), None)
        if hit is None:
            return False
        remaining.remove(hit)
    return True


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}" for e in EXAMPLES])
def test_each_documented_example_gives_what_the_docs_say(example: Example):
    compiled = compile_rules(example.source)
    if example.error:
        assert compiled.program is None, f"docs/dsl.md:{example.line}: a dsl-error block compiled"
        assert compiled.errors
    else:
        errors = [f"{e.line}:{e.column} {e.message}" for e in compiled.errors]
        assert compiled.program is not None, f"docs/dsl.md:{example.line} does not compile: {errors}"
    for expectation in example.expectations:
        unknown = set(expectation) - {"player_context", "social_context", "overrides", "warnings", "errors"}
        assert not unknown, f"docs/dsl.md:{example.line}: unknown expectation keys {unknown}"
        warnings = [d.model_dump(mode="json") for d in compiled.warnings]
        errors_found = [d.model_dump(mode="json") for d in compiled.errors]
        overrides: dict[str, Any] = {}
        if compiled.program is not None:
            player = expectation.get("player_context")
            social = expectation.get("social_context")
            evaluation = evaluate(
                compiled.program,
                player_context=PlayerContext.model_validate(player) if player is not None else None,
                social_context=SocialContext.model_validate(social) if social is not None else None,
            )
            overrides = evaluation.overrides
            warnings += [d.model_dump(mode="json") for d in evaluation.warnings]
        if "overrides" in expectation:
            assert overrides == expectation["overrides"], f"docs/dsl.md:{example.line}"
        assert _matches(expectation.get("warnings", []), warnings), f"docs/dsl.md:{example.line}: {warnings}"
        assert _matches(expectation.get("errors", []), errors_found), f"docs/dsl.md:{example.line}: {errors_found}"
