"""Wire contracts: the spec's names are the wire names.

Every field accepts its spec spelling (`moodFrom`) and its snake_case spelling (`mood_from`), because real
clients send both; responses use the spec spelling. Objects the spec writes in camelCase (node configs,
styles, scenes, contexts) derive from `CamelModel`; the flat request and the response, which the spec
writes in snake_case, derive from `SnakeModel`. An unknown field is rejected with the closest known name
(see `wire_errors`), so a typo is never silently dropped.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
)

from dyngen.domain.errors import ErrorCode
from dyngen.domain.ids import IdChars, JsonChars, TextChars
from dyngen.domain.wire import camel
from dyngen.domain.wire_enums import (
    ContentRating,
    FallbackMode,
    GenerationStatus,
    GenerationType,
    NodeStatus,
    Pacing,
    PayloadType,
    Purpose,
    Rating,
    SeedSource,
    Severity,
    Strategy,
    TransitionType,
    Verification,
)

# The enumerations live in `wire_enums.py`; they are part of the contracts and imported from here too.
__all__ = [
    "ContentRating",
    "FallbackMode",
    "GenerationStatus",
    "GenerationType",
    "NodeStatus",
    "Pacing",
    "PayloadType",
    "Purpose",
    "Rating",
    "SeedSource",
    "Severity",
    "Strategy",
    "TransitionType",
    "Verification",
]


def _camel_first(name: str) -> AliasChoices:
    return AliasChoices(camel(name), name) if camel(name) != name else AliasChoices(name)


def _snake_first(name: str) -> AliasChoices:
    # The first choice is the one the JSON Schema (and so the OpenAPI document) shows.
    return AliasChoices(name, camel(name)) if camel(name) != name else AliasChoices(name)


class CamelModel(BaseModel):
    """A wire object the spec spells in camelCase; snake_case input is accepted too."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=AliasGenerator(validation_alias=_camel_first, serialization_alias=camel),
        populate_by_name=True,
        frozen=True,
        allow_inf_nan=False,
        str_strip_whitespace=True,
    )


class SnakeModel(BaseModel):
    """A wire object the spec spells in snake_case; camelCase input is accepted too."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=AliasGenerator(validation_alias=_snake_first),
        populate_by_name=True,
        frozen=True,
        allow_inf_nan=False,
        str_strip_whitespace=True,
    )


# Bounded scalars: no request may carry an unbounded string, list or number; and no string may carry a
# character a backend cannot store (NUL) or an id should not hold (control characters): `domain/ids.py`.
Id = Annotated[str, Field(min_length=1, max_length=200), IdChars]
Text = Annotated[str, Field(max_length=4000), TextChars]
Element = Annotated[str, Field(min_length=1, max_length=100), IdChars]
MAX_SEED = 2**63 - 1
SEED_TEXT_MAX = 200


def seed_of_text(value: object) -> object:
    """The spec's `seed?: string`: a string seed becomes the 64-bit seed (other values pass unchanged).

    A string of decimal digits is that number (`"42"` and `42` are one seed); any other string is hashed
    stably: the first 8 bytes of its UTF-8 SHA-256, big-endian, cut to the seed's 63 bits. So
    `"dawn-run"` is the same seed in every process, on every machine, in every release.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text or len(text) > SEED_TEXT_MAX:
        raise ValueError(f"a string seed has 1 to {SEED_TEXT_MAX} characters")
    if text.isascii() and text.isdigit():
        return int(text)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & MAX_SEED


