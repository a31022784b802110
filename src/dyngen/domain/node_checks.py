"""A node's full check for the places that judge a node as authored (save, health panel, validate
endpoint): the validator's rules plus its rule DSL source compiled.

Generation itself compiles the rules while resolving the node (and refuses rules that do not compile),
so the hot path keeps `validate_config` alone. This module sits beside `validation` because the DSL
compiler depends on it.
"""

from __future__ import annotations

from dyngen.domain.contracts import (
    GenerationNodeConfig,
    GenerationValidationResult,
    NodeStatus,
    Severity,
    ValidationContext,
    ValidationFinding,
)
from dyngen.domain.dsl import compile_rules
from dyngen.domain.validation import validate_config


def rule_findings(config: GenerationNodeConfig) -> list[ValidationFinding]:
    """The rule DSL source's errors (a node whose rules do not compile cannot generate) and warnings, on
    the `rules` field, each message starting with its line and column."""
    if not config.rules:
        return []
    compiled = compile_rules(config.rules)
    return [
        ValidationFinding(
            code=diagnostic.code,
            field="rules",
            message=f"line {diagnostic.line}, column {diagnostic.column}: {diagnostic.message}",
            severity=severity,
        )
        for severity, diagnostics in ((Severity.ERROR, compiled.errors), (Severity.WARNING, compiled.warnings))
        for diagnostic in diagnostics
    ]


def check_node(config: GenerationNodeConfig, context: ValidationContext | None = None) -> GenerationValidationResult:
    """`validate_config` with the rules compiled too: status `errors` when they do not compile."""
    result = validate_config(config, context)
    extra = rule_findings(config)
    if not extra:
        return result
    findings = [*result.findings, *extra]
    status = result.status
    if config.enabled and any(f.severity is Severity.ERROR for f in extra):
        status = NodeStatus.ERRORS
    elif config.enabled and status is NodeStatus.OK:
        status = NodeStatus.WARNINGS
    return result.model_copy(update={"findings": findings, "status": status})
