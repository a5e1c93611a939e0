"""The audit log's rows of one action, oldest first."""

from __future__ import annotations

from sqlalchemy import select

from core.db import Database
from core.models import AuditEntry


async def audit_rows(database: Database, action: str) -> list[AuditEntry]:
    async with database.session() as session:
        return list((await session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                           .order_by(AuditEntry.seq))).scalars())
