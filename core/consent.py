"""Consent per purpose (Law 91/2025): asked once before the first personal data of that purpose is
stored, recorded with its time, withdrawable at any time."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Consent, utcnow

PURPOSES = ("contact", "dossier", "health", "shop", "announcements", "reports")


def purpose_key(purpose: str) -> str:
    """The catalogue key of a purpose's name as people read it ("Hỏi bác sĩ"), never the key itself."""
    return f"consent.purpose.{purpose}"


async def has_consent(session: AsyncSession, user_id: int, purpose: str) -> bool:
    query = select(Consent.id).where(Consent.user_id == user_id, Consent.purpose == purpose,
                                     Consent.withdrawn_at.is_(None))
    return (await session.execute(query.limit(1))).first() is not None


async def grant_consent(session: AsyncSession, user_id: int, purpose: str) -> bool:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}")
    if await has_consent(session, user_id, purpose):
        return False
    session.add(Consent(user_id=user_id, purpose=purpose))
    await session.flush()
    return True


async def withdraw_consents(session: AsyncSession, user_id: int) -> int:
    result = cast(CursorResult[Any], await session.execute(
        update(Consent).where(Consent.user_id == user_id, Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=utcnow())
    ))
    return result.rowcount or 0


async def active_purposes(session: AsyncSession, user_id: int) -> list[str]:
    query = select(Consent.purpose).where(Consent.user_id == user_id, Consent.withdrawn_at.is_(None))
    return sorted(set((await session.execute(query)).scalars()))
