"""homestay bookings: each booking, the nights it holds (one row per stay and night: the key that makes a
double booking impossible), the host accounts linked to stays and their pending invites; and the
commune of every payment, whose order may now be of any kind (a shop order, a booking's deposit).

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def _home() -> str:
    from core.config import Settings

    return Settings().commune_code


def upgrade() -> None:
    home = _home()
    with op.batch_alter_table("shop_payments") as batch:
        batch.add_column(sa.Column("commune", sa.String(length=4), nullable=False, server_default=home))
    op.create_index("ix_shop_payments_commune", "shop_payments", ["commune"])
    op.execute(sa.text(
        "UPDATE shop_payments SET commune = (SELECT shop_orders.commune FROM shop_orders "
        "WHERE shop_orders.code = shop_payments.order_code) "
        "WHERE EXISTS (SELECT 1 FROM shop_orders WHERE shop_orders.code = shop_payments.order_code)"))

    op.create_table(
        "stay_bookings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("commune", sa.String(length=4), nullable=False, server_default=home),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("stay_id", sa.String(length=24), nullable=False),
        sa.Column("checkin", sa.Date(), nullable=False),
        sa.Column("checkout", sa.Date(), nullable=False),
        sa.Column("guests", sa.Integer(), nullable=False),
        sa.Column("price_vnd", sa.Integer(), nullable=False),
        sa.Column("total_vnd", sa.Integer(), nullable=False),
        sa.Column("deposit_vnd", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name_enc", sa.Text(), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("hold_until", sa.DateTime(), nullable=True),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=16), nullable=True),
        sa.Column("refund_vnd", sa.Integer(), nullable=True),
        sa.Column("refunded_at", sa.DateTime(), nullable=True),
        sa.Column("refund_reference", sa.String(length=64), nullable=True),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("code", name="uq_stay_bookings_code"),
        sa.UniqueConstraint("request_key", name="uq_stay_bookings_request_key"),
    )
    for column in ("commune", "user_id", "stay_id", "checkin", "status"):
        op.create_index(f"ix_stay_bookings_{column}", "stay_bookings", [column])
    op.create_table(
        "stay_nights",
        sa.Column("commune", sa.String(length=4), primary_key=True),
        sa.Column("stay_id", sa.String(length=24), primary_key=True),
        sa.Column("night", sa.Date(), primary_key=True),
        sa.Column("booking_id", sa.Integer(), sa.ForeignKey("stay_bookings.id", ondelete="CASCADE"),
                  nullable=False),
    )
    op.create_index("ix_stay_nights_booking_id", "stay_nights", ["booking_id"])
    op.create_table(
        "stay_hosts",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("commune", sa.String(length=4), primary_key=True),
        sa.Column("stay_id", sa.String(length=24), primary_key=True),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "stay_host_invites",
        sa.Column("code_hash", sa.String(length=64), primary_key=True),
        sa.Column("commune", sa.String(length=4), nullable=False),
        sa.Column("stay_id", sa.String(length=24), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stay_host_invites")
    op.drop_table("stay_hosts")
    op.drop_table("stay_nights")
    op.drop_table("stay_bookings")
    op.drop_index("ix_shop_payments_commune", table_name="shop_payments")
    with op.batch_alter_table("shop_payments") as batch:
        batch.drop_column("commune")
