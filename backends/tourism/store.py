"""What visitors look at, counted by day: each commune's questions, each place's card, story, guide page
(the QR posters) and voice, and itineraries viewed. Counts only, never who: a row per (day, commune,
place, kind), its count raised in the turn that showed it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Integer, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import dialect_of, upsert
from core.models import Base

KINDS = ("ask", "card", "story", "page", "audio", "plan", "near", "guide")
ANY_PLACE = "-"  # a question or a list, about no one place


class TourismView(Base):
    __tablename__ = "tourism_views"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    commune: Mapped[str] = mapped_column(String(4), primary_key=True)
    place: Mapped[str] = mapped_column(String(24), primary_key=True)  # a place's or an itinerary's id
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


async def count_view(session: AsyncSession, day: dt.date, commune: str, kind: str,
                     place: str = ANY_PLACE) -> None:
    insert = upsert(dialect_of(session))
    statement = insert(TourismView).values(day=day, commune=commune, place=place, kind=kind, count=1)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["day", "commune", "place", "kind"], set_={"count": TourismView.count + 1}))


async def views_on(session: AsyncSession, day: dt.date, commune: str | None) -> dict[str, int]:
    """`day`'s counts by kind, of `commune` (None: every commune)."""
    query = select(TourismView.kind, func.sum(TourismView.count)).where(TourismView.day == day)
    if commune is not None:
        query = query.where(TourismView.commune == commune)
    return {str(kind): int(count) for kind, count in await session.execute(query.group_by(TourismView.kind))}
