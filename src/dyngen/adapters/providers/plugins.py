"""Provider discovery: the `dyngen.providers` entry-point group (the built-in provider registers there too)."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from dyngen.ports import Provider

GROUP = "dyngen.providers"
log = logging.getLogger("dyngen.providers")


def discover() -> dict[str, Any]:
    """Provider factories by entry-point name. A plugin that fails to import is logged and skipped."""
    factories: dict[str, Any] = {}
    for ep in entry_points(group=GROUP):
        try:
            factories[ep.name] = ep.load()
        except ImportError as exc:
            log.warning("provider.unavailable name=%s reason=%s", ep.name, exc)
    return factories


def load_providers(options: dict[str, dict[str, Any]] | None = None) -> dict[str, Provider]:
    """Instantiate every discovered provider, passing its options (from settings) as keyword arguments."""
    options = options or {}
    return {name: factory(**options.get(name, {})) for name, factory in discover().items()}
