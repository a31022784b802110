"""Fallback policy: what the player sees when generation fails (spec section 3, "Fallback Modes").

The service runs `retry` itself (it owns time); this module decides the content of the other modes.
"""

from __future__ import annotations

from dyngen.domain.contracts import FallbackMode, GenerateContentRequest, GenerationType, PayloadType
from dyngen.domain.errors import DyngenError
from dyngen.domain.responses import Beat, ContentMetadata, FallbackInfo, GeneratedContentPayload

PAYLOAD_TYPE = {
    GenerationType.TRANSITION: PayloadType.VIDEO,
    GenerationType.VARIATION: PayloadType.VIDEO,
    GenerationType.DIALOGUE: PayloadType.DIALOGUE,
    GenerationType.ENVIRONMENT: PayloadType.ENVIRONMENT,
    GenerationType.NPC_RESPONSE: PayloadType.NPC_RESPONSE,
}

PLACEHOLDER_SECONDS = 2.0


def placeholder(request: GenerateContentRequest) -> GeneratedContentPayload:
    """A short bridge the client can show while the player moves on: one neutral line, no new facts."""
    target = request.to_scene
    where = f" at {target.location.replace('_', ' ')}" if target and target.location else ""
    line = f"Moments later{where}..."
    seconds = min(PLACEHOLDER_SECONDS, max(request.duration.min, 0.5))
    return GeneratedContentPayload(
        type=PayloadType.DIALOGUE,
        duration=seconds,
        dialogue=[line],
        beats=[Beat(start=0.0, duration=seconds, kind="narration", text=line, mood=request.style.mood_to)],
        placeholder=True,
        metadata=ContentMetadata(mood=request.style.mood_to, tags=["placeholder"]),
    )


def apply(
    request: GenerateContentRequest,
    error: DyngenError,
    *,
    mode: FallbackMode,
    attempts: int,
) -> tuple[GeneratedContentPayload | None, FallbackInfo]:
    """The content and explanation of the node's fallback after `error`.

    Args:
        request: The failed request.
        error: The last failure.
        mode: The node's fallback mode. `retry` arrives here only once retries are exhausted, and then
            skips, as the spec's retry mode does.
        attempts: How many provider attempts were made.

    Returns:
        The payload to serve (None for skip: the client jump-cuts to the next scene) and the fallback info.
    """
    reason = f"{error.code.value}: {error.message}"
    if mode is FallbackMode.RETRY:
        reason = f"{reason} (gave up after {attempts} attempt{'s' if attempts != 1 else ''}; skipping)"
        return None, FallbackInfo(applied=True, mode=FallbackMode.SKIP, reason=reason)
    if mode is FallbackMode.DEFAULT_CONTENT and request.fallback.default_content_id:
        payload = GeneratedContentPayload(
            type=PAYLOAD_TYPE[request.type],
            content_id=request.fallback.default_content_id,
            duration=request.duration.target,
        )
        return payload, FallbackInfo(applied=True, mode=mode, reason=reason)
    if mode is FallbackMode.PLACEHOLDER:
        return placeholder(request), FallbackInfo(applied=True, mode=mode, reason=reason)
    return None, FallbackInfo(applied=True, mode=FallbackMode.SKIP, reason=reason)
