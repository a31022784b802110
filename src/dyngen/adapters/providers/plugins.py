"""Provider discovery: the `dyngen.providers` entry-point group (the built-in provider registers there too).

A plugin whose optional dependency is missing is logged and skipped; settings that name it fail at start
with the extra to install. The extra comes from the entry point (`openai = "pkg.mod:Factory [openai]"`),
else from a module-level `EXTRA = "openai"` constant of the entry point's module (read without importing
it), else the message names the missing module.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import difflib
import functools
import importlib.util
import inspect
import logging
import sys
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, create_model

from dyngen.domain.contracts import GenerateContentRequest
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.ports import Provider, ProviderCall, ProviderResult

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


@functools.lru_cache(maxsize=8)
def _declared(find: Callable[..., Iterable[EntryPoint]], path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    """The group's entry points, scanned once per import path (reading every installed distribution's
    metadata costs ~20 ms; a plugin folder put on the path is a new path, so it is scanned). `find` is
    `importlib.metadata.entry_points`, passed in so that a test's stand-in for it is a key of its own."""
    return tuple(find(group=GROUP))


def discover_plugins() -> Discovery:
    """Every provider factory of the entry-point group, and why the ones that failed to import did."""
    found = Discovery()
    for ep in _declared(entry_points, tuple(sys.path)):
        try:
            found.factories[ep.name] = ep.load()
        except ImportError as exc:
            hint = _install_hint(ep, exc)
            found.unavailable[ep.name] = hint
            log.warning("provider.unavailable name=%s reason=%s hint=%s", ep.name, exc, hint)
    return found


# The flat settings that make an instance of a kind without a dyngen.toml section (config.provider_sections).
FLAT_SETTINGS = {
    "openai": "DYNGEN_OPENAI_BASE_URL (with DYNGEN_OPENAI_MODEL, DYNGEN_OPENAI_API_KEY)",
    "http_video": "DYNGEN_HTTP_VIDEO_PRESET with DYNGEN_HTTP_VIDEO_MODEL and DYNGEN_HTTP_VIDEO_API_KEY, "
    "or DYNGEN_HTTP_VIDEO_SUBMIT_URL with DYNGEN_HTTP_VIDEO_STATUS_URL",
    "comfyui": "DYNGEN_COMFYUI__URL with DYNGEN_COMFYUI__WORKFLOW",
}


def enable_hints(configured: Iterable[str]) -> dict[str, str]:
    """How to enable each installed provider kind that has no instance yet, by kind name: the dyngen.toml
    section with the keys its settings model requires, and the environment variables that do the same; for
    a kind whose plugin failed to import, what to install."""
    found = discover_plugins()
    have = set(configured)
    hints = {name: hint for name, hint in found.unavailable.items() if name not in have}
    for name, factory in found.factories.items():
        if name in have:
            continue
        model = settings_model(factory)
        required = [key for key, info in model.model_fields.items() if info.is_required()]
        keys = f" with {', '.join(f'{key} = ...' for key in required)}" if required else ""
        variable = f"DYNGEN_PROVIDERS__{name.upper()}__{(required or ['KIND'])[0].upper()}"
        flat = FLAT_SETTINGS.get(name, variable)
        hints[name] = (
            f"the {name!r} provider is installed but not enabled: add a [providers.{name}] section{keys} to "
            f"dyngen.toml, or set {flat}"
        )
    return hints


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


# --- named instances: `[providers.<name>] kind = "..."`, each validated by its kind's settings model -------

# Arguments the registry hands a factory itself (never from the configuration).
RUNTIME_ARGUMENTS = ("client", "sign_url", "name")


