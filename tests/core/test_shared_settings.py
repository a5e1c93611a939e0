"""core/public_url.py's record of the public address in `shared_settings`, and migration 0017 against
its model."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from core.db import Database
from core.models import Base, SharedSetting
from core.public_url import PUBLIC_URL_KEY, agree_on_public_url


async def test_the_first_node_records_its_address_and_later_ones_compare(database: Database) -> None:
    assert await agree_on_public_url(database, "https://xa.example.vn", node="web-1") is None
    assert await agree_on_public_url(database, "https://xa.example.vn", node="web-2") is None
    warning = await agree_on_public_url(database, "http://127.0.0.1:8090", node="web-3")
    assert warning is not None
    assert "web-3" in warning and "http://127.0.0.1:8090" in warning
    assert "web-2" in warning and "https://xa.example.vn" in warning
    async with database.session() as session:
        row = await session.get(SharedSetting, PUBLIC_URL_KEY)
    assert row is not None and (row.value, row.node) == ("http://127.0.0.1:8090", "web-3")
    assert row.updated_at.tzinfo is not None


async def test_nodes_starting_together_both_get_recorded(database: Database) -> None:
    other = Database(database.url)
    try:
        results = await asyncio.gather(agree_on_public_url(database, "https://a.example.vn", node="a"),
                                       agree_on_public_url(other, "https://b.example.vn", node="b"))
    finally:
        await other.close()
    assert sum(result is not None for result in results) == 1  # the second to record is told


def _schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def _about(difference: Any, table: str) -> bool:
    return table in repr(difference)


async def test_migration_0017_gives_the_table_the_model_describes(database: Database) -> None:
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_schema_differences)
    assert not [difference for difference in differences if _about(difference, "shared_settings")]
