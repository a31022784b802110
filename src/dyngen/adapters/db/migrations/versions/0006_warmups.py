"""Warm-up runs: progress kept per transition so a run resumes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "warmups",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("graph_id", sa.String(200), nullable=False),
        sa.Column("graph_version", sa.Integer),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("skipped", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_warmups_status", "warmups", ["status"])
    op.create_table(
        "warmup_items",
        sa.Column("warmup_id", sa.String(32), sa.ForeignKey("warmups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("node_id", sa.String(200), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("cache_key", sa.Text),
        sa.Column("generation_id", sa.String(32)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_warmup_items_status", "warmup_items", ["warmup_id", "status"])
    op.create_table(
        "warmup_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("warmup_id", sa.String(32), sa.ForeignKey("warmups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_warmup_events_warmup_id", "warmup_events", ["warmup_id", "id"])


def downgrade() -> None:
    op.drop_table("warmup_events")
    op.drop_table("warmup_items")
    op.drop_table("warmups")
