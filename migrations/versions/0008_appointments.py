"""health: appointments, roster links, escalation along the roster, sealed media

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BOOKED_ONLY = sa.text("status = 'booked'")


def upgrade() -> None:
    op.create_table(
        "health_appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_key", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason_enc", sa.Text(), nullable=True),
        sa.Column("video_token", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_health_appointments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_appointments")),
    )
    op.create_index(op.f("ix_health_appointments_slot_key"), "health_appointments", ["slot_key"])
    op.create_index(op.f("ix_health_appointments_starts_at"), "health_appointments", ["starts_at"])
    op.create_index(op.f("ix_health_appointments_user_id"), "health_appointments", ["user_id"])
    op.create_index("uq_health_appointments_seat", "health_appointments", ["slot_key", "seat"], unique=True,
                    sqlite_where=_BOOKED_ONLY, postgresql_where=_BOOKED_ONLY)
    op.create_index("uq_health_appointments_person", "health_appointments", ["slot_key", "user_id"],
                    unique=True, sqlite_where=_BOOKED_ONLY, postgresql_where=_BOOKED_ONLY)
    op.create_table(
        "health_roster_links",
        sa.Column("roster_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_health_roster_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("roster_id", name=op.f("pk_health_roster_links")),
        sa.UniqueConstraint("user_id", name=op.f("uq_health_roster_links_user_id")),
    )
    with op.batch_alter_table("health_consults") as batch:
        batch.add_column(sa.Column("escalation_step", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("notified", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("sealed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.drop_column("sealed")
    with op.batch_alter_table("health_consults") as batch:
        batch.drop_column("notified")
        batch.drop_column("escalation_step")
    op.drop_table("health_roster_links")
    op.drop_index("uq_health_appointments_person", table_name="health_appointments")
    op.drop_index("uq_health_appointments_seat", table_name="health_appointments")
    op.drop_index(op.f("ix_health_appointments_user_id"), table_name="health_appointments")
    op.drop_index(op.f("ix_health_appointments_starts_at"), table_name="health_appointments")
    op.drop_index(op.f("ix_health_appointments_slot_key"), table_name="health_appointments")
    op.drop_table("health_appointments")