class InstanceSettings(BaseModel):
    """What every instance has whatever its kind; the rest of its section goes to the kind's settings model."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="The provider kind: an entry point of the `dyngen.providers` group.")
    concurrency: int | None = Field(default=None, ge=1, description="Requests in flight; more wait their turn.")
    timeout_s: float | None = Field(default=None, gt=0, description="Cap of one call (the node's deadline applies).")
    health_check: bool = Field(default=True, description="Probe the instance in GET /api/health.")


def _hints(factory: Any) -> tuple[Any, dict[str, Any]]:
    target = typing.cast(Any, factory).__init__ if isinstance(factory, type) else factory
    try:
        return target, typing.get_type_hints(target)
    except (NameError, TypeError):  # a hint only importable under TYPE_CHECKING: those keys are not checked
        return target, {}


def settings_model(factory: Any) -> type[BaseModel]:
    """The settings model of a kind: the `settings_model` its entry point's object declares, else the model
    its constructor's `settings` argument takes, else one made from its constructor's keyword arguments
    (runtime arguments such as the HTTP client left out)."""
    declared = getattr(factory, "settings_model", None)
    if isinstance(declared, type) and issubclass(declared, BaseModel):
        return declared
    target, hints = _hints(factory)
    taken = hints.get("settings")
    if isinstance(taken, type) and issubclass(taken, BaseModel):
        return taken
    fields: dict[str, Any] = {}
    for name, parameter in inspect.signature(target).parameters.items():
        if name in ("self", *RUNTIME_ARGUMENTS) or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[name] = (hints.get(name, Any), default)
    name = getattr(factory, "__name__", "Provider")
    model: type[BaseModel] = create_model(f"{name}Settings", __config__=ConfigDict(extra="forbid"), **fields)
    return model


def _is_path(info: Any) -> bool:
    """A settings field holding a file path: typed `Path` (or `Path | None`), or marked
    `json_schema_extra={"file_path": True}` (a string that may also be a reference such as `example:x`)."""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and extra.get("file_path") is True:
        return True
    annotation = info.annotation
    return bool(annotation is Path or Path in typing.get_args(annotation))


def path_fields(kind: str) -> set[str]:
    """The keys of a kind's settings that hold file paths (dyngen.toml resolves relative ones against its own
    folder); empty for a kind that is not installed or cannot load."""
    for ep in entry_points(group=GROUP, name=kind):
        try:
            factory = ep.load()
        except ImportError:
            return set()
        return {name for name, info in settings_model(factory).model_fields.items() if _is_path(info)}
    return set()


def instance_arguments(factory: Any, section: Mapping[str, Any]) -> dict[str, Any]:
    """The factory's keyword arguments from an instance's section (its kind's keys only): the validated
    model itself when the factory takes `settings`, else the model's `options()` when it has one, else its
    fields (secrets unwrapped at this last moment).

    Raises:
        ValidationError: The section does not fit the kind's settings model.
    """
    common = set(InstanceSettings.model_fields)
    validated = settings_model(factory).model_validate({k: v for k, v in section.items() if k not in common})
    if "settings" in inspect.signature(factory).parameters:
        return {"settings": validated}
    options = getattr(validated, "options", None)
    if callable(options):
        arguments: dict[str, Any] = options()
        return arguments
    return {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in validated}


def instance_problems(sections: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(`providers.<name>.<key>`, message) for each instance section that its kind refuses."""
    found = discover_plugins()
    problems: list[tuple[str, str]] = []
    for name, section in sections.items():
        try:
            common = InstanceSettings.model_validate({"kind": name, **section})
        except ValidationError as exc:
            problems.extend((_key(name, e["loc"]), e["msg"]) for e in exc.errors())
            continue
        factory = found.factories.get(common.kind)
        if factory is None:
            why = found.unavailable.get(common.kind) or (
                f"unknown kind {common.kind!r} (installed: {', '.join(sorted(found.factories))})"
            )
            problems.append((f"providers.{name}.kind", why))
            continue
        try:
            instance_arguments(factory, section)
        except ValidationError as exc:
            known = [*InstanceSettings.model_fields, *settings_model(factory).model_fields]
            problems.extend((_key(name, e["loc"]), _message(name, e, known)) for e in exc.errors())
    return problems


def _key(name: str, loc: tuple[int | str, ...]) -> str:
    return ".".join(["providers", name, *map(str, loc)])


def _message(name: str, error: Any, known: list[str]) -> str:
    """A validation error's message; a key the kind does not know names the closest one it does."""
    loc = error["loc"]
    if error["type"] != "extra_forbidden" or len(loc) != 1:
        return str(error["msg"]).removeprefix("Value error, ")  # a validator's own words
    near = difflib.get_close_matches(str(loc[0]), known, n=1, cutoff=0.6)
    return f"unknown key (did you mean `providers.{name}.{near[0]}`?)" if near else "unknown key"


class ProviderInstance:
    """One named instance: the provider, with its own concurrency cap and call timeout.

    Calls beyond `concurrency` wait for a free slot (within the call's deadline); every other attribute
    (submit, poll, cancel, health, ...) is the provider's own.
    """

    def __init__(self, provider: Provider, *, concurrency: int | None, timeout_s: float | None, health: bool) -> None:
        self._provider = provider
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None
        self._timeout_s = timeout_s
        self.info = provider.info
        self.health_check = health
        if not health:
            self.health = None

    def estimate_cost(self, request: GenerateContentRequest) -> float:
        return self._provider.estimate_cost(request)

    async def generate(self, call: ProviderCall) -> ProviderResult:
        if self._timeout_s is not None and self._timeout_s < call.deadline_s:
            call = dataclasses.replace(call, deadline_s=self._timeout_s)
        if self._slots is None:
            return await self._call(call)
        async with self._slots:
            return await self._call(call)

    async def _call(self, call: ProviderCall) -> ProviderResult:
        if self._timeout_s is None:
            return await self._provider.generate(call)
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._provider.generate(call)
        except TimeoutError:
            raise DyngenError(
                ErrorCode.GEN_TIMEOUT, f"provider '{self.info.name}' did not answer within {self._timeout_s:g} s"
            ) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)


