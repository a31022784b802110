"""Budget limits set in the editor, and their history.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_limits",
        sa.Column("scope", sa.String(220), primary_key=True),
        sa.Column("limit_micros", sa.BigInteger),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200)),
    )
    op.create_table(
        "budget_limit_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(220), nullable=False),
        sa.Column("limit_micros", sa.BigInteger),
        sa.Column("use_default", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200)),
    )
    op.create_index("ix_budget_limit_history_scope", "budget_limit_history", ["scope", "id"])


def downgrade() -> None:
    op.drop_table("budget_limit_history")
    op.drop_table("budget_limits")
