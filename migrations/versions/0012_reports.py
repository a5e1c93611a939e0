"""reports: village reports, the later reports linked to them, and their history

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "village_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("hamlet_id", sa.String(length=32), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("description_enc", sa.Text(), nullable=False),
        sa.Column("photo_id", sa.String(length=64), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("resolution_enc", sa.Text(), nullable=True),
        sa.Column("resolution_photo_id", sa.String(length=64), nullable=True),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["reporter_id"], ["users.id"], name=op.f("fk_village_reports_reporter_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], name=op.f("fk_village_reports_assignee_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_reports")),
        sa.UniqueConstraint("code", name=op.f("uq_village_reports_code")),
    )
    op.create_index(op.f("ix_village_reports_kind"), "village_reports", ["kind"])
    op.create_index(op.f("ix_village_reports_hamlet_id"), "village_reports", ["hamlet_id"])
    op.create_index(op.f("ix_village_reports_reporter_id"), "village_reports", ["reporter_id"])
    op.create_index("ix_village_reports_status_created", "village_reports", ["status", "created_at"])
    op.create_table(
        "village_report_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("description_enc", sa.Text(), nullable=False),
        sa.Column("photo_id", sa.String(length=64), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["village_reports.id"],
                                name=op.f("fk_village_report_links_report_id_village_reports"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_village_report_links_user_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_report_links")),
    )
    op.create_index(op.f("ix_village_report_links_report_id"), "village_report_links", ["report_id"])
    op.create_index(op.f("ix_village_report_links_user_id"), "village_report_links", ["user_id"])
    op.create_table(
        "village_report_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["village_reports.id"],
                                name=op.f("fk_village_report_events_report_id_village_reports"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_report_events")),
    )
    op.create_index(op.f("ix_village_report_events_report_id"), "village_report_events", ["report_id"])


def downgrade() -> None:
    op.drop_table("village_report_events")
    op.drop_table("village_report_links")
    op.drop_index("ix_village_reports_status_created", table_name="village_reports")
    op.drop_index(op.f("ix_village_reports_reporter_id"), table_name="village_reports")
    op.drop_index(op.f("ix_village_reports_hamlet_id"), table_name="village_reports")
    op.drop_index(op.f("ix_village_reports_kind"), table_name="village_reports")
    op.drop_table("village_reports")