def _works_unconfigured(factory: Any) -> bool:
    try:
        settings_model(factory).model_validate({})
    except ValidationError:
        return False
    return True


def load_instances(
    sections: Mapping[str, Mapping[str, Any]], runtime: Mapping[str, Any], *, required: Iterable[str] = ()
) -> dict[str, Provider]:
    """Every configured instance, plus each installed kind that needs no settings under its own name.

    Args:
        sections: Each instance's section by name (`kind` defaults to the name).
        runtime: Arguments the registry hands factories that take them (`client`, `sign_url`).
        required: Names the routing uses; one whose plugin failed to import stops the start.

    Raises:
        ValueError: A section its kind refuses, an unknown kind, or a required kind that cannot load.
    """
    found = discover_plugins()
    for name in required:
        if name in found.unavailable and name not in sections:
            raise ValueError(found.unavailable[name])
    problems = instance_problems(sections)
    if problems:
        raise ValueError("provider settings: " + "; ".join(f"{key}: {message}" for key, message in problems))
    # A kind that works without settings is an instance of its own name too (as `builtin` is).
    unconfigured = {
        name: {"kind": name}
        for name, factory in found.factories.items()
        if name not in sections and not getattr(factory, "needs_options", False) and _works_unconfigured(factory)
    }
    built: dict[str, Provider] = {}
    for name, section in (unconfigured | dict(sections)).items():
        common = InstanceSettings.model_validate({"kind": name, **section})
        factory = found.factories[common.kind]
        accepted = inspect.signature(factory).parameters
        given = {**runtime, "name": name}
        arguments = {k: v for k, v in given.items() if k in accepted} | instance_arguments(factory, section)
        provider = factory(**arguments)
        if provider.info.name != name:  # the registry name is the instance's: fingerprints, remote jobs, chains
            provider.info = dataclasses.replace(provider.info, name=name)
        if common.concurrency or common.timeout_s or not common.health_check:
            provider = ProviderInstance(
                provider, concurrency=common.concurrency, timeout_s=common.timeout_s, health=common.health_check
            )
        built[name] = provider
    return built
