"""Validating a node config: the validator plus the cache key it would get in a context."""

from __future__ import annotations

from dyngen.domain.cache_keys import cache_key
from dyngen.domain.contracts import GenerateContentRequest, GenerationNodeConfig
from dyngen.domain.errors import DyngenError
from dyngen.domain.node_checks import check_node
from dyngen.domain.responses import GenerationValidationResult, ValidationContext


def validate_node(
    *, config: GenerationNodeConfig, context: ValidationContext | None = None
) -> GenerationValidationResult:
    """Every finding for `config`, and (when the context allows one) the cache key it would use."""
    result = check_node(config, context)
    request = GenerateContentRequest.for_node(
        config,
        from_scene=context.from_scene if context else None,
        to_scene=context.to_scene if context else None,
        player_context=context.player_context if context else None,
    )
    try:
        key = cache_key(request)
    except DyngenError:
        key = None
    return result.model_copy(update={"cache_key": key})
