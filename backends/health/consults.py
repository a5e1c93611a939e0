"""Consult tickets and their messages, and emergency alerts: health texts are stored only encrypted
(FieldCipher, bound to the row they belong to), so the raw database holds no symptom text."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.counters import next_number
from core.crypto import FieldCipher
from core.models import Base, UTCDateTime, commune_column, utcnow

OPEN, ANSWERED, CLOSED = "open", "answered", "closed"
ESCALATION_STEPS = 2  # the next doctor on the roster and staff; then every doctor and staff again
# Consults are numbered `#N` for doctors, and ids name outbox notices and sealed texts: every id below
# comes from a counter (core/counters.py), never the database's own, so an erased row's id is never
# given again (SQLite would). Rows are only ever inserted through the functions of this module.
CONSULT_NUMBERS, MESSAGE_NUMBERS, ALERT_NUMBERS = "consult", "consult_message", "emergency"


class Consult(Base):
    __tablename__ = "health_consults"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune: Mapped[str] = commune_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    who: Mapped[str] = mapped_column(String(16))
    age: Mapped[int] = mapped_column(Integer)
    symptoms_enc: Mapped[str] = mapped_column(Text)
    since_enc: Mapped[str] = mapped_column(Text)
    photo_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=OPEN, index=True)
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Escalation along the roster: how many steps were taken, and the doctors already told (ids, ",1,4,").
    escalation_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notified: Mapped[str] = mapped_column(Text, default="", server_default="")
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ConsultMessage(Base):
    __tablename__ = "health_consult_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consult_id: Mapped[int] = mapped_column(ForeignKey("health_consults.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # "patient" or "doctor"
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    text_enc: Mapped[str | None] = mapped_column(Text)
    media_id: Mapped[str | None] = mapped_column(String(64))


class EmergencyAlert(Base):
    __tablename__ = "health_emergencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune: Mapped[str] = commune_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    text_enc: Mapped[str] = mapped_column(Text)
    # The doctor who took the call (an id kept as history, not a link: an erased account leaves it).
    handled_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Where the caller is, once known: "hamlet_id|lat,lon" sealed like the text.
    place_enc: Mapped[str | None] = mapped_column(Text, nullable=True)


def _of(commune: str | None) -> dict[str, str]:
    """The commune column's value for a new row; left out for None (the database's default)."""
    return {"commune": commune} if commune is not None else {}


def _ctx(kind: str, row_id: int) -> str:
    return f"health.{kind}:{row_id}"


def seal(cipher: FieldCipher, text: str, kind: str, row_id: int) -> str:
    return cipher.encrypt(text, _ctx(kind, row_id))


def unseal(cipher: FieldCipher, token: str | None, kind: str, row_id: int) -> str:
    return cipher.decrypt(token, _ctx(kind, row_id)) if token else ""


async def open_consult(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    user_id: int,
    who: str,
    age: int,
    symptoms: str,
    since: str,
    photo_id: str | None,
    now: dt.datetime,
    commune: str | None = None,
) -> Consult:
    """A new consult of commune `commune` (None: the database's default, the installation's own)."""
    consult = Consult(
        id=await next_number(session, CONSULT_NUMBERS), user_id=user_id, who=who, age=age, symptoms_enc="",
        since_enc="", photo_id=photo_id, created_at=now, **_of(commune),
    )
    session.add(consult)
    await session.flush()  # the id binds the ciphertexts to this consult
    consult.symptoms_enc = seal(cipher, symptoms, "symptoms", consult.id)
    consult.since_enc = seal(cipher, since, "since", consult.id)
    await session.flush()
    return consult


async def add_message(
    session: AsyncSession,
    cipher: FieldCipher,
    consult: Consult,
    *,
    author: str,
    author_id: int | None,
    text: str | None,
    media_id: str | None = None,
    now: dt.datetime | None = None,
) -> ConsultMessage:
    message = ConsultMessage(
        id=await next_number(session, MESSAGE_NUMBERS), consult_id=consult.id, author=author,
        author_id=author_id, media_id=media_id, at=now or utcnow(),
    )
    session.add(message)
    await session.flush()
    if text:
        message.text_enc = seal(cipher, text, "message", message.id)
        await session.flush()
    return message


async def messages_of(session: AsyncSession, consult_id: int) -> list[ConsultMessage]:
    query = select(ConsultMessage).where(ConsultMessage.consult_id == consult_id).order_by(ConsultMessage.id)
    return list((await session.execute(query)).scalars())


async def consult_in(session: AsyncSession, consult_id: int, commune: str) -> Consult | None:
    """Consult `consult_id` if it is commune `commune`'s: another commune's is as good as absent."""
    consult = await session.get(Consult, consult_id)
    return consult if consult is not None and consult.commune == commune else None


async def alert_in(session: AsyncSession, alert_id: int, commune: str) -> EmergencyAlert | None:
    """Emergency alert `alert_id` if it is commune `commune`'s."""
    alert = await session.get(EmergencyAlert, alert_id)
    return alert if alert is not None and alert.commune == commune else None


