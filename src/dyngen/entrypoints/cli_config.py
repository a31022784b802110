"""`dyngen config check` and `dyngen config show`: the configuration file (dyngen.toml) and the environment.

`check` lists every problem with its file and line (or variable) and the closest known key; exit code 2
when there is any. `show` prints the effective configuration as TOML, secrets masked, each value with where
it came from: `default`, the file's line, or the environment variable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from dyngen.config import Settings
from dyngen.config_file import (
    MASK,
    Loaded,
    Problem,
    field_sections,
    flat_variable,
    is_secret,
    load,
    plain,
    report,
    sections,
)

config_app = typer.Typer(help="Check and show the configuration (dyngen.toml and DYNGEN_* variables).")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="The configuration file (default $DYNGEN_CONFIG, ./dyngen.toml).")
]


def checked(path: Path | None = None) -> Loaded:
    """The configuration with every problem found: the file's, the settings', the provider instances'."""
    from dyngen.bootstrap_providers import provider_problems, provider_warnings

    loaded = load(path)
    settings = loaded.settings
    if settings is None:  # other settings are broken: check the providers as the file gives them
        routing = ("providers", "provider_chains", "default_provider", "providers_by_type", "providers_by_template")
        settings = Settings.model_construct(**{k: v for k, v in loaded.layer.values.items() if k in routing})
    try:
        found = provider_problems(settings)
    except (AttributeError, TypeError, ValueError):  # malformed routing, already reported by `load`
        found = []
    loaded.problems.extend(Problem(_where(loaded, key), key, message) for key, message in found)
    try:
        warned = provider_warnings(settings)
    except (AttributeError, TypeError, ValueError):
        warned = []
    loaded.warnings.extend(Problem(_where(loaded, key), key, message) for key, message in warned)
    return loaded


def _warn(loaded: Loaded) -> None:
    """The warnings on stderr (they never stop anything)."""
    for warning in loaded.warnings:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)


def _where(loaded: Loaded, key: str) -> str:
    """The file line of a dotted file key (`providers.story.model`, `routing.by_type.dialogue`), else where
    it was set in the environment."""
    layer = loaded.layer
    parts = key.split(".")
    if parts[0] == "providers" and len(parts) > 1:
        for end in range(len(parts), 1, -1):
            origin = layer.origins.get(".".join(parts[:end]))
            if origin is not None:
                return origin
        return f"DYNGEN_PROVIDERS__{parts[1].upper()} or the flat DYNGEN_* settings"
    field = {v: k for k, v in field_sections().items()}.get(".".join(parts[:2]))
    chain = f"provider_chains.{parts[1]}" if parts[0] == "chains" and len(parts) > 1 else None
    origin = layer.origins.get(chain or field or "")
    if origin is not None:
        return origin
    if layer.path is not None and ".".join(parts[:2]) in layer.lines:
        return layer.where(key)
    variable = flat_variable(field, os.environ) if field else None
    return variable or "default"


def stop_on_problems(path: Path | None = None) -> Settings:
    """The settings, or the report of every problem on stderr and exit code 2 (`serve` starts with it)."""
    loaded = checked(path)
    _warn(loaded)
    if loaded.problems or loaded.settings is None:
        typer.secho(f"the configuration has {len(loaded.problems)} problem(s):", fg=typer.colors.RED, err=True)
        typer.echo(report(loaded.problems), err=True)
        raise typer.Exit(2)
    settings: Settings = loaded.settings
    return settings


@config_app.command("check")
def check(config: ConfigOption = None) -> None:
    """Report every problem of the configuration with file, line and the closest known key (exit code 2)."""
    loaded = checked(config)
    source = loaded.layer.path or "no configuration file (defaults and the environment)"
    _warn(loaded)
    if loaded.problems:
        typer.secho(f"{source}: {len(loaded.problems)} problem(s)", fg=typer.colors.RED, err=True)
        typer.echo(report(loaded.problems))
        raise typer.Exit(2)
    warned = f" ({len(loaded.warnings)} warning(s))" if loaded.warnings else ""
    typer.secho(f"{source}: ok{warned}", fg=typer.colors.GREEN)


def _toml(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _masked(path: str, value: Any, secrets: set[str]) -> Any:
    if value is not None and (path in secrets or is_secret(path, value)):
        return MASK if not isinstance(value, dict) else dict.fromkeys(value, MASK)
    return plain(value)


def _source(loaded: Loaded, field: str) -> str:
    variable = flat_variable(field.split(".", maxsplit=1)[0], os.environ)
    if variable is not None:
        return f"environment {variable}"
    origin = loaded.layer.origins.get(field)
    if origin is None:
        return "default"
    return f"environment {origin}" if origin.startswith("DYNGEN_") else f"file {origin}"


@config_app.command("show")
def show(config: ConfigOption = None) -> None:
    """Print the effective configuration (secrets masked), each value with where it came from."""
    loaded = checked(config)
    if loaded.settings is None or loaded.problems:
        typer.echo(report(loaded.problems), err=True)
        raise typer.Exit(2)
    settings: Settings = loaded.settings
    secrets = loaded.layer.secrets
    lines = [f"# dyngen configuration: {loaded.layer.path or 'no file'}; values from default, file or environment"]
    for section, keys in sections().items():
        lines.append(f"\n[{section}]")
        for key, field in sorted(keys.items()):
            target: Any = settings
            for part in field.split("."):
                target = getattr(target, part)
            value = _masked(field, target, secrets)
            lines.append(f"{'# ' if value is None else ''}{key} = {_toml(value)}  # {_source(loaded, field)}")
    lines.append("\n[chains]")
    for name, members in settings.provider_chains.items():
        lines.append(f"{name} = {_toml(members)}  # {_source(loaded, f'provider_chains.{name}')}")
    legacy = set(settings.provider_sections()) - set(settings.providers)
    for name, instance in settings.provider_sections().items():
        lines.append(f"\n[providers.{name}]")
        for key, value in instance.items():
            path = f"providers.{name}.{key}"
            if name in legacy:
                where = f"environment DYNGEN_{name.upper()}_* (flat settings)"
            else:
                where = (
                    _source(loaded, path)
                    if path in loaded.layer.origins
                    else f"environment DYNGEN_PROVIDERS__{name.upper()}"
                )
                where = "default" if key == "kind" and "kind" not in settings.providers[name] else where
            shown = _masked(path, value, secrets)
            lines.append(f"{'# ' if shown is None else ''}{key} = {_toml(shown)}  # {where}")
    typer.echo("\n".join(lines))
