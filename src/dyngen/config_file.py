"""dyngen.toml: the configuration file, read with `tomllib`, sections by concept.

Precedence, highest first: arguments, flat `DYNGEN_<FIELD>` variables, `DYNGEN_<SECTION>__<KEY>` variables,
the file, the defaults of `Settings` (the only place defaults live). The file is `--config`, else
`DYNGEN_CONFIG`, else `dyngen.toml` in the working directory when there is one; without any, nothing changes.

A string `"env:NAME"` anywhere in the file is a secret by reference: the value of the variable NAME, never
logged nor echoed (`dyngen config show` masks it). `tomllib` gives no line numbers, so the line of a key is
found by scanning the file's text.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import typing
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

FILE_NAME = "dyngen.toml"
ENV_FILE = "DYNGEN_CONFIG"
ENV_PREFIX = "DYNGEN_"
REF_PREFIX = "env:"
MASK = "********"
# Key names whose values are masked in `config show` whatever their origin.
SECRET_WORDS = ("key", "secret", "token", "password", "auth_header", "headers")
# Settings kept for the environment only (the compatibility shim of the `openai` / `http_video` instances).
LEGACY_PREFIXES = ("openai_", "http_video_")

_STORAGE = [
    "data_dir",
    "database_url",
    "db_connect_timeout_s",
    "db_command_timeout_s",
    "db_pool_timeout_s",
    "record_timeout_s",
    "outbox_replay_s",
    "object_store_url",
    "cache_max_bytes",
    "cache_max_entries",
    "cache_ttl_s",
]
_JOBS = {
    "lease_s": "job_lease_s",
    "max_attempts": "job_max_attempts",
    "retry_base_s": "job_retry_base_s",
    "concurrency": "job_concurrency",
    "timeout_s": "job_timeout_s",
    "worker_max_jobs": "worker_max_jobs",
}
_ROUTING = {
    "default": "default_provider",
    "by_type": "providers_by_type",
    "by_template": "providers_by_template",
    "breaker_failures": "breaker_failures",
    "breaker_window_s": "breaker_window_s",
    "breaker_cooldown_s": "breaker_cooldown_s",
    "chain_member_reserve": "chain_member_reserve",
    "judge": "element_judge",
}
_PREFIXED = {"redis": "redis_", "budgets": "budget_", "rate_limits": "rate_limit_", "reviews": "review_"}
# Sections holding named entries rather than fixed keys.
_OPEN_SECTIONS = {"providers": "providers", "chains": "provider_chains", "pipelines": "provider_pipelines"}
# The file `load` (and `--config`) names, seen by `FileSource` while the settings are made.
# `lenient`: problems are reported by `load` itself, so the source gives what it could read.
_CHOSEN: ContextVar[tuple[Path | None, bool]] = ContextVar("dyngen_config_file", default=(None, False))
_NOT_IN_FILE = {
    "providers",
    "provider_chains",
    "provider_pipelines",
    "retention",
    "prometheus_multiproc_dir",
    "comfyui",
}
# The environment-only settings that make a provider instance, and the kind to name in its file section.
_FLAT_KINDS = {"openai_": "openai", "http_video_": "http_video", "comfyui": "comfyui"}


class ConfigError(ValueError):
    """The configuration has problems; `problems` lists each (the message is the report)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(report(problems))


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of the configuration: where (file and line, or a variable), which key, what, and a hint."""

    where: str
    key: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        hint = f" (did you mean `{self.hint}`?)" if self.hint else ""
        key = f"{self.key}: " if self.key else ""
        return f"{self.where}: {key}{self.message}{hint}"


def report(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def sections() -> dict[str, dict[str, str]]:
    """Every fixed section's keys and the Settings field each sets (retention's keys are its model's)."""
    from dyngen.config import Settings
    from dyngen.config_sections import RetentionSettings

    names = [name for name in Settings.model_fields if not name.startswith(LEGACY_PREFIXES)]
    table: dict[str, dict[str, str]] = {
        "server": {},
        "storage": {name: name for name in _STORAGE} | {n: n for n in names if n.startswith("s3_")},
        "jobs": dict(_JOBS),
        "routing": dict(_ROUTING),
        "retention": {name: f"retention.{name}" for name in RetentionSettings.model_fields},
    }
    for section, prefix in _PREFIXED.items():
        table[section] = {n.removeprefix(prefix): n for n in names if n.startswith(prefix)}
    table["routing"] = table.pop("routing")
    table["retention"] = table.pop("retention")
    claimed = {f for keys in table.values() for f in keys.values()} | _NOT_IN_FILE
    table["server"] = {n: n for n in names if n not in claimed}
    return table


