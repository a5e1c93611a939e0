"""What a citizen sent to answer a staff request for a missing item: a text (encrypted, bound to the
dossier's code) or a paper (an id of the media store)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backends.onestop.store import Dossier
from core.crypto import FieldCipher
from core.models import Base, UTCDateTime, utcnow


class DossierAnswer(Base):
    __tablename__ = "dossier_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    # The "needs info" event this answers.
    request_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("dossier_events.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    text_enc: Mapped[str | None] = mapped_column(Text)
    media_id: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True, slots=True)
class Answer:
    at: dt.datetime
    text: str | None
    media_id: str | None


def _context(code: str) -> str:
    return f"dossier_answers.text:{code}"


async def record_answer(session: AsyncSession, cipher: FieldCipher, dossier: Dossier, *,
                        request_event_id: int | None, text: str | None = None,
                        media_id: str | None = None) -> DossierAnswer:
    if not text and not media_id:
        raise ValueError("an answer needs a text or a paper")
    answer = DossierAnswer(
        dossier_id=dossier.id, request_event_id=request_event_id, media_id=media_id,
        text_enc=cipher.encrypt(text, _context(dossier.code)) if text else None,
    )
    session.add(answer)
    await session.flush()
    return answer


async def answers_of(session: AsyncSession, cipher: FieldCipher, dossier: Dossier) -> list[Answer]:
    query = select(DossierAnswer).where(DossierAnswer.dossier_id == dossier.id).order_by(DossierAnswer.id)
    return [
        Answer(row.at, cipher.decrypt(row.text_enc, _context(dossier.code)) if row.text_enc else None,
               row.media_id)
        for row in (await session.execute(query)).scalars()
    ]
