"""The relational schema. Alembic migrations (adapters/db/migrations) create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

generations = Table(
    "generations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Column("node_id", String(200)),
    Column("cache_key", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(32), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("strategy", String(32), nullable=False),
    Column("seed", BigInteger),
    Column("seed_source", String(32), nullable=False),
    Column("deterministic", Boolean, nullable=False),
    Column("provider", String(200)),
    Column("provider_fingerprint", String(200)),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("fallback_mode", String(32)),
    Column("fallback_reason", Text),
    Column("latency_ms", Float, nullable=False),
    Column("cost_tokens", Integer, nullable=False),
    Column("cost", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("content", JSON),
    Column("content_hash", String(64)),
    Column("config_fingerprint", String(64), nullable=False),
    Column("request", JSON, nullable=False),
    # Async jobs: the job is its generation record (migration 0002).
    Column("queued_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),
    Column("job_attempts", Integer, nullable=False, server_default="0"),
    # The A/B arm the request ran in (migration 0007).
    Column("arm", String(64)),
    # How each element was verified, a pipeline's stages (migration 0008).
    Column("elements", JSON),
    Column("stages", JSON),
    Index("ix_generations_cache_key", "cache_key"),
    Index("ix_generations_idempotency_key", "idempotency_key", unique=True),
    Index("ix_generations_queued_at", "queued_at"),
    Index("ix_generations_node_id", "node_id"),
    Index("ix_generations_status", "status"),
    Index("ix_generations_created_at", "created_at"),
)

generation_artifacts = Table(
    "generation_artifacts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("generation_id", String(32), ForeignKey("generations.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(64), nullable=False),
    Column("media_type", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("storage_uri", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_generation_artifacts_generation_id", "generation_id"),
)

generation_events = Table(
    "generation_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("generation_id", String(32), ForeignKey("generations.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_generation_events_generation_id", "generation_id", "id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

scene_graphs = Table(
    "scene_graphs",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("body", JSON, nullable=False),
    Column("author", String(200)),
    Column("deleted", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

node_configs = Table(
    "node_configs",
    metadata,
    Column("node_id", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("config", JSON, nullable=False),
    Column("author", String(200)),
    Column("note", String(500)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("generation_id", String(32), ForeignKey("generations.id", ondelete="CASCADE"), nullable=False),
    Column("node_id", String(200)),
    Column("cache_key", Text, nullable=False),
    Column("arm", String(64)),
    Column("score", Integer, nullable=False),
    Column("note", Text),
    Column("reviewer", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_reviews_generation_id", "generation_id"),
    Index("ix_reviews_node_id", "node_id"),
    Index("ix_reviews_cache_key", "cache_key"),
)

# Warm-up runs (migration 0006): the run, its planned items with their outcomes, and its event stream.
warmups = Table(
    "warmups",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("graph_id", String(200), nullable=False),
    Column("graph_version", Integer),
    Column("origin", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("options", JSON, nullable=False),
    Column("skipped", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Index("ix_warmups_status", "status"),
)

warmup_items = Table(
    "warmup_items",
    metadata,
    Column("warmup_id", String(32), ForeignKey("warmups.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("node_id", String(200), nullable=False),
    Column("request", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64)),
    Column("cache_key", Text),
    Column("generation_id", String(32)),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_warmup_items_status", "warmup_id", "status"),
)

warmup_events = Table(
    "warmup_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("warmup_id", String(32), ForeignKey("warmups.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_warmup_events_warmup_id", "warmup_id", "id"),
)

# Budgets (migration 0005): spent and reserved micro-units per period and scope, the open reservations
# (which expire), and committed spend by hour, node and provider.
budget_scopes = Table(
    "budget_scopes",
    metadata,
    Column("period", String(32), primary_key=True),
    Column("scope", String(220), primary_key=True),
    Column("spent", BigInteger, nullable=False, server_default="0"),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
)

budget_reservations = Table(
    "budget_reservations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("period", String(32), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_budget_reservations_period_expires_at", "period", "expires_at"),
)

budget_spend = Table(
    "budget_spend",
    metadata,
    Column("period", String(32), primary_key=True),
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("node_id", String(200), primary_key=True),
    Column("provider", String(200), primary_key=True),
    Column("cost", BigInteger, nullable=False),
)

# Budget limits set in the editor (migration 0009): the stored limit per scope (micro-units; NULL: no
# limit), over the configured defaults, and every change to them.
budget_limits = Table(
    "budget_limits",
    metadata,
    Column("scope", String(220), primary_key=True),
    Column("limit_micros", BigInteger),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200)),
)

budget_limit_history = Table(
    "budget_limit_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(220), nullable=False),
    Column("limit_micros", BigInteger),
    Column("use_default", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200)),
    Index("ix_budget_limit_history_scope", "scope", "id"),
)

# The durable cache tier of the embedded default (migration 0010, `SqlCacheTier`): an entry per cache key,
# its expiry in wall-clock epoch seconds (0: never).
cache_entries = Table(
    "cache_entries",
    metadata,
    Column("key", Text, primary_key=True),
    Column("expires_at", Float, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Index("ix_cache_entries_expires_at", "expires_at"),
)

# The group-commit writer's batch tokens (migration 0011, `SqlWriter`, PostgreSQL): a row per batch, written
# in the batch's transaction, so that a batch run again after a lost connection knows whether the first run
# committed. Rows older than a few minutes are deleted as batches go.
write_batches = Table(
    "write_batches",
    metadata,
    Column("token", String(32), primary_key=True),
    Column("written_at", DateTime(timezone=True), nullable=False),
    Index("ix_write_batches_written_at", "written_at"),
)