def field_sections() -> dict[str, str]:
    """`section.key` of each Settings field set from a fixed section."""
    return {f: f"{section}.{key}" for section, keys in sections().items() for key, f in keys.items()}


def find_file(path: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The configuration file: the one given, else `DYNGEN_CONFIG`, else ./dyngen.toml if it exists."""
    if path is not None:
        return path
    if environ.get(ENV_FILE):
        return Path(environ[ENV_FILE])
    here = Path.cwd() / FILE_NAME
    return here if here.is_file() else None


def _dotted(text: str) -> list[str]:
    return [a or b or c.strip() for a, b, c in re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.]+)', text)]


def key_lines(text: str) -> dict[str, int]:
    """The line of each table and key (`redis.url`, `providers.story.model`), first occurrence."""
    lines: dict[str, int] = {}
    table: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"\[\[?([^\]]+)\]\]?", stripped)
        if header:
            table = _dotted(header.group(1).strip())
            lines.setdefault(".".join(table), number)
            continue
        key = re.match(
            r"""((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*=""", stripped
        )
        if key:
            lines.setdefault(".".join([*table, *_dotted(key.group(1))]), number)
    return lines


@dataclass(slots=True)
class Layer:
    """What the file and the `DYNGEN_SECTION__KEY` variables set, in Settings' own shape.

    Attributes:
        values: Field values (`retention`, `providers` and `provider_chains` nested).
        origins: Where each dotted field path was set: `dyngen.toml:12` or `DYNGEN_REDIS__URL`.
        secrets: Dotted field paths whose value came from a secret reference.
        problems: What is wrong with the file or the variables.
        path: The file read, if any.
    """

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    path: Path | None = None
    lines: dict[str, int] = field(default_factory=dict)

    def where(self, key: str) -> str:
        """`file:line` of a dotted file key (its closest enclosing table when the key has no line)."""
        parts = key.split(".")
        while parts:
            line = self.lines.get(".".join(parts))
            if line is not None:
                return f"{self.path}:{line}"
            parts.pop()
        return str(self.path)

    def put(self, path: list[str], value: Any, origin: str) -> None:
        target = self.values
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
        self.origins[".".join(path)] = origin


def _closest(word: str, known: list[str]) -> str | None:
    found = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return found[0] if found else None


def _resolve_refs(
    value: Any, environ: Mapping[str, str], missing: list[tuple[str, str]], path: str = ""
) -> tuple[Any, bool]:
    """The value with every `env:NAME` string replaced by the variable; whether any was. Each reference to
    an unset variable is added to `missing` as (dotted path, variable)."""
    if isinstance(value, str) and value.startswith(REF_PREFIX):
        name = value.removeprefix(REF_PREFIX)
        if name not in environ:
            missing.append((path, name))
            return None, True
        return environ[name], True
    if isinstance(value, dict):
        resolved = {k: _resolve_refs(v, environ, missing, f"{path}.{k}") for k, v in value.items()}
        return {k: v for k, (v, _) in resolved.items()}, any(ref for _, ref in resolved.values())
    if isinstance(value, list):
        items = [_resolve_refs(v, environ, missing, path) for v in value]
        return [v for v, _ in items], any(ref for _, ref in items)
    return value, False


def _set(layer: Layer, section: str, key: str, value: Any, *, origin: str, table: dict[str, dict[str, str]]) -> None:
    """Put one `section.key` value into the layer, or a problem naming the closest known key."""
    if section in _OPEN_SECTIONS:
        if section in ("providers", "pipelines") and not isinstance(value, dict):
            layer.problems.append(Problem(origin, f"{section}.{key}", f"must be a table `[{section}.<name>]`"))
            return
        layer.put([_OPEN_SECTIONS[section], key], value, origin)
        return
    keys = table[section]
    kind = next((k for prefix, k in _FLAT_KINDS.items() if key.startswith(prefix)), None)
    if kind is not None and key not in keys:
        # A provider is configured in its own section in the file, as any instance is.
        instead = f'[providers.<name>] kind = "{kind}"'
        layer.problems.append(Problem(origin, f"{section}.{key}", "a provider setting", instead))
        return
    if key not in keys:
        near = _closest(key, list(keys))
        hint = field_sections().get(key) or (f"{section}.{near}" if near else _closest_anywhere(key, table))
        layer.problems.append(Problem(origin, f"{section}.{key}", "unknown key", hint))
        return
    layer.put(keys[key].split("."), value, origin)


def _closest_anywhere(key: str, table: dict[str, dict[str, str]]) -> str | None:
    known = {k: f"{s}.{k}" for s, keys in table.items() for k in keys}
    found = _closest(key, list(known))
    return known[found] if found else None


def read_layer(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Layer:
    """Read the file (if any) and the `DYNGEN_SECTION__KEY` variables into a layer of field values."""
    environ = os.environ if environ is None else environ
    layer = Layer(path=find_file(path, environ))
    table = sections()
    if layer.path is not None:
        _read_file(layer, layer.path, environ, table)
    for name, raw in sorted(environ.items()):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or "__" not in upper:
            continue
        section, _, key = upper.removeprefix(ENV_PREFIX).lower().partition("__")
        if (section not in table and section not in _OPEN_SECTIONS) or section in ("retention", "providers"):
            continue  # retention and providers are Settings fields: pydantic reads those variables itself
        value: Any = raw
        if raw.strip()[:1] in ("[", "{"):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                layer.problems.append(Problem(name, f"{section}.{key}", "is not valid JSON"))
                continue
        _set(layer, section, key, value, origin=name, table=table)
    return layer


def _read_file(layer: Layer, path: Path, environ: Mapping[str, str], table: dict[str, dict[str, str]]) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        layer.problems.append(Problem(str(path), "", f"cannot read the configuration file: {exc.strerror}"))
        return
    layer.lines = key_lines(text)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{line.group(1)}" if line else str(path)
        layer.problems.append(Problem(where, "", f"not valid TOML: {exc}"))
        return
    known = [*table, *_OPEN_SECTIONS]
    for section, body in document.items():
        if section not in known:
            hint = _closest(section, known) or field_sections().get(section)
            layer.problems.append(Problem(layer.where(section), section, "unknown section or key", hint))
            continue
        if not isinstance(body, dict):
            layer.problems.append(Problem(layer.where(section), section, f"must be a table `[{section}]`"))
            continue
        for key, value in body.items():
            dotted = f"{section}.{key}"
            missing: list[tuple[str, str]] = []
            resolved, is_ref = _resolve_refs(value, environ, missing, dotted)
            for at, name in missing:
                layer.problems.append(
                    Problem(layer.where(at), at, f"refers to the environment variable {name}, which is not set")
                )
            resolved = _relative_paths(section, key, resolved, path.resolve().parent, table)
            before = len(layer.problems)
            _set(layer, section, key, resolved, origin=layer.where(dotted), table=table)
            if is_ref and len(layer.problems) == before and section != "providers":
                field_path = (
                    [_OPEN_SECTIONS[section], key] if section in _OPEN_SECTIONS else table[section][key].split(".")
                )
                layer.secrets.add(".".join(field_path))
            if section == "providers" and isinstance(resolved, dict):
                for inner in resolved:  # each provider key's own line
                    layer.origins[f"providers.{key}.{inner}"] = layer.where(f"{dotted}.{inner}")
                _mark_refs(layer, ["providers", key], value)


# `example:scene_still`, `s3://...`: a reference, not a path (a one-letter "scheme" is a Windows drive).
_REFERENCE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def _against(folder: Path, value: Any) -> Any:
    """`value` resolved against `folder` when it is a relative path (not empty, not a reference)."""
    if not isinstance(value, str) or not value.strip() or _REFERENCE.match(value):
        return value
    path = Path(value).expanduser()
    return value if path.is_absolute() else str(folder / path)


def _relative_paths(section: str, key: str, value: Any, folder: Path, table: dict[str, dict[str, str]]) -> Any:
    """A file path the file gives (a `Path` setting, a provider's `workflow`...) made absolute against the
    file's folder: what the file names never depends on the working directory."""
    if section == "providers" and isinstance(value, dict):
        from dyngen.adapters.providers.plugins import path_fields

        kind = value.get("kind", key)
        paths = path_fields(kind) if isinstance(kind, str) else set()
        return {k: _against(folder, v) if k in paths else v for k, v in value.items()}
    field_name = table.get(section, {}).get(key)
    if field_name in _path_settings():
        return _against(folder, value)
    return value


def _path_settings() -> set[str]:
    from dyngen.config import Settings

    return {
        name
        for name, info in Settings.model_fields.items()
        if info.annotation is Path or Path in typing.get_args(info.annotation)
    }


def _mark_refs(layer: Layer, path: list[str], value: Any) -> None:
    if isinstance(value, str) and value.startswith(REF_PREFIX):
        layer.secrets.add(".".join(path))
    elif isinstance(value, dict):
        for key, inner in value.items():
            _mark_refs(layer, [*path, key], inner)


class FileSource(PydanticBaseSettingsSource):
    """The settings source of dyngen.toml and the `DYNGEN_SECTION__KEY` variables (below flat variables).

    Raises:
        ConfigError: The file or the variables have problems (the message lists every one).
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the whole layer is given at once by __call__

    def __call__(self) -> dict[str, Any]:
        path, lenient = _CHOSEN.get()
        layer = read_layer(path)
        if layer.problems and not lenient:
            raise ConfigError(layer.problems)
        return layer.values


# --- what `dyngen config check` / `show` use -------------------------------------------------------------


@dataclass(slots=True)
class Loaded:
    """The effective settings (None when they cannot be made; made without the broken parts when there are
    problems), the layer they came from, every problem, and the warnings (deprecated keys: they still work)."""

    settings: Any
    layer: Layer
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)


def flat_variable(name: str, environ: Mapping[str, str]) -> str | None:
    """The flat `DYNGEN_<FIELD>` variable (or one nested under it) that sets a field, if any."""
    wanted = f"{ENV_PREFIX}{name}".upper()
    if name == "prometheus_multiproc_dir":
        wanted = "PROMETHEUS_MULTIPROC_DIR"
    for variable in environ:
        upper = variable.upper()
        if upper == wanted or upper.startswith(wanted + "__"):
            return variable
    return None


def use_file(path: Path | None) -> None:
    """Make every later `Settings()` of this process read `path` (`--config`); children see DYNGEN_CONFIG."""
    if path is not None:
        os.environ[ENV_FILE] = str(path)


def load(path: Path | None = None) -> Loaded:
    """Read the configuration (the environment, and the file) and report every problem with file and line
    instead of raising."""
    from dyngen.config import Settings

    environ = os.environ
    layer = read_layer(path, environ)
    problems = list(layer.problems)
    settings = None
    token = _CHOSEN.set((layer.path, True))
    try:
        settings = Settings()
    except ValidationError as exc:
        problems.extend(_validation_problems(exc, layer, environ))
    except ValueError as exc:
        problems.append(Problem(str(layer.path or "settings"), "", str(exc)))
    finally:
        _CHOSEN.reset(token)
    return Loaded(settings=settings, layer=layer, problems=problems)


def _validation_problems(exc: ValidationError, layer: Layer, environ: Mapping[str, str]) -> Iterator[Problem]:
    places = field_sections()
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if not loc:
            yield Problem(str(layer.path or "settings"), "", error["msg"])
            continue
        variable = flat_variable(loc[0], environ)
        dotted = ".".join(loc)
        origin = next((layer.origins[p] for p in _prefixes(loc) if p in layer.origins), None)
        if variable is not None:
            yield Problem(variable, dotted, error["msg"])
        elif origin is not None:
            open_fields = {field: section for section, field in _OPEN_SECTIONS.items()}
            key = ".".join([open_fields[loc[0]], *loc[1:]]) if loc[0] in open_fields else places.get(loc[0], dotted)
            yield Problem(origin, key, error["msg"])
        else:
            yield Problem("settings", dotted, error["msg"])


def _prefixes(loc: list[str]) -> Iterator[str]:
    for end in range(len(loc), 0, -1):
        yield ".".join(loc[:end])


def is_secret(path: str, value: Any) -> bool:
    last = path.rsplit(".", 1)[-1].lower()
    words = (last, *last.split("_")[-1:])
    return isinstance(value, SecretStr) or any(word in SECRET_WORDS for word in words)


def plain(value: Any) -> Any:
    """A settings value as JSON-able data (secrets stay masked)."""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, BaseModel):
        return {k: plain(v) for k, v in value}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value") and isinstance(value.value, str | int):  # enums
        return value.value
    return value
