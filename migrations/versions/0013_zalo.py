"""zalo: inbox of OA and Bot API events, OA tokens (sealed), buttons sent, Zalo-verified addresses

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zalo_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=128), nullable=False),
        sa.Column("chat_key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_inbox")),
        sa.UniqueConstraint("source", "event_key", name="uq_zalo_inbox_source_event"),
    )
    with op.batch_alter_table("zalo_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_zalo_inbox_chat", ["source", "chat_key", "id"], unique=False)
        batch_op.create_index("ix_zalo_inbox_due", ["source", "status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_zalo_inbox_received_at"), ["received_at"], unique=False)
    op.create_table(
        "zalo_tokens",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("access_token_enc", sa.Text(), nullable=True),
        sa.Column("refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("refresh_expires_at", sa.DateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("refreshing_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_zalo_tokens")),
    )
    op.create_table(
        "zalo_buttons",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.String(length=200), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_buttons")),
    )
    with op.batch_alter_table("zalo_buttons", schema=None) as batch_op:
        batch_op.create_index("ix_zalo_buttons_chat", ["channel", "chat_id", "payload"], unique=False)
        batch_op.create_index(batch_op.f("ix_zalo_buttons_created_at"), ["created_at"], unique=False)
    op.create_table(
        "zalo_addresses",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address_enc", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_zalo_addresses_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_zalo_addresses")),
    )


def downgrade() -> None:
    op.drop_table("zalo_addresses")
    with op.batch_alter_table("zalo_buttons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zalo_buttons_created_at"))
        batch_op.drop_index("ix_zalo_buttons_chat")
    op.drop_table("zalo_buttons")
    op.drop_table("zalo_tokens")
    with op.batch_alter_table("zalo_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zalo_inbox_received_at"))
        batch_op.drop_index("ix_zalo_inbox_due")
        batch_op.drop_index("ix_zalo_inbox_chat")
    op.drop_table("zalo_inbox")
