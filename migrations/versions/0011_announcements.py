"""announcements: announcements, subscriptions, spoken texts of the "🔊 Nghe" button

Revision ID: 0011
Revises: 0010
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
        "announcements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("hamlets", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("publish_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("mp3_id", sa.String(length=32), nullable=False),
        sa.Column("ogg_id", sa.String(length=32), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_announcements_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
        sa.UniqueConstraint("code", name=op.f("uq_announcements_code")),
    )
    op.create_index(op.f("ix_announcements_status"), "announcements", ["status"])
    op.create_index(op.f("ix_announcements_publish_at"), "announcements", ["publish_at"])
    op.create_table(
        "announcement_subscriptions",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("hamlets", sa.JSON(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_announcement_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_announcement_subscriptions")),
    )
    op.create_index(op.f("ix_announcement_subscriptions_active"), "announcement_subscriptions", ["active"])
    op.create_table(
        "spoken_texts",
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("text_enc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_spoken_texts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_spoken_texts")),
    )
    op.create_index(op.f("ix_spoken_texts_user_id"), "spoken_texts", ["user_id"])
    op.create_index(op.f("ix_spoken_texts_created_at"), "spoken_texts", ["created_at"])


def downgrade() -> None:
    op.drop_table("spoken_texts")
    op.drop_table("announcement_subscriptions")
    op.drop_table("announcements")
