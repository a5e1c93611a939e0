"""Test databases: a fresh SQLite file per test by default; PostgreSQL when
XASO_TEST_DATABASE_URL points at one (the schema is migrated once, then emptied per test)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text

from core.db import Database
from core.models import Base

POSTGRES_URL = os.environ.get("XASO_TEST_DATABASE_URL", "")


def backend_name() -> str:
    return "postgresql" if POSTGRES_URL else "sqlite"


async def _reset_postgres_schema(url: str) -> None:
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await database.upgrade()
    await database.close()


def prepare_postgres() -> None:
    if POSTGRES_URL:
        asyncio.run(_reset_postgres_schema(POSTGRES_URL))


async def empty_postgres(database: Database) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with database.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await connection.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"),
                                 {"h": "0" * 64})


async def open_test_database(tmp_path: Path) -> Database:
    if POSTGRES_URL:
        database = Database(POSTGRES_URL)
        await empty_postgres(database)
        return database
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await database.upgrade()
    return database


def _differences(connection: Any) -> list[Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                 Base.metadata))


async def schema_differences(database: Database, about: str) -> list[Any]:
    """What the migrated schema differs in from the models, in the tables whose names hold `about`."""
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    return [difference for difference in differences if about in repr(difference)]
