"""The wire contracts' enumerations (`domain/contracts.py` re-exports them): their values are the spec's
wire spellings."""

from __future__ import annotations

from enum import StrEnum


class GenerationType(StrEnum):
    TRANSITION = "transition"
    VARIATION = "variation"
    DIALOGUE = "dialogue"
    ENVIRONMENT = "environment"
    NPC_RESPONSE = "npc_response"


class Purpose(StrEnum):
    GAP_FILL = "gap_fill"
    VARIATION = "variation"
    ADAPTIVE = "adaptive"
    AMBIENT = "ambient"


class Pacing(StrEnum):
    SLOW = "slow"
    MEDIUM = "medium"
    FAST = "fast"


class TransitionType(StrEnum):
    GRADUAL = "gradual"
    ABRUPT = "abrupt"


class Rating(StrEnum):
    G = "G"
    PG = "PG"
    PG_13 = "PG-13"
    R = "R"


class Strategy(StrEnum):
    ONCE = "once"
    PER_PLAYTHROUGH = "per_playthrough"
    PER_PLAYER = "per_player"
    ALWAYS = "always"


class SeedSource(StrEnum):
    PLAYTHROUGH = "playthrough"
    PLAYER = "player"
    TIMESTAMP = "timestamp"
    FIXED = "fixed"


class FallbackMode(StrEnum):
    DEFAULT_CONTENT = "default_content"
    SKIP = "skip"
    RETRY = "retry"
    PLACEHOLDER = "placeholder"


class ContentRating(StrEnum):
    SFW = "sfw"
    ROMANTIC = "romantic"
    MATURE_IMPLIED = "mature_implied"
    RESTRICTED = "restricted"


class PayloadType(StrEnum):
    VIDEO = "video"
    DIALOGUE = "dialogue"
    CHOICES = "choices"
    ENVIRONMENT = "environment"
    NPC_RESPONSE = "npc_response"


class GenerationStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETE = "complete"
    FAILED = "failed"


class Verification(StrEnum):
    """How an element's presence was established: by the lexicon (a phrase or the element's words in a
    line), by the model's own report (its quote found in the text), by a judge model (its quote found in
    the text); `absent`: checked and not found; `unverified`: nothing to check (a video without text)."""

    LEXICON = "lexicon"
    MODEL_REPORT = "model_report"
    JUDGE = "judge"
    UNVERIFIED = "unverified"
    ABSENT = "absent"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    SUGGESTION = "suggestion"


class NodeStatus(StrEnum):
    OK = "ok"
    WARNINGS = "warnings"
    ERRORS = "errors"
    DISABLED = "disabled"
