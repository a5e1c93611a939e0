"""tourism views: what visitors looked at, counted by day, commune, place and kind (no person).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tourism_views",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("commune", sa.String(length=4), primary_key=True),
        sa.Column("place", sa.String(length=24), primary_key=True),
        sa.Column("kind", sa.String(length=8), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tourism_views")
