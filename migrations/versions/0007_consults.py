"""health: consults, their messages, emergency alerts (texts encrypted)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_consults",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("who", sa.String(length=16), nullable=False),
        sa.Column("age", sa.Integer(), nullable=False),
        sa.Column("symptoms_enc", sa.Text(), nullable=False),
        sa.Column("since_enc", sa.Text(), nullable=False),
        sa.Column("photo_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("doctor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_health_consults_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"], ["users.id"], name=op.f("fk_health_consults_doctor_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_consults")),
    )
    op.create_index(op.f("ix_health_consults_user_id"), "health_consults", ["user_id"])
    op.create_index(op.f("ix_health_consults_status"), "health_consults", ["status"])
    op.create_table(
        "health_consult_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consult_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("text_enc", sa.Text(), nullable=True),
        sa.Column("media_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["consult_id"],
            ["health_consults.id"],
            name=op.f("fk_health_consult_messages_consult_id_health_consults"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_health_consult_messages_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_consult_messages")),
    )
    op.create_index(op.f("ix_health_consult_messages_consult_id"), "health_consult_messages", ["consult_id"])
    op.create_table(
        "health_emergencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("text_enc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_health_emergencies_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_emergencies")),
    )
    op.create_index(op.f("ix_health_emergencies_user_id"), "health_emergencies", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_health_emergencies_user_id"), table_name="health_emergencies")
    op.drop_table("health_emergencies")
    op.drop_index(op.f("ix_health_consult_messages_consult_id"), table_name="health_consult_messages")
    op.drop_table("health_consult_messages")
    op.drop_index(op.f("ix_health_consults_status"), table_name="health_consults")
    op.drop_index(op.f("ix_health_consults_user_id"), table_name="health_consults")
    op.drop_table("health_consults")
