"""core/public_url.py's record of the public address in `shared_settings`, and migration 0017 against
its model."""

from __future__ import annotations

import asyncio

from core.db import Database
from core.models import SharedSetting
from core.public_url import PUBLIC_URL_KEY, agree_on_public_url
from tests.support.db import schema_differences


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



async def test_migration_0017_gives_the_table_the_model_describes(database: Database) -> None:
    assert await schema_differences(database, "shared_settings") == []
