"""offered choices: the buttons of the last question asked, for typed answers

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offered_choices",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reply", sa.JSON(), nullable=True),
        sa.Column("reply_at", sa.DateTime(), nullable=True),
        sa.Column("pushed", sa.JSON(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_offered_choices_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_offered_choices")),
    )


def downgrade() -> None:
    op.drop_table("offered_choices")