async def waiting(session: AsyncSession, commune: str, limit: int = 20) -> tuple[list[Consult], int]:
    """Commune `commune`'s consults not closed, oldest first, and how many there are."""
    where = (Consult.status != CLOSED) & (Consult.commune == commune)
    total = (await session.execute(select(func.count()).select_from(Consult).where(where))).scalar_one()
    rows = (
        await session.execute(
            select(Consult).where(where).order_by(Consult.created_at, Consult.id).limit(limit)
        )
    ).scalars()
    return list(rows), int(total)


async def open_consult_of(session: AsyncSession, user_id: int, commune: str) -> Consult | None:
    query = (
        select(Consult)
        .where(Consult.user_id == user_id, Consult.status != CLOSED, Consult.commune == commune)
        .order_by(Consult.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def queue_position(session: AsyncSession, consult: Consult) -> int:
    """Where the consult stands in its commune's queue (1: next)."""
    query = select(func.count()).select_from(Consult).where(Consult.status == OPEN, Consult.id <= consult.id,
                                                            Consult.commune == consult.commune)
    return int((await session.execute(query)).scalar_one())


async def unanswered_since(session: AsyncSession, before: dt.datetime, commune: str) -> list[Consult]:
    query = (
        select(Consult)
        .where(Consult.status == OPEN, Consult.escalation_step < ESCALATION_STEPS,
               Consult.created_at <= before, Consult.commune == commune)
        .order_by(Consult.id)
    )
    return list((await session.execute(query)).scalars())


async def claim_escalation(session: AsyncSession, consult: Consult, step: int, now: dt.datetime) -> bool:
    """Moves `consult` (still open and unanswered) to escalation `step` from the one before, in the
    caller's transaction; False when another node's task took that step first or the consult was
    answered meanwhile. The conditional UPDATE makes one task the escalator of each step."""
    won = await session.execute(
        update(Consult).where(Consult.id == consult.id, Consult.status == OPEN,
                              Consult.escalation_step == step - 1)
        .values(escalation_step=step, escalated_at=now).returning(Consult.id)
        .execution_options(synchronize_session=False))
    if won.scalar_one_or_none() is None:
        return False
    consult.escalation_step, consult.escalated_at = step, now
    return True


async def record_emergency(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    user_id: int,
    channel: str,
    category: str,
    text: str,
    now: dt.datetime,
    commune: str | None = None,
) -> EmergencyAlert:
    alert = EmergencyAlert(id=await next_number(session, ALERT_NUMBERS), user_id=user_id, channel=channel,
                           category=category, at=now, text_enc="", **_of(commune))
    session.add(alert)
    await session.flush()
    alert.text_enc = seal(cipher, text, "emergency", alert.id)
    await session.flush()
    return alert
