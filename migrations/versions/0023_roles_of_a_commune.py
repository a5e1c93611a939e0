"""roles of a commune: a role granted without a commune on a commune's own installation (the CLI's and the
first start's invites did so) belongs to that commune (XASO_COMMUNE_CODE), so that it does not become a
role in every commune once the installation serves a province. Only the role `province` is for every
commune.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

EVERY_COMMUNE = "province"


def _home() -> str:
    from core.config import Settings

    return Settings().commune_code


def upgrade() -> None:
    home = _home()
    for table in ("user_roles", "invites"):
        op.execute(sa.text(f"UPDATE {table} SET commune = :home WHERE commune IS NULL AND role <> :every")
                   .bindparams(home=home, every=EVERY_COMMUNE))


def downgrade() -> None:
    pass  # which roles had no commune is not kept; with one commune served, both mean the same
