"""Wire contracts of the answers: what `POST /api/generate-content` (and the by-reference route) answers,
the validation result, and invalidation. The requests are in `contracts.py`; the same spellings apply."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    computed_field,
)

from dyngen.domain.contracts import (
    CacheKey,
    CamelModel,
    GenerationNodeConfig,
    Id,
    PlayerContext,
    SceneRef,
    SnakeModel,
)
from dyngen.domain.errors import ErrorCode
from dyngen.domain.wire_enums import (
    FallbackMode,
    GenerationStatus,
    NodeStatus,
    PayloadType,
    Rating,
    Severity,
    Verification,
)


class Beat(SnakeModel):
    """One timed line of a transition: narration or a spoken line, with its place on the timeline."""

    start: float
    duration: float
    kind: Literal["narration", "dialogue"]
    text: str
    speaker: str | None = None
    mood: str | None = None
    # What the camera shows (a script stage's beats, for the video provider that renders them).
    shot: str | None = None


class Choice(SnakeModel):
    id: str
    text: str


class ContentMetadata(SnakeModel):
    mood: str | None = None
    tags: list[str] | None = None
    quality_score: float | None = None


class GeneratedContentPayload(SnakeModel):
    """What the player sees. `beats`, `content_id` and `placeholder` extend the spec's payload."""

    type: PayloadType
    url: str | None = None
    duration: float | None = None
    dialogue: list[str] | None = None
    choices: list[Choice] | None = None
    metadata: ContentMetadata | None = None
    beats: list[Beat] | None = None
    content_id: str | None = None
    placeholder: bool | None = None


class CacheInfo(SnakeModel):
    """Where the content came from. `stale`: served from the cache while a fresh one is made (hybrid
    nodes), or an always-fresh node's newest content served over its rate limit."""

    hit: bool
    tier: str | None = None
    stale: bool | None = None


class Cost(SnakeModel):
    tokens: int = 0
    time_ms: float = 0.0


class FallbackInfo(SnakeModel):
    applied: bool
    mode: FallbackMode
    reason: str


class ErrorInfo(SnakeModel):
    code: ErrorCode
    message: str


class VariantInfo(SnakeModel):
    """Which variant of a node's pool this response served (pools: `variants` on the node)."""

    index: int
    pool_size: int


class RatingInfo(SnakeModel):
    """The rating content was made at: the most restrictive of the node's, the world's and the user's."""

    effective: Rating
    requested: Rating
    clamped: bool
    reason: str | None = None


class ArtifactLink(SnakeModel):
    """One artifact of the content, loadable as it is by `<video>`, `<img>` or `<track>`: a signed URL
    that expires (see `domain/media.py`), what it is and its size.

    Roles: `video` (MP4), `poster` (JPEG), `captions` (WebVTT), `script` (the dialogue, beats and choices as JSON).
    `bytes` is absent only for a video still rendering (answered as soon as it is playable, streamed while it
    grows): its size is known once it is whole, and every later answer has it.
    """

    role: str
    url: str
    media_type: str
    bytes: int | None = None


class ElementCheck(SnakeModel):
    """One required or avoided element of the content and how it was verified. A required element is
    honoured when found (`lexicon`, `model_report`, `judge`), an avoided one when `absent`; `unverified`
    refuses neither and says so. `beat` and `quote` say where it was found."""

    element: str
    role: Literal["required", "avoided"]
    verified_by: Verification
    beat: int | None = None
    quote: str | None = None


class StageInfo(SnakeModel):
    """One stage of a pipeline provider: `script` (a text provider writes the beats) or `render` (a video
    provider renders them), each its own cached, budgeted and recorded call."""

    stage: Literal["script", "render"]
    provider: str
    generation_id: str | None = None
    cache_hit: bool = False
    tokens: int = 0
    cost: float = 0.0


class GenerateContentResponse(SnakeModel):
    """`content.url` and every `artifacts[].url` are signed at the moment of answering (a cached
    response never carries an expired one); `artifacts` lists every artifact of the content."""

    status: GenerationStatus
    content: GeneratedContentPayload | None = None
    artifacts: list[ArtifactLink] | None = None
    cache_key: str
    cache: CacheInfo
    cost: Cost
    deterministic: bool
    seed: int | None = None
    generation_id: str | None = None
    job_id: str | None = None
    provider: str | None = None
    variant: VariantInfo | None = None
    arm: str | None = None
    rating: RatingInfo | None = None
    fallback: FallbackInfo | None = None
    error: ErrorInfo | None = None
    elements: list[ElementCheck] | None = None
    stages: list[StageInfo] | None = None


class ValidationFinding(SnakeModel):
    code: str
    field: str
    message: str
    severity: Severity


class GenerationValidationResult(SnakeModel):
    """Status and findings; `errors`, `warnings` and `suggestions` are the spec's own shape of the same
    findings (their messages, by severity), derived from `findings` so the two never disagree."""

    status: NodeStatus
    findings: list[ValidationFinding]
    complexity: float
    cache_key: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def errors(self) -> list[str]:
        return [f.message for f in self.findings if f.severity is Severity.ERROR]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warnings(self) -> list[str]:
        return [f.message for f in self.findings if f.severity is Severity.WARNING]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def suggestions(self) -> list[str]:
        return [f.message for f in self.findings if f.severity is Severity.SUGGESTION]


class ValidationContext(CamelModel):
    """What a validation may know beyond the node: the scenes and the player it would run for."""

    from_scene: SceneRef | None = None
    to_scene: SceneRef | None = None
    player_context: PlayerContext | None = None


class ValidateConfigRequest(CamelModel):
    config: GenerationNodeConfig
    context: ValidationContext | None = None


class InvalidateRequest(SnakeModel):
    """Which cache entries to drop: any combination narrows the selection; at least one is required.

    `prefix` matches the start of the key, e.g. `transition|gap_fill|cafe|` for every transition out of
    the cafe scene.
    """

    cache_key: CacheKey | None = None
    node_id: Id | None = None
    version: Annotated[int, Field(ge=0, le=2**31)] | None = None
    prefix: Annotated[CacheKey, Field(min_length=1)] | None = None


class InvalidateResult(SnakeModel):
    invalidated: int
    keys: list[str]