# Node configs accept a string seed too, but their schema (which types the editor's number field) says
# integer; the flat request, the spec's `seed?: string`, documents both.
Seed = Annotated[int, Field(ge=0, le=MAX_SEED), BeforeValidator(seed_of_text)]
RequestSeed = Annotated[
    Seed,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
                {"type": "string", "minLength": 1, "maxLength": SEED_TEXT_MAX},
            ]
        },
        mode="validation",
    ),
]
Seconds = Annotated[float, Field(ge=-86_400, le=86_400)]
Scalar = bool | int | float | Annotated[str, Field(max_length=1000), TextChars] | None
CacheKey = Annotated[str, Field(max_length=2000), IdChars]
Rules = Annotated[str, Field(max_length=20_000), TextChars]
Phrase = Annotated[str, Field(min_length=2, max_length=200), TextChars]
# Natural phrases per element id (`phone_ring`: ["her cell trills"]), extending the shipped lexicon.
Lexicon = Annotated[dict[Element, Annotated[list[Phrase], Field(max_length=50)]], Field(max_length=200)]


DEFAULT_SEED_SOURCE = {
    Strategy.ONCE: SeedSource.FIXED,
    Strategy.PER_PLAYTHROUGH: SeedSource.PLAYTHROUGH,
    Strategy.PER_PLAYER: SeedSource.PLAYER,
    Strategy.ALWAYS: SeedSource.TIMESTAMP,
}
"""The seed source a strategy implies when a node sets none."""


class Style(CamelModel):
    mood_from: Id | None = None
    mood_to: Id | None = None
    pacing: Pacing = Pacing.MEDIUM
    transition_type: TransitionType = TransitionType.GRADUAL


class Duration(CamelModel):
    """Seconds. The validator (not the schema) checks min <= target <= max and positivity."""

    min: Seconds = 5
    max: Seconds = 30
    target: Seconds = 10


class Constraints(CamelModel):
    rating: Rating = Rating.PG
    required_elements: list[Element] = Field(default_factory=list, max_length=50)
    avoid_elements: list[Element] = Field(default_factory=list, max_length=50)
    content_rules: list[Id] = Field(default_factory=list, max_length=50)


class Fallback(CamelModel):
    mode: FallbackMode = FallbackMode.SKIP
    default_content_id: Id | None = None
    max_retries: Annotated[int, Field(ge=0, le=10)] | None = None
    timeout_ms: Annotated[int, Field(ge=1, le=600_000)] | None = None


# Prompt templates (Jinja2, sandboxed; `domain/prompts.py`): bounded like rule sources.
TemplateSource = Annotated[str, Field(max_length=20_000), TextChars]


class PromptTemplates(CamelModel):
    """A node's prompt, one Jinja2 template per provider role over the variables `domain/prompts.py`
    lists; a role left unset uses the shipped default for the generation type (`defaults/prompts/`).

    Text providers read `system` and `user`; video providers `prompt` and `negativePrompt`.
    """

    system: TemplateSource | None = None
    user: TemplateSource | None = None
    prompt: TemplateSource | None = None
    negative_prompt: TemplateSource | None = None


class Relationship(CamelModel):
    """How a character stands with another: `to` names the other character's id."""

    to: Id
    kind: Annotated[str, Field(max_length=100), TextChars] = ""
    description: Text | None = None


class Character(CamelModel):
    """A character of the graph's world, as prompts describe them (never by id)."""

    id: Id
    name: Annotated[str, Field(min_length=1, max_length=200), TextChars]
    description: Text | None = None
    voice: Text | None = None
    relationships: list[Relationship] = Field(default_factory=list, max_length=50)


class LoreEntry(CamelModel):
    """A fact of the graph's world. A node's prompt gets the entries tagged with its `loreTags`, its scenes'
    ids or locations or the ids of the characters present, and every entry without tags."""

    id: Id
    text: Text
    tags: list[Id] = Field(default_factory=list, max_length=50)


class RelationshipValues(CamelModel):
    affinity: Annotated[float, Field(ge=-1000, le=1000)] | None = None
    trust: Annotated[float, Field(ge=-1000, le=1000)] | None = None
    chemistry: Annotated[float, Field(ge=-1000, le=1000)] | None = None
    tension: Annotated[float, Field(ge=-1000, le=1000)] | None = None


