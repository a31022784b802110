"""Provider discovery: the `dyngen.providers` entry-point group (the built-in provider registers there too).

A plugin whose optional dependency is missing is logged and skipped; settings that name it fail at start
with the extra to install. The extra comes from the entry point (`openai = "pkg.mod:Factory [openai]"`),
else from a module-level `EXTRA = "openai"` constant of the entry point's module (read without importing
it), else the message names the missing module.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from dyngen.ports import Provider

GROUP = "dyngen.providers"
log = logging.getLogger("dyngen.providers")


@dataclass(slots=True)
class Discovery:
    """What the entry-point group holds.

    Attributes:
        factories: Provider factories by entry-point name.
        unavailable: Why a provider could not load, by name: a message that says what to install.
    """

    factories: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def _declared_extra(ep: EntryPoint) -> str | None:
    """The extra an entry point declares, or its module's `EXTRA = "..."` constant (parsed, not imported)."""
    if ep.extras:
        return ep.extras[0]
    try:
        spec = importlib.util.find_spec(ep.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "EXTRA" and isinstance(value, ast.Constant):
            return value.value if isinstance(value.value, str) else None
    return None


def _install_hint(ep: EntryPoint, exc: ImportError) -> str:
    extra = _declared_extra(ep)
    if extra:
        return f"provider '{ep.name}' needs the extra: pip install 'dyngen[{extra}]'"
    missing = exc.name or str(exc)
    return f"provider '{ep.name}' cannot load: missing module '{missing}' (install it)"


def discover_plugins() -> Discovery:
    """Every provider factory of the entry-point group, and why the ones that failed to import did."""
    found = Discovery()
    for ep in entry_points(group=GROUP):
        try:
            found.factories[ep.name] = ep.load()
        except ImportError as exc:
            hint = _install_hint(ep, exc)
            found.unavailable[ep.name] = hint
            log.warning("provider.unavailable name=%s reason=%s hint=%s", ep.name, exc, hint)
    return found


def discover() -> dict[str, Any]:
    """Provider factories by entry-point name. A plugin that fails to import is logged and skipped."""
    return discover_plugins().factories


def load_providers(
    options: dict[str, dict[str, Any]] | None = None, *, required: Iterable[str] = ()
) -> dict[str, Provider]:
    """Instantiate every discovered provider, passing its options (from settings) as keyword arguments.

    Args:
        options: Keyword arguments per provider name.
        required: Names the settings use; one whose plugin failed to import stops the start.

    Raises:
        ValueError: A required provider's optional dependency is missing (the message names the extra).
    """
    options = options or {}
    found = discover_plugins()
    for name in required:
        if name in found.unavailable:
            raise ValueError(found.unavailable[name])
    return {
        name: factory(**options.get(name, {}))
        for name, factory in found.factories.items()
        # A provider that needs settings (a URL, a model) is loaded only once they are given.
        if name in options or not getattr(factory, "needs_options", False)
    }
