"""The group-commit writer's batch tokens on PostgreSQL: a batch run again after its connection was lost
finds whether the first run committed (its reply lost), and then writes nothing twice.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_batches",
        sa.Column("token", sa.String(32), primary_key=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_write_batches_written_at", "write_batches", ["written_at"])


def downgrade() -> None:
    op.drop_table("write_batches")
