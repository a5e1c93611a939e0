"""shop: stock, orders, seller accounts and invites; villagers' address codes

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shop_stock",
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("stock_milli", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_shop_stock")),
    )
    op.create_table(
        "shop_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("seller_id", sa.String(length=64), nullable=False),
        sa.Column("quantity_milli", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("unit_price_vnd", sa.Integer(), nullable=False),
        sa.Column("subtotal_vnd", sa.Integer(), nullable=False),
        sa.Column("shipping_vnd", sa.Integer(), nullable=False),
        sa.Column("total_vnd", sa.Integer(), nullable=False),
        sa.Column("payment_provider", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hamlet_id", sa.String(length=32), nullable=True),
        sa.Column("address_enc", sa.Text(), nullable=True),
        sa.Column("address_code_enc", sa.Text(), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("shipped_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_shop_orders_user_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_orders")),
        sa.UniqueConstraint("code", name=op.f("uq_shop_orders_code")),
        sa.UniqueConstraint("request_key", name=op.f("uq_shop_orders_request_key")),
    )
    op.create_index(op.f("ix_shop_orders_user_id"), "shop_orders", ["user_id"])
    op.create_index(op.f("ix_shop_orders_seller_id"), "shop_orders", ["seller_id"])
    op.create_index(op.f("ix_shop_orders_status"), "shop_orders", ["status"])
    op.create_table(
        "shop_seller_invites",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("seller_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_shop_seller_invites")),
    )
    op.create_table(
        "shop_seller_accounts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seller_id", sa.String(length=64), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_shop_seller_accounts_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_shop_seller_accounts")),
    )
    op.create_index(op.f("ix_shop_seller_accounts_seller_id"), "shop_seller_accounts", ["seller_id"])
    op.create_table(
        "address_codes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_enc", sa.Text(), nullable=False),
        sa.Column("hamlet_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_address_codes_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_address_codes")),
    )


def downgrade() -> None:
    op.drop_table("address_codes")
    op.drop_index(op.f("ix_shop_seller_accounts_seller_id"), table_name="shop_seller_accounts")
    op.drop_table("shop_seller_accounts")
    op.drop_table("shop_seller_invites")
    op.drop_index(op.f("ix_shop_orders_status"), table_name="shop_orders")
    op.drop_index(op.f("ix_shop_orders_seller_id"), table_name="shop_orders")
    op.drop_index(op.f("ix_shop_orders_user_id"), table_name="shop_orders")
    op.drop_table("shop_orders")
