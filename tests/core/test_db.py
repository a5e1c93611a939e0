from sqlalchemy import select

from core.db import Database
from core.models import AuditHead, User


async def test_migrations_create_schema_and_genesis(database: Database) -> None:
    async with database.session() as session:
        head = await session.get(AuditHead, 1)
        assert head is not None and head.seq == 0 and head.hash == "0" * 64
        session.add(User(channel="web", external_id="u1"))
    async with database.session() as session:
        user = (await session.execute(select(User))).scalar_one()
        assert user.language == "vi"
        assert user.created_at.tzinfo is not None
