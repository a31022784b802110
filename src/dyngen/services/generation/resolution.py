"""The node a request really asks for: its template merged in, its A/B arm's overrides merged in, its
rules evaluated against the player, its social context resolved and its rating clamped. All of it happens
before the cache key is computed, so different outcomes are different keys (spec sections 10, 11 and 15;
the social-context note).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from dyngen.domain.arms import arm_config, choose_arm, override_problems
from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig
from dyngen.domain.dsl import CompileResult, compile_rules, evaluate, merge_overrides
from dyngen.domain.errors import DyngenError, ErrorCode
from dyngen.domain.rating import effective_rating
from dyngen.domain.responses import RatingInfo
from dyngen.domain.social import RelationshipTable, resolve_social
from dyngen.domain.templates import apply_template
from dyngen.domain.wire import load
from dyngen.domain.world import select_lore
from dyngen.services.machinery.memo import LruMemo
from dyngen.services.machinery.template_library import TemplateLibrary

# The request's own names for node fields, and the node config's.
_NODE_FIELDS = {
    "type": "generationType",
    "purpose": "purpose",
    "style": "style",
    "duration": "duration",
    "constraints": "constraints",
    "strategy": "strategy",
    "seed_source": "seedSource",
    "seed": "seed",
    "fallback": "fallback",
    "template_id": "templateId",
    "version": "version",
    "social_context": "socialContext",
    "variants": "variants",
    "rules": "rules",
    "hybrid": "hybrid",
    "refresh_after_s": "refreshAfterS",
    "arms": "arms",
    "prompt": "prompt",
    "lore_tags": "loreTags",
}


@dataclass(frozen=True, slots=True)
class Resolved:
    """A request as it will be generated, what joins its key, the rating decision and the A/B arm."""

    request: GenerateContentRequest
    qualifiers: tuple[str, ...]
    rating: RatingInfo | None
    arm: str | None = None


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


def _with_config(request: GenerateContentRequest, config: GenerationNodeConfig) -> GenerateContentRequest:
    resolved = GenerateContentRequest.for_node(
        config,
        from_scene=request.from_scene,
        to_scene=request.to_scene,
        player_context=request.player_context,
        simulate=request.simulate,
    )
    resolved = resolved.model_copy(
        update={
            "node_id": request.node_id,
            "provider": request.provider,
            "cache_key": request.cache_key,
            "lexicon": request.lexicon,
            "characters": request.characters,
            "lore": request.lore,
        }
    )
    return resolved.with_rule_overrides(request.rule_overrides)


def _template(request: GenerateContentRequest, templates: TemplateLibrary) -> tuple[GenerateContentRequest, str | None]:
    if not request.template_id:
        return request, None
    try:
        template = templates.get(request.template_id)
    except DyngenError as exc:  # an unknown template is a mistake in the request: 422, not 404
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            exc.message,
            details=[{"field": "template_id", "message": exc.message, "type": "value_error"}],
        ) from None
    explicit = request.model_dump(mode="json", by_alias=True, exclude_unset=True, include=set(_NODE_FIELDS))
    node = {_NODE_FIELDS[name]: value for name, value in explicit.items()}
    config = load(GenerationNodeConfig, apply_template(template.config, node))
    return _with_config(request, config), f"t={template.id}:{template.config.version}"


def _arm(request: GenerateContentRequest) -> tuple[GenerateContentRequest, str | None]:
    arm = choose_arm(request)
    if arm is None:
        return request, None
    if problems := list(override_problems(arm.overrides)):
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"arm '{arm.id}' overrides what an arm cannot",
            details=[
                {"field": f"arms.{arm.id}.overrides.{f}", "message": m, "type": "value_error"} for f, m in problems
            ],
        )
    if not arm.overrides:  # the control arm: the node as it is
        return request, arm.id
    config = load(GenerationNodeConfig, arm_config(request.node_config(), arm))
    return _with_config(request, config), arm.id


def _compiled(source: str, memo: LruMemo[bytes, CompileResult]) -> CompileResult:
    digest = hashlib.sha256(source.encode()).digest()
    result = memo.get(digest)
    if result is None:
        result = compile_rules(source)
        memo.put(digest, result)
    return result


def _rules(
    request: GenerateContentRequest, memo: LruMemo[bytes, CompileResult]
) -> tuple[GenerateContentRequest, str | None]:
    if not request.rules:
        return request, None
    result = _compiled(request.rules, memo)
    if result.program is None:
        raise DyngenError(
            ErrorCode.GEN_INVALID_CONFIG,
            f"the node's rules do not compile ({len(result.errors)} error(s))",
            details=[{"field": "rules", **error.model_dump(exclude_none=True)} for error in result.errors],
        )
    outcome = evaluate(result.program, player_context=request.player_context, social_context=request.social_context)
    if not outcome.overrides:
        return request, None
    config = request.node_config()
    wire = merge_overrides(config.model_dump(mode="json", by_alias=True, exclude_none=True), outcome.overrides)
    ruled = _with_config(request, load(GenerationNodeConfig, wire)).with_rule_overrides(outcome.overrides)
    return ruled, f"r={_digest(outcome.overrides)}"


def _social(
    request: GenerateContentRequest, table: RelationshipTable
) -> tuple[GenerateContentRequest, RatingInfo | None]:
    social = request.social_context
    if social is None:
        return request, None
    rating = request.constraints.rating
    decision = effective_rating(rating, social)
    resolved = resolve_social(social, node_rating=rating, table=table)
    update: dict[str, Any] = {"social_context": resolved}
    if decision.effective != rating:
        update["constraints"] = request.constraints.model_copy(update={"rating": decision.effective})
    info = RatingInfo(
        effective=decision.effective, requested=decision.requested, clamped=decision.clamped, reason=decision.reason
    )
    return request.model_copy(update=update), info


def resolve(
    *,
    request: GenerateContentRequest,
    templates: TemplateLibrary,
    rules: LruMemo[bytes, CompileResult],
    relationships: RelationshipTable,
) -> Resolved:
    """Apply the node's template, A/B arm, rules (`rules` remembers their compilation per source) and
    social context (`relationships`: the deployment's relationship table).

    Raises:
        DyngenError: GEN_INVALID_CONFIG for an unknown template, rules that do not compile (with line,
            column and excerpt), or a merged config (template, arm or rules) that is not valid.
    """
    qualifiers: list[str] = []
    request, template = _template(request, templates)
    if template:
        qualifiers.append(template)
    request, arm = _arm(request)
    if arm is not None:
        qualifiers.append(f"a={arm}")
    request, outcome = _rules(request, rules)
    if outcome:
        qualifiers.append(outcome)
    request, rating = _social(request, relationships)
    request = select_lore(request)
    return Resolved(request=request, qualifiers=tuple(qualifiers), rating=rating, arm=arm)
