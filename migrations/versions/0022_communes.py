"""communes: which commune a user, a role, an invite and every service's record belongs to
(core/province.py). What exists is the installation's own commune's (XASO_COMMUNE_CODE).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# Each service's records, by the commune they belong to; new rows name it (the default is for a
# single commune's installation, and for the rows written before this revision).
RECORDS = ("dossiers", "health_consults", "health_appointments", "health_emergencies", "shop_orders",
           "village_reports", "announcements")
PEOPLE = ("users", "user_roles", "invites")


def _home() -> str:
    from core.config import Settings

    return Settings().commune_code


def upgrade() -> None:
    home = _home()
    for table in PEOPLE:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("commune", sa.String(length=4), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET commune = :home").bindparams(home=home))
    for table in RECORDS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("commune", sa.String(length=4), nullable=False,
                                       server_default=home))
        op.create_index(f"ix_{table}_commune", table, ["commune"])


def downgrade() -> None:
    for table in RECORDS:
        op.drop_index(f"ix_{table}_commune", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("commune")
    for table in PEOPLE:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("commune")
