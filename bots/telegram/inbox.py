"""Telegram's table in the durable inbox (bots/channels/inbox.py): one row per update, unique by
(bot, update_id), ordered by update_id within its chat (migration 0003)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bots.channels.inbox import DEFAULT_LEASE, MAX_CHAT_KEY_CHARS, PENDING, DurableInbox, InboxTable
from core.db import Database
from core.models import Base, UTCDateTime, utcnow


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


TELEGRAM_INBOX = InboxTable(TelegramUpdate, scope="bot_id", key="update_id", order="update_id",
                            lock_key=0x7E1E_6A11)


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


def identify(update: dict[str, Any]) -> tuple[int, str]:
    return int(update["update_id"]), chat_key(update)


class TelegramInbox(DurableInbox):
    """The updates of one bot (several bots may share the table)."""

    def __init__(self, database: Database, bot_id: int, *, lease: float = DEFAULT_LEASE,
                 max_attempts: int = 5) -> None:
        super().__init__(database, TELEGRAM_INBOX, bot_id, identify, lease=lease, max_attempts=max_attempts)
