"""Citizens' 1–5 satisfaction ratings of a delivered dossier: one per dossier, never changed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import CheckConstraint, ForeignKey, Integer, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backends.onestop.store import Dossier
from core.models import Base, UTCDateTime, utcnow

LOWEST, HIGHEST = 1, 5


class DossierRating(Base):
    __tablename__ = "dossier_ratings"
    __table_args__ = (CheckConstraint(f"rating BETWEEN {LOWEST} AND {HIGHEST}", name="rating_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), unique=True)
    rating: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class RatingSummary:
    count: int
    average: float | None


async def rating_of(session: AsyncSession, dossier_id: int) -> DossierRating | None:
    query = select(DossierRating).where(DossierRating.dossier_id == dossier_id)
    return (await session.execute(query)).scalar_one_or_none()


async def record_rating(session: AsyncSession, dossier_id: int, rating: int,
                        now: dt.datetime | None = None) -> bool:
    """True if recorded; False if the dossier was already rated (also when a concurrent press won)."""
    if not LOWEST <= rating <= HIGHEST:
        raise ValueError(f"a rating is {LOWEST} to {HIGHEST}")
    if await rating_of(session, dossier_id) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(DossierRating(dossier_id=dossier_id, rating=rating, at=now or utcnow()))
    except IntegrityError:
        return False
    return True


async def rating_summary(session: AsyncSession, *, commune: str | None = None) -> RatingSummary:
    """How many ratings and their average, of `commune`'s dossiers (None: of every commune's)."""
    kept = [] if commune is None else [Dossier.commune == commune]
    count, average = (await session.execute(
        select(func.count(DossierRating.id), func.avg(DossierRating.rating))
        .join(Dossier, Dossier.id == DossierRating.dossier_id).where(*kept))).one()
    return RatingSummary(int(count), None if average is None else float(average))
