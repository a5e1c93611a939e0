import pytest
from sqlalchemy import select, text

from core.db import Database
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


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only (XASO_TEST_DATABASE_URL)")
async def test_a_connection_the_server_closed_is_replaced_without_an_error(database: Database) -> None:
    async with database.session() as session:
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    # The server ends the pooled connection, as a restart or a network blip would.
    other = Database(database.url)
    try:
        async with other.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.close()
    async with database.session() as session:
        assert (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
