"""shop: the payments ledger and the provider events already handled

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shop_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_code", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("amount_vnd", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_payments")),
        sa.UniqueConstraint("reference", name=op.f("uq_shop_payments_reference")),
    )
    op.create_index(op.f("ix_shop_payments_order_code"), "shop_payments", ["order_code"])
    op.create_index(op.f("ix_shop_payments_status"), "shop_payments", ["status"])
    op.create_table(
        "shop_payment_events",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_shop_payment_events")),
    )


def downgrade() -> None:
    op.drop_table("shop_payment_events")
    op.drop_index(op.f("ix_shop_payments_status"), table_name="shop_payments")
    op.drop_index(op.f("ix_shop_payments_order_code"), table_name="shop_payments")
    op.drop_table("shop_payments")