class SocialContext(CamelModel):
    intimacy_level_id: Id | None = None
    relationship_tier_id: Id | None = None
    intimacy_band: Literal["none", "light", "deep", "intense"] | None = None
    content_rating: ContentRating | None = None
    world_max_rating: ContentRating | None = None
    user_max_rating: ContentRating | None = None
    npc_ids: list[Id] | None = Field(default=None, max_length=50)
    relationship_values: RelationshipValues | None = None


ArmId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
RefreshAfter = Annotated[int, Field(ge=0, le=365 * 86_400)]


class Arm(CamelModel):
    """One arm of a node's A/B test: config overrides (a partial node config, merged over the node) and a
    weight, its share of players. A player's arm is chosen by its id and stays the same."""

    id: ArmId
    weight: Annotated[float, Field(ge=0, le=1_000_000)] = 1.0
    overrides: Annotated[dict[str, Any], JsonChars] = Field(default_factory=dict, max_length=50)


class GenerationNodeConfig(CamelModel):
    """A Generation Node: intent plus constraints, realised by a provider at play time."""

    id: Id | None = None
    generation_type: GenerationType
    purpose: Purpose = Purpose.GAP_FILL
    style: Style = Field(default_factory=Style)
    duration: Duration = Field(default_factory=Duration)
    constraints: Constraints = Field(default_factory=Constraints)
    strategy: Strategy = Strategy.ONCE
    seed_source: SeedSource | None = None
    seed: Seed | None = None
    fallback: Fallback = Field(default_factory=Fallback)
    template_id: Id | None = None
    enabled: bool = True
    version: Annotated[int, Field(ge=0, le=2**31)] = 1
    social_context: SocialContext | None = None
    variants: Annotated[int, Field(ge=1, le=32)] | None = None
    rules: Rules | None = None
    hybrid: bool | None = None
    refresh_after_s: RefreshAfter | None = None
    arms: list[Arm] | None = Field(default=None, max_length=16)
    # The provider instance or chain that realises the node (checked against the configured ones on save);
    # unset: the routing of dyngen.toml (by template, by type, the default) picks one.
    provider: Id | None = None
    prompt: PromptTemplates | None = None
    lore_tags: list[Id] | None = Field(default=None, max_length=50)


class SceneRef(CamelModel):
    id: Id
    title: Annotated[str, Field(max_length=200), TextChars] | None = None
    characters: list[Id] | None = Field(default=None, max_length=50)
    mood: Id | None = None
    summary: Text | None = None
    location: Id | None = None
    emotional_state: Id | None = None
    image: Id | None = None


class PlayerContext(CamelModel):
    playthrough_id: Id | None = None
    player_id: Id | None = None
    choices: dict[Id, Scalar] | None = Field(default=None, max_length=200)
    flags: dict[Id, Scalar] | None = Field(default=None, max_length=200)
    stats: dict[Id, Annotated[float, Field(ge=-1e12, le=1e12)]] | None = Field(default=None, max_length=200)


class Simulate(SnakeModel):
    """QA switch: force a failure or add latency. Honoured only with dev tools on; never in a cache key."""

    fail_with: Literal["GEN_TIMEOUT", "GEN_CONSTRAINT_FAIL", "GEN_PROVIDER_UNAVAILABLE", "GEN_EMPTY_OUTPUT"] | None = (
        None
    )
    latency_ms: Annotated[int, Field(ge=0, le=120_000)] | None = None

    def forced_failure(self) -> ErrorCode | None:
        return ErrorCode(self.fail_with) if self.fail_with else None


