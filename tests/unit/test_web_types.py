"""The editor's TypeScript types are generated from the Python wire models: fail when they drift.

`web/src/api/schema.json` is the JSON Schema of the wire models (`dyngen.entrypoints.schema_export`),
and `web/src/api/types.gen.ts` is generated from it by `npm run gen:types`, which records the schema's
sha256 in the file's header. A model change without `npm run gen:types` fails here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from dyngen.entrypoints.schema_export import WIRE_MODELS, render, wire_schema

WEB_API = Path(__file__).resolve().parents[2] / "web" / "src" / "api"
SCHEMA = WEB_API / "schema.json"
TYPES = WEB_API / "types.gen.ts"
REGENERATE = "run `npm run gen:types` in web/ and commit web/src/api/schema.json and types.gen.ts"


def stale_models(committed: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The models whose schema differs between two schema documents (added and removed ones too)."""
    return sorted(
        name
        for name in set(committed["$defs"]) | set(current["$defs"])
        if committed["$defs"].get(name) != current["$defs"].get(name)
    )


def test_committed_schema_matches_the_python_models() -> None:
    committed = json.loads(SCHEMA.read_text(encoding="utf-8"))
    stale = stale_models(committed, wire_schema())
    assert not stale, f"the wire models changed ({', '.join(stale)}): {REGENERATE}"
    assert SCHEMA.read_text(encoding="utf-8") == render(), f"schema.json is not in its canonical form: {REGENERATE}"


def test_typescript_types_were_generated_from_the_committed_schema() -> None:
    header = re.search(r"^// schema-sha256: ([0-9a-f]{64})$", TYPES.read_text(encoding="utf-8"), re.MULTILINE)
    assert header is not None, f"types.gen.ts has no schema-sha256 header: {REGENERATE}"
    assert header.group(1) == hashlib.sha256(SCHEMA.read_bytes()).hexdigest(), f"types.gen.ts is stale: {REGENERATE}"


def test_every_wire_model_has_a_typescript_type() -> None:
    source = TYPES.read_text(encoding="utf-8")
    declared = set(re.findall(r"^export (?:interface|type) (\w+)", source, re.MULTILINE))
    missing = sorted(m.__name__ for m in WIRE_MODELS if m.__name__ not in declared)
    assert not missing, f"no TypeScript type for {missing}: {REGENERATE}"


def test_a_changed_added_or_removed_model_is_named() -> None:
    current = wire_schema()
    changed = copy.deepcopy(current)
    changed["$defs"]["Style"]["properties"]["pacingTypo"] = {"type": "string"}
    changed["$defs"]["Extra"] = {"type": "object"}
    del changed["$defs"]["Beat"]
    assert stale_models(changed, current) == ["Beat", "Extra", "Style"]
