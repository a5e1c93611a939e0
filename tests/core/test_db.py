import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from core.db import PING_AFTER_IDLE, Database
from core.models import AuditHead, User
from tests.support.db import POSTGRES_URL


async def test_migrations_create_schema_and_genesis(database: Database) -> None:
    async with database.session() as session:
        head = await session.get(AuditHead, 1)
        assert head is not None and head.seq == 0 and head.hash == "0" * 64
        session.add(User(channel="web", external_id="u1"))
    async with database.session() as session:
        user = (await session.execute(select(User))).scalar_one()
        assert user.language == "vi"
        assert user.created_at.tzinfo is not None


async def terminate(database: Database, pid: int) -> None:
    """The server ends a pooled connection, as a restart or a network blip would."""
    other = Database(database.url)
    try:
        async with other.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.close()


async def backend_pid(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only (XASO_TEST_DATABASE_URL)")
async def test_an_idle_connection_the_server_closed_is_replaced_without_an_error(database: Database) -> None:
    pid = await backend_pid(database)
    await terminate(database, pid)
    await asyncio.sleep(PING_AFTER_IDLE + 0.1)
    assert await backend_pid(database) != pid


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only (XASO_TEST_DATABASE_URL)")
async def test_a_connection_closed_just_after_use_fails_one_request_then_all_are_replaced(
        database: Database) -> None:
    pid = await backend_pid(database)
    await terminate(database, pid)
    with pytest.raises(DBAPIError) as failed:
        await backend_pid(database)  # answered 503 with Retry-After by the server (bots/server.py)
    assert failed.value.connection_invalidated
    assert await backend_pid(database) != pid
