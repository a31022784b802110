"""How each generation's required and avoided elements were verified, and a pipeline's stages.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("elements", sa.JSON))
        batch.add_column(sa.Column("stages", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("stages")
        batch.drop_column("elements")
