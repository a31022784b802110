"""Reading and shaping wire data: every problem of a body as a finding with its field path, and for an
unknown field the closest known name, so a typo is never silently dropped (`moodFro` -> did you mean
`moodFrom`?); field names in the spec's spelling; wire objects merged field by field."""

from __future__ import annotations

import copy
import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dyngen.domain.errors import DyngenError, ErrorCode

M = TypeVar("M", bound=BaseModel)


def camel(name: str) -> str:
    """`mood_from` -> `moodFrom` (the spec's spelling of a snake_case attribute)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def known_names(model: type[BaseModel]) -> list[str]:
    """Every spelling `model` accepts for its fields."""
    names: list[str] = []
    for name in model.model_fields:
        names.extend(dict.fromkeys([camel(name), name]))
    return names


def _first_model(annotation: Any) -> type[BaseModel] | None:
    """The first wire model inside an annotation (unwrapping Optional, Annotated, list and dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _model_at(root: type[BaseModel], path: Sequence[int | str]) -> type[BaseModel] | None:
    """The wire model found by following the field names of `path` from `root`.

    List indexes and dict keys in the path are stepped over: the element model is already current.
    """
    current = root
    for part in path:
        field = next((f for n, f in current.model_fields.items() if part in (n, camel(n))), None)
        if field is None:
            continue
        found = _first_model(field.annotation)
        if found is None:
            return None
        current = found
    return current


def wire_errors(
    root: type[BaseModel], error: ValidationError, *, prefix: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """Turn a pydantic error into findings a client can act on: path, message, and a suggested name.

    Args:
        root: The model that was being validated.
        error: The error pydantic raised.
        prefix: Path elements to put in front of every location (e.g. `("body",)`).

    Returns:
        One dict per problem: `field` (dotted path), `message`, `type`, and for an unknown field
        `suggestion` (the closest known name, when one is close).
    """
    findings: list[dict[str, Any]] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        finding: dict[str, Any] = {
            "field": ".".join(str(p) for p in (*prefix, *loc)) or "(body)",
            "message": item["msg"],
            "type": item["type"],
        }
        if item["type"] == "extra_forbidden" and loc:
            parent = _model_at(root, loc[:-1])
            if parent is not None:
                options = known_names(parent)
                close = difflib.get_close_matches(str(loc[-1]), options, n=1, cutoff=0.5)
                finding["message"] = f"unknown field '{loc[-1]}'"
                if close:
                    finding["suggestion"] = close[0]
                    finding["message"] += f"; did you mean '{close[0]}'?"
                else:
                    finding["message"] += f"; known fields: {', '.join(options)}"
        findings.append(finding)
    return findings


def _without_bom(data: bytes | str) -> bytes | str:
    return data.removeprefix(b"\xef\xbb\xbf") if isinstance(data, bytes) else data.removeprefix("\ufeff")


def parse_json(data: bytes | str) -> Any:
    """JSON text as Python values: the one reading of a raw JSON body outside a model's own.

    A leading UTF-8 byte order mark is accepted (as the API's front door drops it); a document nested
    deeper than Python can parse is malformed JSON like any other, not a crash.

    Raises:
        DyngenError: GEN_INVALID_CONFIG with a `json_invalid` finding on `body`.
    """
    try:
        return json.loads(_without_bom(data))
    except (ValueError, RecursionError) as exc:  # ValueError: malformed or not UTF-8
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            "the body is not valid JSON",
            details=[{"field": "body", "message": reason, "type": "json_invalid"}],
        ) from None


def load(model: type[M], data: Any) -> M:
    """Validate wire data into `model`, or raise one coded error listing every problem.

    Raises:
        DyngenError: GEN_INVALID_CONFIG whose details are `wire_errors` findings.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        findings = wire_errors(model, exc)
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"{len(findings)} problem{'s' if len(findings) != 1 else ''} in the {model.__name__}",
            details=findings,
        ) from None


def load_json(model: type[M], data: bytes | str, *, prefix: Sequence[str] = ()) -> M:
    """`load` for raw JSON text: malformed JSON is reported like any other problem, with its position.

    `prefix` goes in front of every field path (the API reports paths from `body`).
    """
    try:
        return model.model_validate_json(_without_bom(data))
    except ValidationError as exc:
        findings = wire_errors(model, exc, prefix=prefix)
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"{len(findings)} problem{'s' if len(findings) != 1 else ''} in the {model.__name__}",
            details=findings,
        ) from None


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`: where both hold an object they merge recursively; anything else
    (lists, scalars, null) in `override` replaces. Neither input is modified, and the result shares no
    mutable value with them."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The wire model inside a field's annotation (`Style`, `SocialContext | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) in (typing.Union, typing.Annotated):
        for arg in typing.get_args(annotation):
            if (found := _model_in(arg)) is not None:
                return found
    return None


def spec_spelling(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with every known field name in the spec's spelling (`mood_from` -> `moodFrom`), so a
    snake_case node field lands on the template's camelCase one. Unknown names are kept as they are, for
    `load` to reject with a suggestion."""
    names = {spelling: name for name in model.model_fields for spelling in (name, camel(name))}
    spelled: dict[str, Any] = {}
    for key, value in data.items():
        name = names.get(key)
        if name is None:
            spelled[key] = value
            continue
        inner = _model_in(model.model_fields[name].annotation)
        spelled[camel(name)] = spec_spelling(inner, value) if inner and isinstance(value, Mapping) else value
    return spelled
