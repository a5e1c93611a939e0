"""The Zalo tables, on `core.models.Base` (migration 0013); `zalo_inbox` is one table of the durable
inbox (bots/channels/inbox.py) for both Zalo modes, `source` telling them apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bots.channels.inbox import MAX_CHAT_KEY_CHARS, InboxTable
from core.models import Base, UTCDateTime, utcnow

MAX_KEY_CHARS = 128


class ZaloEvent(Base):
    """A received event (OA webhook, Bot API webhook or getUpdates), stored before the 200."""

    __tablename__ = "zalo_inbox"
    __table_args__ = (
        UniqueConstraint("source", "event_key", name="uq_zalo_inbox_source_event"),
        Index("ix_zalo_inbox_due", "source", "status", "next_attempt_at"),
        Index("ix_zalo_inbox_chat", "source", "chat_key", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # "zalo" (OA) or "zalobot"
    event_key: Mapped[str] = mapped_column(String(MAX_KEY_CHARS))  # msg_id, or a digest of the event
    chat_key: Mapped[str] = mapped_column(String(MAX_CHAT_KEY_CHARS))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# A repeated key (the OA's `msg_id`, the Bot API's `message_id`, or a digest of an event that has none)
# changes nothing; the row id stands in for Telegram's update_id: arrival order.
ZALO_INBOX = InboxTable(ZaloEvent, scope="source", key="event_key", order="id", lock_key=0x2A10_0B0C)


class ZaloToken(Base):
    """The OA's tokens, sealed with the field cipher. `version` grows by one on every refresh: a refresh
    is written only where the version is still the one read (compare-and-set), so that two processes
    never both spend the single-use refresh token."""

    __tablename__ = "zalo_tokens"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # Set while one process holds the refresh (its lease end); another waits or takes over after it.
    refreshing_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ZaloButton(Base):
    """A button sent to one Zalo user: what its press sends back as text, and the data it stands for."""

    __tablename__ = "zalo_buttons"
    __table_args__ = (Index("ix_zalo_buttons_chat", "channel", "chat_id", "payload"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ZaloAddress(Base):
    """The address a user submitted through Zalo's own form (`user_submit_info`), sealed."""

    __tablename__ = "zalo_addresses"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    address_enc: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
