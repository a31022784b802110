"""What dyngen remembers about every generation (the spec's `Generation` / `GenerationArtifact`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from dyngen.domain.contracts import GenerationStatus
from dyngen.domain.responses import ElementCheck, GeneratedContentPayload, StageInfo


class ArtifactRecord(BaseModel):
    """One produced asset: where its bytes live and what they are."""

    model_config = ConfigDict(frozen=True)

    id: str
    generation_id: str
    role: str
    media_type: str
    size: int
    content_hash: str
    storage_uri: str
    created_at: datetime


class GenerationRecord(BaseModel):
    """One provider run (or forced failure), fallback or not. Cache hits are not generations."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: datetime
    completed_at: datetime | None = None
    node_id: str | None = None
    cache_key: str
    version: int
    type: str
    purpose: str
    strategy: str
    seed: int | None = None
    seed_source: str
    deterministic: bool
    provider: str | None = None
    provider_fingerprint: str | None = None
    status: GenerationStatus
    error_code: str | None = None
    error_message: str | None = None
    fallback_mode: str | None = None
    fallback_reason: str | None = None
    latency_ms: float = 0.0
    cost_tokens: int = 0
    cost: float = 0.0
    attempts: int = 1
    content: GeneratedContentPayload | None = None
    content_hash: str | None = None
    config_fingerprint: str
    request: dict[str, Any]
    artifacts: list[ArtifactRecord] = []
    arm: str | None = None  # the A/B arm the request ran in (migration 0007)
    # How each required and avoided element was verified, and a pipeline's stages (migration 0008).
    elements: list[ElementCheck] | None = None
    stages: list[StageInfo] | None = None
    # Async jobs (None / defaults for synchronous generations).
    queued_at: datetime | None = None
    started_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    idempotency_key: str | None = None
    request_hash: str | None = None
    job_attempts: int = 0
