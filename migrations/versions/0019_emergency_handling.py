"""emergency alerts: who took the call and when, and the caller's place once shared

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("health_emergencies") as batch:
        batch.add_column(sa.Column("handled_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("handled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("place_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("health_emergencies") as batch:
        batch.drop_column("place_enc")
        batch.drop_column("handled_at")
        batch.drop_column("handled_by")