class GenerateContentRequest(SnakeModel):
    """The flat request the game (or the editor's Test Generation) sends."""

    type: GenerationType
    purpose: Purpose = Purpose.GAP_FILL
    node_id: Id | None = None
    from_scene: SceneRef | None = None
    to_scene: SceneRef | None = None
    style: Style = Field(default_factory=Style)
    duration: Duration = Field(default_factory=Duration)
    constraints: Constraints = Field(default_factory=Constraints)
    strategy: Strategy = Strategy.ONCE
    seed_source: SeedSource | None = None
    seed: RequestSeed | None = None
    fallback: Fallback = Field(default_factory=Fallback)
    template_id: Id | None = None
    version: Annotated[int, Field(ge=0, le=2**31)] = 1
    cache_key: CacheKey | None = None
    player_context: PlayerContext | None = None
    social_context: SocialContext | None = None
    provider: Id | None = None
    simulate: Simulate | None = None
    variants: Annotated[int, Field(ge=1, le=32)] | None = None
    rules: Rules | None = None
    hybrid: bool | None = None
    refresh_after_s: RefreshAfter | None = None
    arms: list[Arm] | None = Field(default=None, max_length=16)
    # Phrases that mention an element beside the shipped lexicon's (a graph's `lexicon`, for its elements).
    lexicon: Lexicon | None = None
    prompt: PromptTemplates | None = None
    lore_tags: list[Id] | None = Field(default=None, max_length=50)
    # The graph's world as the node sees it (a by-reference call fills both from the stored graph): the
    # characters present in its scenes (and those they relate to), and the lore its prompt may draw on.
    characters: list[Character] | None = Field(default=None, max_length=200)
    lore: list[LoreEntry] | None = Field(default=None, max_length=500)
    # What the node's rule DSL changed for this player (set while resolving, never on the wire): the
    # prompt's `overrides` variable. Its outcome is already in the cache key (`r=` qualifier).
    _rule_overrides: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def rule_overrides(self) -> dict[str, Any]:
        """What the node's rules changed for this player (empty when they changed nothing)."""
        return dict(self._rule_overrides)

    def with_rule_overrides(self, overrides: dict[str, Any]) -> GenerateContentRequest:
        """This request remembering what its rules changed (`rule_overrides`)."""
        copy = self.model_copy()
        copy._rule_overrides = dict(overrides)
        return copy

    def node_config(self) -> GenerationNodeConfig:
        """The node config this request carries (the part the validator and the cache key read)."""
        return GenerationNodeConfig(
            id=self.node_id,
            generation_type=self.type,
            purpose=self.purpose,
            style=self.style,
            duration=self.duration,
            constraints=self.constraints,
            strategy=self.strategy,
            seed_source=self.seed_source,
            seed=self.seed,
            fallback=self.fallback,
            template_id=self.template_id,
            version=self.version,
            social_context=self.social_context,
            variants=self.variants,
            rules=self.rules,
            hybrid=self.hybrid,
            refresh_after_s=self.refresh_after_s,
            arms=self.arms,
            prompt=self.prompt,
            lore_tags=self.lore_tags,
        )

    @classmethod
    def for_node(
        cls,
        config: GenerationNodeConfig,
        *,
        from_scene: SceneRef | None = None,
        to_scene: SceneRef | None = None,
        player_context: PlayerContext | None = None,
        simulate: Simulate | None = None,
    ) -> GenerateContentRequest:
        """The request a game sends for `config` between two scenes."""
        return cls(
            type=config.generation_type,
            purpose=config.purpose,
            node_id=config.id,
            from_scene=from_scene,
            to_scene=to_scene,
            style=config.style,
            duration=config.duration,
            constraints=config.constraints,
            strategy=config.strategy,
            seed_source=config.seed_source,
            seed=config.seed,
            fallback=config.fallback,
            template_id=config.template_id,
            version=config.version,
            player_context=player_context,
            social_context=config.social_context,
            simulate=simulate,
            variants=config.variants,
            rules=config.rules,
            hybrid=config.hybrid,
            refresh_after_s=config.refresh_after_s,
            arms=config.arms,
            provider=config.provider,
            prompt=config.prompt,
            lore_tags=config.lore_tags,
        )
