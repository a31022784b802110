"""Generations and their artifacts.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "generations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("node_id", sa.String(200)),
        sa.Column("cache_key", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("seed", sa.BigInteger),
        sa.Column("seed_source", sa.String(32), nullable=False),
        sa.Column("deterministic", sa.Boolean, nullable=False),
        sa.Column("provider", sa.String(200)),
        sa.Column("provider_fingerprint", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("fallback_mode", sa.String(32)),
        sa.Column("fallback_reason", sa.Text),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("cost_tokens", sa.Integer, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("content", sa.JSON),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("config_fingerprint", sa.String(64), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
    )
    op.create_index("ix_generations_cache_key", "generations", ["cache_key"])
    op.create_index("ix_generations_node_id", "generations", ["node_id"])
    op.create_index("ix_generations_status", "generations", ["status"])
    op.create_index("ix_generations_created_at", "generations", ["created_at"])
    op.create_table(
        "generation_artifacts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "generation_id",
            sa.String(32),
            sa.ForeignKey("generations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("storage_uri", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_generation_artifacts_generation_id", "generation_artifacts", ["generation_id"])


def downgrade() -> None:
    op.drop_table("generation_artifacts")
    op.drop_table("generations")
