"""row code counters: appointment codes (LH-), consult, consult message and emergency numbers come from
the code counters (core/counters.py) from now on, never again from the database's row ids

Each counter starts above every number already given: the highest id in its table and, on
PostgreSQL, the id sequence (which also remembers ids whose rows were deleted). SQLite cannot know
ids of rows deleted before this upgrade; the highest id left is the best it has.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# counter prefix → the table whose ids it continues
COUNTERS = {
    "LH": "health_appointments",
    "consult": "health_consults",
    "consult_message": "health_consult_messages",
    "emergency": "health_emergencies",
}


def _highest_given(connection: sa.Connection, table: str) -> int:
    rows = sa.table(table, sa.column("id", sa.Integer))
    highest = int(connection.execute(sa.select(sa.func.coalesce(sa.func.max(rows.c.id), 0))).scalar_one())
    if connection.dialect.name != "postgresql":
        return highest
    last = connection.execute(sa.text("SELECT pg_sequence_last_value(pg_get_serial_sequence(:t, 'id'))"),
                              {"t": table}).scalar()
    return max(highest, int(last or 0))


def upgrade() -> None:
    connection = op.get_bind()
    counters = sa.table("dossier_counters", sa.column("prefix", sa.String), sa.column("value", sa.Integer))
    for prefix, table in COUNTERS.items():
        highest = _highest_given(connection, table)
        current = connection.execute(sa.select(counters.c.value).where(counters.c.prefix == prefix)).scalar()
        if current is None:
            connection.execute(counters.insert().values(prefix=prefix, value=highest))
        elif current < highest:
            connection.execute(counters.update().where(counters.c.prefix == prefix).values(value=highest))


def downgrade() -> None:
    # The counters stay: code before this revision numbers these rows by id again, and a counter row
    # it does not read is harmless.
    pass
