"""A villager's digital address (plus code and hamlet), sealed at rest, kept for deliveries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import FieldCipher
from core.models import Base, UTCDateTime, utcnow


class AddressCode(Base):
    __tablename__ = "address_codes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    code_enc: Mapped[str] = mapped_column(Text)
    hamlet_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class SavedAddress:
    code: str
    hamlet_id: str | None


def _context(user_id: int) -> str:
    return f"address_codes:{user_id}"


async def save_address(session: AsyncSession, cipher: FieldCipher, user_id: int, code: str,
                       hamlet_id: str | None) -> None:
    row = await session.get(AddressCode, user_id)
    sealed = cipher.encrypt(code, _context(user_id))
    if row is None:
        session.add(AddressCode(user_id=user_id, code_enc=sealed, hamlet_id=hamlet_id))
    else:
        row.code_enc, row.hamlet_id, row.updated_at = sealed, hamlet_id, utcnow()
    await session.flush()


async def saved_address(session: AsyncSession, cipher: FieldCipher, user_id: int) -> SavedAddress | None:
    row = await session.get(AddressCode, user_id)
    if row is None:
        return None
    return SavedAddress(cipher.decrypt(row.code_enc, _context(user_id)), row.hamlet_id)
