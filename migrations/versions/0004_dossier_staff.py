"""dossier answers: what citizens send back when staff ask for a missing item

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dossier_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("request_event_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("text_enc", sa.Text(), nullable=True),
        sa.Column("media_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"],
                                name=op.f("fk_dossier_answers_dossier_id_dossiers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["request_event_id"], ["dossier_events.id"],
                                name=op.f("fk_dossier_answers_request_event_id_dossier_events"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_answers")),
    )
    with op.batch_alter_table("dossier_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dossier_answers_dossier_id"), ["dossier_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dossier_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_answers_dossier_id"))
    op.drop_table("dossier_answers")
