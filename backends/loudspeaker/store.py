"""Announcements, who subscribed to which, and the texts a user may ask to hear: tables and queries.

An announcement targets the whole commune (no hamlets) or some hamlets, under one topic. A subscriber
chose hamlets and topics: they receive an announcement of one of their topics that is either for the
whole commune or for one of their hamlets.

An announcement belongs to the commune whose staff wrote it (`commune`, core/province.py): its hamlets
are that commune's, only that commune's villagers (`users.commune`) receive it, and what is listed or
published is listed or published per commune (`commune=`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, User, UTCDateTime, commune_column, utcnow

SCHEDULED, PUBLISHED, CANCELLED = "scheduled", "published", "cancelled"
SCAN_LIMIT = 500


class Announcement(Base):
    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune: Mapped[str] = commune_column()
    text: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(32))
    hamlets: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: the whole commune
    lang: Mapped[str] = mapped_column(String(8), default="vi")
    status: Mapped[str] = mapped_column(String(16), default=SCHEDULED, index=True)
    publish_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # of its signed document
    mp3_id: Mapped[str] = mapped_column(String(32))
    ogg_id: Mapped[str] = mapped_column(String(32))
    duration: Mapped[float] = mapped_column(Float)
    recipients: Mapped[int | None] = mapped_column(Integer)  # messages queued at publication

    def reaches(self, hamlets: Sequence[str], topics: Sequence[str]) -> bool:
        return topic_reaches(self.topic, self.hamlets, hamlets, topics)


def topic_reaches(topic: str, aimed_at: Sequence[str], hamlets: Sequence[str],
                  topics: Sequence[str]) -> bool:
    """Whether something of `topic` for `aimed_at` hamlets (none: the whole commune) reaches a
    subscription to `hamlets` and `topics`."""
    return topic in topics and (not aimed_at or bool(set(aimed_at) & set(hamlets)))


class AnnouncementSubscription(Base):
    __tablename__ = "announcement_subscriptions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    hamlets: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SpokenText(Base):
    """A long answer the assistant gave, kept (sealed) so that its "🔊 Nghe" button carries only a digest."""

    __tablename__ = "spoken_texts"

    digest: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lang: Mapped[str] = mapped_column(String(8))
    text_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


async def subscription_of(session: AsyncSession, user_id: int) -> AnnouncementSubscription | None:
    return await session.get(AnnouncementSubscription, user_id)


async def subscribers_of(session: AsyncSession, announcement: Announcement, *, commune: str,
                         home: bool = False) -> list[User]:
    """Reachable users of `commune` (the announcement's) whose active subscription matches; ordered by
    user id. A subscription is the user's: after a move to another commune it serves that one. With
    `home` (`commune` is the installation's own), users who have not chosen a commune count as its
    own, as the dialogue takes them (bots/dialogue/base.py)."""
    return await subscribers_to(session, announcement.topic, announcement.hamlets or [], commune=commune,
                                home=home)


async def subscribers_to(session: AsyncSession, topic: str, hamlets: Sequence[str], *, commune: str,
                         home: bool = False) -> list[User]:
    """`subscribers_of` for a topic and hamlets (none: the whole commune) rather than an announcement
    (the daily digital-skills tip is one without a row)."""
    members = User.commune == commune
    rows = await session.execute(
        select(User, AnnouncementSubscription.hamlets, AnnouncementSubscription.topics)
        .join(AnnouncementSubscription, AnnouncementSubscription.user_id == User.id)
        .where(AnnouncementSubscription.active.is_(True), User.unreachable.is_(False),
               or_(members, User.commune.is_(None)) if home else members)
        .order_by(User.id))
    return [user for user, theirs, topics in rows
            if topic_reaches(topic, hamlets, theirs or [], topics or [])]


async def claim_due(session: AsyncSession, now: dt.datetime, *, commune: str) -> list[Announcement]:
    """`commune`'s scheduled announcements whose time has come, marked published in the caller's
    transaction. The conditional UPDATE makes one node the publisher of each, however many run."""
    due = (await session.scalars(select(Announcement.id).where(
        Announcement.commune == commune, Announcement.status == SCHEDULED, Announcement.publish_at <= now)
        .order_by(Announcement.publish_at))).all()
    claimed: list[Announcement] = []
    for announcement_id in due:
        won = await session.execute(
            update(Announcement).where(Announcement.id == announcement_id, Announcement.status == SCHEDULED)
            .values(status=PUBLISHED, published_at=now).returning(Announcement.id)
            .execution_options(synchronize_session=False))
        if won.scalar_one_or_none() is not None:
            announcement = await session.get(Announcement, announcement_id, populate_existing=True)
            if announcement is not None:
                claimed.append(announcement)
    return claimed


async def published(session: AsyncSession, *, commune: str, hamlets: Sequence[str] | None = None,
                    topics: Sequence[str] | None = None, limit: int = 5) -> list[Announcement]:
    """`commune`'s newest published announcements first, optionally only those reaching `hamlets`
    (None: any) and of `topics`; among its last `SCAN_LIMIT` published."""
    rows = (await session.scalars(select(Announcement)
                                  .where(Announcement.commune == commune, Announcement.status == PUBLISHED)
                                  .order_by(Announcement.published_at.desc(), Announcement.id.desc())
                                  .limit(SCAN_LIMIT))).all()
    found = [row for row in rows
             if (hamlets is None or not row.hamlets or set(row.hamlets) & set(hamlets))
             and (topics is None or row.topic in topics)]
    return found[:limit]


def summary(row: Announcement) -> dict[str, Any]:
    return {"id": row.id, "topic": row.topic, "hamlets": list(row.hamlets or []), "status": row.status,
            "publish_at": row.publish_at.isoformat(), "code": row.code}
