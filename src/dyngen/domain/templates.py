"""Templates (spec section 10): reusable node configs that a node names with `templateId`.

A template file holds one `GenerationNodeConfig` in the spec's wire format, with an `id`. A node that
uses it is the template deep-merged with the node's own *explicitly set* fields (`apply_template`): the
node wins, nested objects merge field by field, lists and scalars replace. Fields a node merely
inherits as defaults do not count, so a node that says nothing about `pacing` keeps the template's
pacing rather than the default `medium`.

A file that cannot be used (not JSON, an unknown field, a validator error, no id, an id another file
already has) becomes a `TemplateProblem` naming the file and the field; the other files still load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dyngen.domain.contracts import GenerationNodeConfig, NodeStatus, Severity
from dyngen.domain.errors import DyngenError
from dyngen.domain.prompts import template_findings
from dyngen.domain.responses import ValidationFinding
from dyngen.domain.validation import validate_config
from dyngen.domain.wire import deep_merge, load, spec_spelling

# A template names its own identity; these are not copied into the nodes that use it (the node keeps its
# own id and version, and its templateId names the template).
_IDENTITY_FIELDS = frozenset({"id", "version", "template_id"})

_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number"}


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """Why one template file was not loaded.

    Attributes:
        file: The file's name (relative to the templates folder).
        field: The dotted field path in the spec's spelling (`style.moodFrom`), or `(file)` when the file
            as a whole is unusable (unreadable, not JSON, not an object).
        message: What is wrong, for a designer to act on. When a file has several problems, the first
            one's field is `field` and the message lists the others too.
        suggestion: For an unknown field, the closest known name.
    """

    file: str
    field: str
    message: str
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A loaded template: its config (which has an id) and the file it came from.

    Attributes:
        config: The template's node config.
        source: The file's name (relative to the templates folder).
        findings: The validator's warnings and suggestions (a template with errors is a problem instead).
    """

    config: GenerationNodeConfig
    source: str
    findings: tuple[ValidationFinding, ...] = ()

    def __post_init__(self) -> None:
        if not self.config.id:
            raise ValueError("a template's config needs an id")

    @property
    def id(self) -> str:
        """The id nodes name in `templateId`."""
        return self.config.id or ""

    @property
    def status(self) -> NodeStatus:
        """`ok`, `warnings` or `disabled`, as the validator says (never `errors`: those are problems)."""
        if not self.config.enabled:
            return NodeStatus.DISABLED
        if any(f.severity is Severity.WARNING for f in self.findings):
            return NodeStatus.WARNINGS
        return NodeStatus.OK


def _problem(file: str, found: list[tuple[str, str, str | None]]) -> TemplateProblem:
    """One problem for a file: the first finding, with the rest appended to its message."""
    (field, message, suggestion), *rest = found
    message += "".join(f"; also {f}: {m}" for f, m, _ in rest)
    return TemplateProblem(file=file, field=field, message=message, suggestion=suggestion)


def parse_template(name: str, data: Any) -> Template | TemplateProblem:
    """Turn the decoded JSON of one template file into a `Template`, or the problem that prevents it.

    Args:
        name: The file's name, reported with every problem.
        data: The file's decoded JSON.

    Returns:
        The template; or a problem when the data is not a valid `GenerationNodeConfig` (the field path
        and the closest known name of an unknown field come from `wire_errors`), has no id, itself names
        a template, or has validator errors. Validator warnings do not stop a template loading: they
        are kept on it.
    """
    if not isinstance(data, dict):
        kind = _JSON_TYPES.get(type(data), "null" if data is None else type(data).__name__)
        return TemplateProblem(file=name, field="(file)", message=f"a template is a JSON object, not {kind}")
    try:
        config = load(GenerationNodeConfig, data)
    except DyngenError as exc:
        return _problem(name, [(d["field"], d["message"], d.get("suggestion")) for d in exc.details])
    if not config.id:
        return TemplateProblem(
            file=name, field="id", message="a template needs an id: the name nodes give in templateId"
        )
    if config.template_id is not None:
        return TemplateProblem(
            file=name,
            field="templateId",
            message="a template cannot use another template: copy the fields it needs instead",
        )
    result = validate_config(config)
    errors = [f for f in [*result.findings, *template_findings(config.prompt)] if f.severity is Severity.ERROR]
    if errors:
        return _problem(name, [(f.field, f"{f.code}: {f.message}", None) for f in errors])
    return Template(config=config, source=name, findings=tuple(result.findings))


def collect_templates(
    parsed: Iterable[Template | TemplateProblem],
) -> tuple[list[Template], list[TemplateProblem]]:
    """Split parsed files into templates and problems; when several files have one id, one keeps it and
    each other is a problem naming the file that has it.

    The file named after the id (`<id>.json`) keeps it; failing that, the first in the order given (the
    folder source reads in file-name order). So copying `reunion_v1.json` to `my_reunion.json` and
    forgetting to change the copy's id never takes the id from the original.
    """
    templates: dict[str, Template] = {}
    losers: list[Template] = []
    problems: list[TemplateProblem] = []
    for item in parsed:
        if isinstance(item, TemplateProblem):
            problems.append(item)
            continue
        held = templates.get(item.id)
        if held is None:
            templates[item.id] = item
        elif item.source == f"{item.id}.json" and held.source != item.source:
            templates[item.id] = item
            losers.append(held)
        else:
            losers.append(item)
    for loser in losers:
        problems.append(
            TemplateProblem(
                file=loser.source,
                field="id",
                message=f"duplicate id '{loser.id}': {templates[loser.id].source} already defines it",
            )
        )
    return list(templates.values()), problems


def apply_template(template: GenerationNodeConfig, node_fields: Mapping[str, Any]) -> dict[str, Any]:
    """The wire dict of a node that uses `template`: the template, with the node's fields over it.

    Pass only the fields the node *explicitly* sets (its raw JSON, or
    `node.model_dump(by_alias=True, exclude_unset=True)`): a full dump would carry the node's defaults
    (`pacing: medium`, `strategy: once`, ...) and they would override the template. Both spellings of
    a field name are accepted in `node_fields`; the result uses the spec's.

    The template's `id` and `version` are its own: they are not copied, so the node keeps its own id and
    version (default 1); the result's `templateId` is the template's id.

    Args:
        template: The template's config (it must have an id).
        node_fields: The node's explicitly set fields, in wire form.

    Returns:
        A wire dict for `load(GenerationNodeConfig, ...)`; objects merged field by field, lists replaced
        (a node's `requiredElements` replaces the template's: repeat any it should keep).

    Raises:
        ValueError: the template has no id, or the node names another template.
    """
    if not template.id:
        raise ValueError("a template needs an id")
    node = spec_spelling(GenerationNodeConfig, node_fields)
    named = node.get("templateId")
    if named is not None and named != template.id:
        raise ValueError(f"the node uses template {named!r}, not {template.id!r}")
    base = template.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=set(_IDENTITY_FIELDS))
    return {**deep_merge(base, node), "templateId": template.id}
