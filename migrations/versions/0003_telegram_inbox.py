"""telegram inbox: updates stored before Telegram gets its 200

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('telegram_inbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bot_id', sa.BigInteger(), nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_key', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telegram_inbox')),
    sa.UniqueConstraint('bot_id', 'update_id', name='uq_telegram_inbox_bot_update')
    )
    with op.batch_alter_table('telegram_inbox', schema=None) as batch_op:
        batch_op.create_index('ix_telegram_inbox_chat', ['bot_id', 'chat_key', 'update_id'], unique=False)
        batch_op.create_index('ix_telegram_inbox_due', ['bot_id', 'status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_telegram_inbox_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('telegram_inbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_telegram_inbox_received_at'))
        batch_op.drop_index('ix_telegram_inbox_due')
        batch_op.drop_index('ix_telegram_inbox_chat')

    op.drop_table('telegram_inbox')
