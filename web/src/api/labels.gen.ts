// GENERATED FILE: do not edit. `npm run gen:types` writes it from src/api/enum-labels.json, checked
// against the enums of src/api/schema.json (every value has a label).
// schema-sha256: 2f541d7c77a9213446f729600caebaa6fec67e413fe6eb28d11de369cd0cd7bf
import type { ContentRating, ErrorCode, FallbackMode, GenerationStatus, GenerationType, NodeStatus, Pacing, PayloadType, Purpose, Rating, SeedSource, Severity, Strategy, TransitionType, Verification, WarmupStatus } from "./types.gen";

export const ContentRatingLabels: Readonly<Record<ContentRating, string>> = {
  "sfw": "Safe for work",
  "romantic": "Romantic",
  "mature_implied": "Mature (implied)",
  "restricted": "Restricted",
};
export const ErrorCodeLabels: Readonly<Record<ErrorCode, string>> = {
  "GEN_TIMEOUT": "Generation timed out",
  "GEN_CONSTRAINT_FAIL": "Content broke a constraint",
  "GEN_PROVIDER_UNAVAILABLE": "Provider unavailable",
  "GEN_EMPTY_OUTPUT": "Provider returned nothing",
  "GEN_INVALID_CONFIG": "Invalid configuration",
  "GEN_CANCELLED": "Cancelled",
  "GEN_WORKER_LOST": "Worker lost",
  "GEN_BUDGET_EXCEEDED": "Budget exceeded",
  "GEN_RATE_LIMITED": "Rate limited",
  "UNAUTHORIZED": "Not signed in (API key needed)",
  "CONFLICT": "Conflict",
  "NOT_FOUND": "Not found",
  "FORBIDDEN": "Not allowed",
  "PAYLOAD_TOO_LARGE": "Too large",
  "UNSUPPORTED_MEDIA_TYPE": "Unsupported file type",
  "METHOD_NOT_ALLOWED": "Not allowed here",
  "DEPENDENCY_UNAVAILABLE": "A service it needs is down",
};
export const FallbackModeLabels: Readonly<Record<FallbackMode, string>> = {
  "default_content": "Play pre-made content",
  "skip": "Skip to the next scene",
  "retry": "Try again, then skip",
  "placeholder": "Show a bridge card",
};
export const GenerationStatusLabels: Readonly<Record<GenerationStatus, string>> = {
  "queued": "Waiting",
  "processing": "Generating",
  "complete": "Done",
  "failed": "Failed",
};
export const GenerationTypeLabels: Readonly<Record<GenerationType, string>> = {
  "transition": "Transition",
  "variation": "Variation",
  "dialogue": "Dialogue",
  "environment": "Environment",
  "npc_response": "Character reply",
};
export const NodeStatusLabels: Readonly<Record<NodeStatus, string>> = {
  "ok": "OK",
  "warnings": "Warnings",
  "errors": "Errors",
  "disabled": "Disabled",
};
export const PacingLabels: Readonly<Record<Pacing, string>> = {
  "slow": "Slow",
  "medium": "Medium",
  "fast": "Fast",
};
export const PayloadTypeLabels: Readonly<Record<PayloadType, string>> = {
  "video": "Video",
  "dialogue": "Dialogue",
  "choices": "Choices",
  "environment": "Environment",
  "npc_response": "Character reply",
};
export const PurposeLabels: Readonly<Record<Purpose, string>> = {
  "gap_fill": "Fill a gap",
  "variation": "Vary a scene",
  "adaptive": "Adapt to the player",
  "ambient": "Ambient background",
};
export const RatingLabels: Readonly<Record<Rating, string>> = {
  "G": "G: all ages",
  "PG": "PG: parental guidance",
  "PG-13": "PG-13: teens and up",
  "R": "R: adults",
};
export const SeedSourceLabels: Readonly<Record<SeedSource, string>> = {
  "playthrough": "The playthrough",
  "player": "The player",
  "timestamp": "The time (different every call)",
  "fixed": "A fixed seed",
};
export const SeverityLabels: Readonly<Record<Severity, string>> = {
  "error": "Error",
  "warning": "Warning",
  "suggestion": "Suggestion",
};
export const StrategyLabels: Readonly<Record<Strategy, string>> = {
  "once": "Once for everyone",
  "per_playthrough": "Once per playthrough",
  "per_player": "Once per player",
  "always": "Fresh every time",
};
export const TransitionTypeLabels: Readonly<Record<TransitionType, string>> = {
  "gradual": "Gradual",
  "abrupt": "Abrupt cut",
};
export const VerificationLabels: Readonly<Record<Verification, string>> = {
  "lexicon": "Found by its phrases",
  "model_report": "Reported by the model",
  "judge": "Confirmed by the judge",
  "unverified": "Not verifiable (no text)",
  "absent": "Missing",
};
export const WarmupStatusLabels: Readonly<Record<WarmupStatus, string>> = {
  "queued": "Waiting",
  "running": "Running",
  "complete": "Complete",
  "failed": "Failed",
  "cancelled": "Cancelled",
};
