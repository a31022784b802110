"""A node's full check for the places that judge a node as authored (save, health panel, validate
endpoint): the validator's rules plus its rule DSL source compiled.

Generation itself compiles the rules while resolving the node (and refuses rules that do not compile),
so the hot path keeps `validate_config` alone. This module sits beside `validation` because the DSL
compiler depends on it.
"""

from __future__ import annotations

from dyngen.domain.contracts import GenerationNodeConfig, NodeStatus, Severity
from dyngen.domain.dsl import compile_rules, contradictions
from dyngen.domain.prompts import template_findings
from dyngen.domain.responses import GenerationValidationResult, ValidationContext, ValidationFinding
from dyngen.domain.validation import validate_config

# Warnings a contradiction replaces when it is proven on a branch that can run (the same place, one finding).
_CONTRADICTION_WARNINGS = frozenset(
    {"DSL_ELEMENT_REQUIRED_AND_AVOIDED", "DSL_RANGE_INVERTED", "DSL_DURATION_NOT_POSITIVE", "DSL_TARGET_OUT_OF_RANGE"}
)


def rule_findings(config: GenerationNodeConfig) -> list[ValidationFinding]:
    """The rule DSL source's errors (a node whose rules do not compile cannot generate, nor can one whose
    rules make a contradiction on a branch some context reaches: `DSL_CONTRADICTION`, with the branch) and
    warnings, on the `rules` field, each message starting with its line and column."""
    if not config.rules:
        return []
    compiled = compile_rules(config.rules)
    errors = list(compiled.errors)
    warnings = list(compiled.warnings)
    if compiled.program is not None:
        proven = contradictions(
            compiled.program,
            required=config.constraints.required_elements,
            avoided=config.constraints.avoid_elements,
        )
        places = {(d.line, d.column) for d in proven}
        lines = {d.line for d in proven}
        errors.extend(proven)
        warnings = [
            w
            for w in warnings
            if not (w.code in _CONTRADICTION_WARNINGS and ((w.line, w.column) in places or w.line in lines))
        ]
    return [
        ValidationFinding(
            code=diagnostic.code,
            field="rules",
            message=f"line {diagnostic.line}, column {diagnostic.column}: {diagnostic.message}",
            severity=severity,
        )
        for severity, diagnostics in ((Severity.ERROR, errors), (Severity.WARNING, warnings))
        for diagnostic in diagnostics
    ]


def check_node(config: GenerationNodeConfig, context: ValidationContext | None = None) -> GenerationValidationResult:
    """`validate_config` with the rules and the prompt templates compiled too: status `errors` when the
    rules do not compile or a template has a syntax error or an unknown variable (with its line)."""
    result = validate_config(config, context)
    extra = [*rule_findings(config), *template_findings(config.prompt)]
    if not extra:
        return result
    findings = [*result.findings, *extra]
    status = result.status
    if config.enabled and any(f.severity is Severity.ERROR for f in extra):
        status = NodeStatus.ERRORS
    elif config.enabled and status is NodeStatus.OK:
        status = NodeStatus.WARNINGS
    return result.model_copy(update={"findings": findings, "status": status})
