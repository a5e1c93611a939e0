"""Durable receipt of Zalo events, one table for both Zalo modes (`source` tells them apart).

An event is a row before Zalo gets its 200; a repeated key (the OA's `msg_id`, the Bot API's
`message_id`, or a digest of an event that has none) changes nothing, which is the de-duplication.
Rows are leased in arrival order within a chat, exactly as the Telegram inbox does, and drained by the
same `InboxProcessor`; done rows are kept `keep` (at least the 24 h de-duplication window) then purged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from bots.telegram.inbox import PENDING, PROCESSING, UNFINISHED, Leased, LeasedInbox
from bots.zalo.models import MAX_CHAT_KEY_CHARS, MAX_KEY_CHARS, ZaloEvent
from core.db import Database
from core.models import utcnow

CLAIM_LOCK_KEY = 0x2A10_0B0C


class ZaloInbox(LeasedInbox):
    model = ZaloEvent

    def __init__(self, database: Database, source: str, *, lease: float = 120.0,
                 max_attempts: int = 5) -> None:
        self.database = database
        self.source = source
        self.lease = lease
        self.max_attempts = max_attempts

    async def accept(self, event_key: str, chat_key: str, payload: dict[str, Any]) -> bool:
        """Stores an event (committed on return); False when its key was already stored."""
        now = utcnow()
        values = {"source": self.source, "event_key": event_key[:MAX_KEY_CHARS],
                  "chat_key": chat_key[:MAX_CHAT_KEY_CHARS], "payload": payload, "status": PENDING,
                  "attempts": 0, "next_attempt_at": now, "received_at": now}
        insert = postgresql.insert if self.database.engine.dialect.name == "postgresql" else sqlite.insert
        statement = (insert(ZaloEvent).values(values)
                     .on_conflict_do_nothing(index_elements=["source", "event_key"])
                     .returning(ZaloEvent.id))
        async with self.database.session() as session:
            return (await session.execute(statement)).scalar_one_or_none() is not None

    async def claim(self, limit: int) -> list[Leased]:
        now = utcnow()
        lease_until = now + timedelta(seconds=self.lease)
        row, earlier = aliased(ZaloEvent), aliased(ZaloEvent)
        blocked = exists().where(and_(earlier.source == row.source, earlier.chat_key == row.chat_key,
                                      earlier.id < row.id, earlier.status.in_(UNFINISHED),
                                      earlier.next_attempt_at > now))
        due = (select(row.id)
               .where(row.source == self.source, row.status.in_(UNFINISHED), row.next_attempt_at <= now,
                      ~blocked)
               .order_by(row.id).limit(limit))
        statement = (update(ZaloEvent)
                     .where(ZaloEvent.id.in_(due))
                     .values(status=PROCESSING, next_attempt_at=lease_until)
                     .returning(ZaloEvent.id, ZaloEvent.chat_key, ZaloEvent.payload, ZaloEvent.attempts)
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            if self.database.engine.dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
            rows = (await session.execute(statement)).all()
        # The row id stands in for Telegram's update_id: arrival order.
        return sorted((Leased(r.id, r.id, r.chat_key, r.payload, r.attempts, lease_until) for r in rows),
                      key=lambda leased: leased.id)

    def _scope(self) -> Any:
        return ZaloEvent.source == self.source
