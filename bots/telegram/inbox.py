"""Durable receipt of Telegram updates: each accepted update is a row before Telegram gets its 200.

Telegram never redelivers an update it got a 200 for, so the webhook (and the poller, before it
acknowledges an offset) writes the raw update here first. A processor then leases pending rows, in
`update_id` order within each chat, and marks them done. A row left `processing` by a process that died
is due again once its lease expires, like the outbox. Done rows are purged after a few days.

A chat is served by one worker at a time: a row is only claimed when no earlier unfinished row of its
chat is waiting (leased by a live worker, or backing off after a failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    delete,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, aliased, mapped_column

from core.db import Database
from core.models import Base, UTCDateTime, utcnow

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
UNFINISHED = (PENDING, PROCESSING)
MAX_CHAT_KEY_CHARS = 64
# Claims are serialised on PostgreSQL (several `xaso serve` on one database) so that two processes never
# lease rows of one chat at once; any constant shared by all processes will do.
CLAIM_LOCK_KEY = 0x7E1E_6A11


class TelegramUpdate(Base):
    __tablename__ = "telegram_inbox"
    __table_args__ = (
        UniqueConstraint("bot_id", "update_id", name="uq_telegram_inbox_bot_update"),
        Index("ix_telegram_inbox_due", "bot_id", "status", "next_attempt_at"),
        Index("ix_telegram_inbox_chat", "bot_id", "chat_key", "update_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bot_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int] = mapped_column(BigInteger)
    chat_key: Mapped[str] = mapped_column(String(MAX_CHAT_KEY_CHARS))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When a pending row is due; while processing, when its lease ends.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True, slots=True)
class Leased:
    id: int
    update_id: int
    chat_key: str
    payload: dict[str, Any]
    attempts: int
    lease_until: datetime


def bot_id_of(token: str) -> int:
    """The numeric bot id that starts a token (`123456:ABC…`); 0 when it does not look like one."""
    head = token.split(":", 1)[0]
    return int(head) if head.isdigit() else 0


def chat_key(update: dict[str, Any]) -> str:
    """The chat whose order an update belongs to (the sender for a button on an inline message)."""
    for field in ("message", "edited_message", "channel_post", "edited_channel_post"):
        chat = (update.get(field) or {}).get("chat") or {}
        if "id" in chat:
            return str(chat["id"])[:MAX_CHAT_KEY_CHARS]
    query = update.get("callback_query") or {}
    chat = (query.get("message") or {}).get("chat") or {}
    if "id" in chat:
        return str(chat["id"])[:MAX_CHAT_KEY_CHARS]
    sender = query.get("from") or {}
    return f"user:{sender['id']}"[:MAX_CHAT_KEY_CHARS] if "id" in sender else ""


class LeasedInbox:
    """What every durable inbox does to its leased rows (`model` is the table, `_scope` the rows of this
    bot or source): finish, retry with back-off, hand back, purge, count. Each inbox claims its own way."""

    model: Any
    database: Database
    max_attempts: int

    def _scope(self) -> Any:
        raise NotImplementedError

    async def done(self, leased: Leased) -> None:
        await self._record(leased, status=DONE, done_at=utcnow())

    async def failed(self, leased: Leased) -> bool:
        """Puts a row back for a later try (with back-off); True when it was given up for good."""
        attempts = leased.attempts + 1
        if attempts >= self.max_attempts:
            await self._record(leased, status=FAILED, attempts=attempts, done_at=utcnow())
            return True
        delay = min(60.0, 2.0 ** attempts)
        await self._record(leased, status=PENDING, attempts=attempts,
                           next_attempt_at=utcnow() + timedelta(seconds=delay))
        return False

    async def release(self, leased: list[Leased]) -> None:
        """Hands rows not started back, due at once, without counting an attempt."""
        for item in leased:
            await self._record(item, status=PENDING, next_attempt_at=utcnow())

    async def purge(self, older_than: timedelta) -> int:
        cutoff = utcnow() - older_than
        statement = delete(self.model).where(self._scope(), self.model.status.in_((DONE, FAILED)),
                                             self.model.received_at < cutoff)
        async with self.database.session() as session:
            result = await session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    async def counts(self) -> dict[str, int]:
        query = select(self.model.status, func.count()).where(self._scope()).group_by(self.model.status)
        async with self.database.session() as session:
            found = {status: count for status, count in (await session.execute(query)).all()}
        return {status: found.get(status, 0) for status in (PENDING, PROCESSING, DONE, FAILED)}

    async def _record(self, leased: Leased, **values: Any) -> None:
        """Fenced by the lease: a worker whose lease ran out and was taken over changes nothing."""
        statement = (update(self.model)
                     .where(self.model.id == leased.id, self.model.status == PROCESSING,
                            self.model.next_attempt_at == leased.lease_until)
                     .values(**values)
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            await session.execute(statement)


class TelegramInbox(LeasedInbox):
    model = TelegramUpdate

    def __init__(self, database: Database, bot_id: int, *, lease: float = 120.0,
                 max_attempts: int = 5) -> None:
        self.database = database
        self.bot_id = bot_id
        self.lease = lease
        self.max_attempts = max_attempts

    async def accept(self, update: dict[str, Any]) -> bool:
        """Stores an update (committed on return); False when this update_id was already stored."""
        now = utcnow()
        values = {"bot_id": self.bot_id, "update_id": int(update["update_id"]), "chat_key": chat_key(update),
                  "payload": update, "status": PENDING, "attempts": 0, "next_attempt_at": now,
                  "received_at": now}
        dialect = self.database.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (insert(TelegramUpdate).values(values)
                     .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
                     .returning(TelegramUpdate.id))
        async with self.database.session() as session:
            return (await session.execute(statement)).scalar_one_or_none() is not None

    async def claim(self, limit: int) -> list[Leased]:
        """Leases up to `limit` due rows, lowest update_id first, skipping every chat that has an earlier
        unfinished row not due yet (in the hands of a live worker, or waiting to be retried)."""
        now = utcnow()
        lease_until = now + timedelta(seconds=self.lease)
        row, earlier = aliased(TelegramUpdate), aliased(TelegramUpdate)
        blocked = exists().where(and_(earlier.bot_id == row.bot_id, earlier.chat_key == row.chat_key,
                                      earlier.update_id < row.update_id, earlier.status.in_(UNFINISHED),
                                      earlier.next_attempt_at > now))
        due = (select(row.id)
               .where(row.bot_id == self.bot_id, row.status.in_(UNFINISHED), row.next_attempt_at <= now,
                      ~blocked)
               .order_by(row.update_id).limit(limit))
        statement = (update(TelegramUpdate)
                     .where(TelegramUpdate.id.in_(due))
                     .values(status=PROCESSING, next_attempt_at=lease_until)
                     .returning(TelegramUpdate.id, TelegramUpdate.update_id, TelegramUpdate.chat_key,
                                TelegramUpdate.payload, TelegramUpdate.attempts)
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            if self.database.engine.dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
            rows = (await session.execute(statement)).all()
        return sorted((Leased(r.id, r.update_id, r.chat_key, r.payload, r.attempts, lease_until)
                       for r in rows), key=lambda leased: leased.update_id)

    def _scope(self) -> Any:
        return TelegramUpdate.bot_id == self.bot_id
