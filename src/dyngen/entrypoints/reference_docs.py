"""The generated pages of the documentation site (docs/, `make docs`): the HTTP API from the app's OpenAPI
schema, the configuration from the settings models, the CLI from the Typer app.

Each function returns a Markdown page; `mkdocs_hooks.py` adds them to the site at build time, so they are
never out of step with the code and never stored in the repository.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from typer.core import TyperGroup, TyperOption

from dyngen.config import Settings
from dyngen.config_file import field_sections

GENERATED = (
    "<!-- Generated at build time by src/dyngen/entrypoints/reference_docs.py: edit the code, not this page. -->"
)
METHODS = ("get", "head", "post", "put", "patch", "delete")


def _cell(text: object) -> str:
    """A table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _anchor(method: str, path: str) -> str:
    return (method + "-" + path).lower().replace("/", "-").replace("{", "").replace("}", "").strip("-")


# --- HTTP API -----------------------------------------------------------------------------------------


def _type(schema: dict[str, Any]) -> str:
    """A short name for a JSON Schema: `GenerateContentRequest`, `string`, `array of X`, `A or B`."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return " or ".join(_type(s) for s in schema[combinator])
    if "allOf" in schema:
        return " and ".join(_type(s) for s in schema["allOf"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if kind == "object" and "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
        return f"object of {_type(schema['additionalProperties'])}"
    return str(kind or "any")


def _body(content: dict[str, Any]) -> str:
    return ", ".join(f"`{media}`: {_type(spec.get('schema', {}))}" for media, spec in content.items()) or "none"


def openapi_markdown(schema: dict[str, Any]) -> str:
    """Every route of the OpenAPI schema (parameters, body, answers) and every schema it names."""
    lines = [
        "# HTTP API reference",
        "",
        GENERATED,
        "",
        f"dyngen {schema['info']['version']}, OpenAPI {schema['openapi']}. The same schema is served at "
        "`/openapi.json`, and explored interactively at `/docs` (Swagger UI) and `/redoc` on a running server. "
        "What each route means, with its errors and examples, is in [the HTTP API guide](http.md).",
        "",
        "| Method and path | Summary |",
        "| --- | --- |",
    ]
    routes = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    routes = [(p, m, op) for p, m, op in routes if m in METHODS]
    for path, method, op in routes:
        lines.append(f"| [`{method.upper()} {path}`](#{_anchor(method, path)}) | {_cell(op.get('summary', ''))} |")
    for path, method, op in routes:
        lines += ["", f"## `{method.upper()} {path}` {{ #{_anchor(method, path)} }}", ""]
        if op.get("description"):
            lines += [op["description"], ""]
        security = op.get("security")
        lines += ["Needs no API key." if security == [] else "Needs an API key once keys are enforced.", ""]
        parameters = op.get("parameters", [])
        if parameters:
            lines += ["| Parameter | In | Type | Required | Description |", "| --- | --- | --- | --- | --- |"]
            for p in parameters:
                lines.append(
                    f"| `{p['name']}` | {p['in']} | {_cell(_type(p.get('schema', {})))} | "
                    f"{'yes' if p.get('required') else 'no'} | {_cell(p.get('description', ''))} |"
                )
            lines.append("")
        if "requestBody" in op:
            lines += [f"Body: {_body(op['requestBody'].get('content', {}))}", ""]
        lines += ["| Status | Meaning | Body |", "| --- | --- | --- |"]
        for status, answer in op.get("responses", {}).items():
            body = _body(answer.get("content", {})) if answer.get("content") else ""
            lines.append(f"| {status} | {_cell(answer.get('description', ''))} | {_cell(body)} |")
    lines += ["", "## Schemas", ""]
    for name, component in sorted(schema.get("components", {}).get("schemas", {}).items()):
        lines += [f"### {name} {{ #{name.lower()} }}", ""]
        if component.get("description"):
            lines += [component["description"], ""]
        properties = component.get("properties", {})
        required = set(component.get("required", []))
        if properties:
            lines += ["| Field | Type | Required | Description |", "| --- | --- | --- | --- |"]
            for field, spec in properties.items():
                lines.append(
                    f"| `{field}` | {_cell(_type(spec))} | {'yes' if field in required else 'no'} | "
                    f"{_cell(spec.get('description', ''))} |"
                )
            lines.append("")
        elif "enum" in component:
            lines += [f"One of {_type(component)}.", ""]
    return "\n".join(lines) + "\n"


# --- Configuration ------------------------------------------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds (also when it is optional), else None."""
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, Path):
        package = Path(__file__).resolve().parents[1]
        if value.resolve().is_relative_to(package):  # shipped as package data, wherever it is installed
            return f"package data `dyngen/{value.resolve().relative_to(package).as_posix()}`"
        return f"`{value.as_posix()}`"
    text = json.dumps(value, default=str)
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}...`"


def _variable(name: str, info: FieldInfo) -> str:
    alias = info.validation_alias
    return alias if isinstance(alias, str) else f"DYNGEN_{name.upper()}"


def _settings_rows() -> Iterator[tuple[str, str, str, str]]:
    """(variable, dyngen.toml key, default, description) for every setting, nested models field by field."""
    files = field_sections()
    for name, info in Settings.model_fields.items():
        variable = _variable(name, info)
        key = files.get(name, "")
        model = _model_of(info.annotation)
        yield variable, key, _default(info), info.description or ""
        if model is not None:
            for sub, sub_info in model.model_fields.items():
                sub_key = f"{key}.{sub}" if key else f"{name}.{sub}"
                yield f"{variable}__{sub.upper()}", sub_key, _default(sub_info), sub_info.description or ""


def settings_rows() -> list[tuple[str, str, str, str]]:
    """The configuration table's rows (the tests check each setting is there, with a description)."""
    return list(_settings_rows())


def _file_place(variable: str) -> str:
    """Where a setting without a key of its own goes in dyngen.toml."""
    for prefix, kind in (("DYNGEN_OPENAI_", "openai"), ("DYNGEN_HTTP_VIDEO_", "http_video")):
        if variable.startswith(prefix):
            return f"`[providers.{kind}]` {variable.removeprefix(prefix).lower()}"
    return {
        "DYNGEN_PROVIDERS": "`[providers.<name>]`",
        "DYNGEN_PROVIDER_CHAINS": "`[chains]`",
        "DYNGEN_RETENTION": "`[retention]`",
        "DYNGEN_COMFYUI": "`[providers.comfyui]`",
    }.get(variable, "environment only")


def configuration_markdown() -> str:
    """Every setting: its environment variable, its dyngen.toml key, its default and what it does."""
    lines = [
        "# Configuration reference",
        "",
        GENERATED,
        "",
        "Every setting of `Settings` (`src/dyngen/config.py`), the one place the defaults live. Set one as an "
        "environment variable (prefix `DYNGEN_`, nested values with `__`) or as a key of `dyngen.toml` "
        "(section and key as shown). How the two combine, secrets by reference and `dyngen config check` / "
        "`show`: [Configuration](../how-to/configuration.md).",
        "",
        "| Variable | dyngen.toml | Default | Meaning |",
        "| --- | --- | --- | --- |",
    ]
    for variable, key, default, description in settings_rows():
        shown = f"`[{key.rsplit('.', 1)[0]}] {key.rsplit('.', 1)[1]}`" if "." in key else _file_place(variable)
        lines.append(f"| `{variable}` | {shown} | {_cell(default)} | {_cell(description)} |")
    return "\n".join(lines) + "\n"


# --- CLI ----------------------------------------------------------------------------------------------


def _commands(group: TyperGroup, prefix: str) -> Iterator[tuple[str, Any]]:
    for name, command in group.commands.items():
        if getattr(command, "hidden", False):
            continue
        yield f"{prefix} {name}", command
        if isinstance(command, TyperGroup):
            yield from _commands(command, f"{prefix} {name}")


def _parameter(param: Any) -> tuple[str, str, str]:
    """(spelling, default, help) of one visible parameter."""
    if isinstance(param, TyperOption):
        names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        empty = param.is_flag or param.default is None or param.default in ((), [])
        shown = "" if empty else f"`{param.default}`"
        return names, "required" if param.required else shown, param.help or ""
    metavar = param.metavar or str(param.name).upper()
    return f"`{metavar}`", "required" if param.required else "", getattr(param, "help", "") or ""


def cli_markdown(app: typer.Typer) -> str:
    """Every command and subcommand of the Typer app, with its options (hidden old spellings left out)."""
    root = typer.main.get_command(app)
    lines = [
        "# CLI reference",
        "",
        GENERATED,
        "",
        "The `dyngen` command. Exit codes: 0 success, 1 the input is valid but has errors (`validate`) or some "
        "items failed (`warm`, `export`), 2 the input cannot be used, 130 interrupted.",
        "",
        "One vocabulary: `--playthrough-id` and `--player-id` name the ids in every command, `--path` is a list "
        "of scenes in play order, `--graph-id` and `--graph-version` a stored graph. Renamed options still work "
        "for one more release, each with a deprecation note on stderr: `play --playthrough` and `key "
        "--playthrough` (now `--playthrough-id`), `play --player` and `key --player` (now `--player-id`), "
        "`warm --playthrough` (now `--path`), `export --version` (now `--graph-version`).",
        "",
    ]
    commands: list[tuple[str, Any]] = [("dyngen", root)]
    if isinstance(root, TyperGroup):
        commands += list(_commands(root, "dyngen"))
    for name, command in commands:
        lines += [f"## `{name}`", "", (command.help or "").strip(), ""]
        params = [p for p in command.params if not getattr(p, "hidden", False)]
        if params:
            lines += ["| Argument or option | Default | Description |", "| --- | --- | --- |"]
            for param in params:
                spelling, default, text = _parameter(param)
                lines.append(f"| {spelling} | {_cell(default)} | {_cell(text)} |")
            lines.append("")
    return "\n".join(lines) + "\n"
