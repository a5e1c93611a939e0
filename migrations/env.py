"""Alembic environment. `core.db.Database.upgrade` passes its own connection; the `alembic`
command line builds one from XASO_DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from bots.tables import import_all
from core.models import Base

import_all()  # every module with tables, as core, the channels and the services declare them
target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from core.config import Settings
    from core.db import Database

    database = Database(Settings().database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(run_with)
    await database.close()


given = context.config.attributes.get("connection")
if given is not None:
    run_with(given)
else:
    asyncio.run(run_from_settings())
