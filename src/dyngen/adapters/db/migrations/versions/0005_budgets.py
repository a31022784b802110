"""Budgets: the spend ledger and reservations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_scopes",
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("scope", sa.String(220), primary_key=True),
        sa.Column("spent", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "budget_reservations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_budget_reservations_period_expires_at", "budget_reservations", ["period", "expires_at"])
    op.create_table(
        "budget_spend",
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("bucket_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("node_id", sa.String(200), primary_key=True),
        sa.Column("provider", sa.String(200), primary_key=True),
        sa.Column("cost", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("budget_spend")
    op.drop_index("ix_budget_reservations_period_expires_at", table_name="budget_reservations")
    op.drop_table("budget_reservations")
    op.drop_table("budget_scopes")
