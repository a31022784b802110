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
