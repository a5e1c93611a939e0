"""signed documents

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signed_documents",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_signed_documents")),
    )
    with op.batch_alter_table("signed_documents", schema=None) as batch_op:
        batch_op.create_index("ix_signed_documents_kind_subject", ["kind", "subject"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signed_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_signed_documents_kind_subject")
    op.drop_table("signed_documents")
