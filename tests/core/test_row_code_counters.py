"""Codes never go back: the counters (core/counters.py), and migration 0018, which starts the counters
that replace row ids above every number an existing installation already gave (on PostgreSQL also
the numbers of deleted rows, which its id sequence remembers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from core.counters import next_number
from core.db import alembic_config
from tests.support.db import POSTGRES_URL


@asynccontextmanager
async def scratch_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database of the backend under test: a file on SQLite, a schema of its own on
    PostgreSQL (the shared test schema stays as it is)."""
    if not POSTGRES_URL:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        yield engine
        await engine.dispose()
        return
    schema = f"migration_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = create_async_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


async def migrate(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


USER = ("INSERT INTO users (channel, external_id, language, phone_verified, unreachable, created_at,"
        " last_seen_at) VALUES ('web', 'a', 'vi', false, false, '2026-01-01', '2026-01-01')")
APPOINTMENT = ("INSERT INTO health_appointments (slot_key, kind, starts_at, seat, user_id, status,"
               " created_at) VALUES (:slot, 'remote', '2026-01-02', 1, 1, 'booked', '2026-01-01')")
CONSULT = ("INSERT INTO health_consults (user_id, who, age, symptoms_enc, since_enc, status, created_at)"
           " VALUES (1, 'self', 40, 'x', 'x', 'open', '2026-01-01')")


async def old_rows(engine: AsyncEngine) -> None:
    """Three appointments and two consults numbered by id, the last appointment since deleted (an erased
    villager's, before the upgrade)."""
    async with engine.begin() as connection:
        await connection.execute(text(USER))
        for minute in (1, 2, 3):
            await connection.execute(text(APPOINTMENT), {"slot": f"remote:20260102090{minute}"})
        for _ in (1, 2):
            await connection.execute(text(CONSULT))
        await connection.execute(text("DELETE FROM health_appointments WHERE id = 3"))


async def test_the_counters_continue_above_the_old_row_ids(tmp_path: Path) -> None:
    async with scratch_engine(tmp_path) as engine:
        await migrate(engine, "0017")
        await old_rows(engine)
        await migrate(engine, "head")
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT prefix, value FROM dossier_counters"))
            counters = dict(rows.all())
        # SQLite cannot know of the deleted row 3; PostgreSQL's sequence does.
        given = 3 if POSTGRES_URL else 2
        assert counters == {"LH": given, "consult": 2, "consult_message": 0, "emergency": 0}
        async with async_sessionmaker(engine)() as session:
            assert await next_number(session, "LH") == given + 1
            assert await next_number(session, "LH") == given + 2
            await session.rollback()
            assert await next_number(session, "LH") == given + 1  # a rollback gives nothing away
