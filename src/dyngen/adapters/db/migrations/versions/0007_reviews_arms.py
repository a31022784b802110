"""Quality reviews of generations and A/B arm telemetry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("arm", sa.String(64)))
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("generation_id", sa.String(32), sa.ForeignKey("generations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("node_id", sa.String(200)),
        sa.Column("cache_key", sa.Text, nullable=False),
        sa.Column("arm", sa.String(64)),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("reviewer", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reviews_generation_id", "reviews", ["generation_id"])
    op.create_index("ix_reviews_node_id", "reviews", ["node_id"])
    op.create_index("ix_reviews_cache_key", "reviews", ["cache_key"])


def downgrade() -> None:
    op.drop_table("reviews")
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("arm")
