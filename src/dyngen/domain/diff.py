"""Differences between two versions of a node config, field by field (spec spelling paths)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Change(BaseModel):
    """One field that differs: `before` absent means added, `after` absent means removed."""

    field: str
    before: Any = None
    after: Any = None


def config_diff(before: dict[str, Any], after: dict[str, Any], *, prefix: str = "") -> list[Change]:
    """Every leaf that differs between two wire dicts (objects are compared key by key; lists whole)."""
    changes: list[Change] = []
    for key in sorted(set(before) | set(after)):
        path = f"{prefix}{key}"
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(config_diff(old, new, prefix=f"{path}."))
        elif old != new:
            changes.append(Change(field=path, before=old, after=new))
    return changes
