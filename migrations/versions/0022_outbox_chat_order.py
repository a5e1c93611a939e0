"""outbox chat order: an index to find a chat's earlier rows still to send (core/outbox.py claim)

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_chat_order", "outbox", ["channel", "chat_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_chat_order", table_name="outbox")
