"""Dossiers at rest: the tables, the code sequence and the functions that create and read dossiers.

What the citizen typed (names, ID numbers, addresses…) is stored as one AES-GCM ciphertext bound to
the dossier's code; papers are ids of the media store. Codes are `{COMMUNE}-{YYYY}-{NNNNNN}`, numbered
by a counter row (core/counters.py) that is bumped in the same transaction as the insert, so they
are unique, never reused and gap-free on SQLite and PostgreSQL alike. Each commune of a province has
its own sequence (the counter is named by the code's prefix) and its dossiers carry its code in
`commune`: the readers below take the commune to keep to (None: every commune, for callers that
address a dossier by its code from outside, like the provincial system).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Date, ForeignKey, Index, Integer, Select, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import JSON

from backends.onestop.calendar import WorkingCalendar
from backends.onestop.catalogue import Procedure
from core.counters import next_number
from core.crypto import FieldCipher
from core.models import Base, UTCDateTime, commune_column, utcnow
from core.timezones import VIETNAM

STATUSES: tuple[str, ...] = ("received", "processing", "needs_info", "approved", "rejected", "delivered")
CODE_DIGITS = 6
LISTENERS = "xaso.dossier_event_listeners"  # key in a session's `info`
Chosen = TypeVar("Chosen", bound=Select[Any])


class Dossier(Base):
    __tablename__ = "dossiers"
    __table_args__ = (Index("ix_dossiers_status_due", "status", "due_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune: Mapped[str] = commune_column()
    code: Mapped[str] = mapped_column(String(24), unique=True)
    procedure_id: Mapped[str] = mapped_column(String(64))
    # A dossier is an administrative record the commune must keep: when the citizen erases their
    # account (/mydata) it stays, detached from the chat account.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="received")
    values_enc: Mapped[str] = mapped_column(Text)
    papers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # paper name → media id
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_date: Mapped[dt.date] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DossierEvent(Base):
    """The history of a dossier, one row per change, oldest first."""

    __tablename__ = "dossier_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


# (session, dossier, the new event, the status before it or None for a new dossier)
EventListener = Callable[[AsyncSession, "Dossier", "DossierEvent", str | None], Awaitable[None]]


@dataclass(frozen=True)
class Submission:
    procedure: Procedure
    user_id: int
    values: dict[str, Any]  # the completed form: fields and papers (media ids) together


def _values_context(code: str) -> str:
    return f"dossiers.values:{code}"


async def create_dossier(session: AsyncSession, cipher: FieldCipher, calendar: WorkingCalendar, *,
                         commune: str, submission: Submission, now: dt.datetime | None = None) -> Dossier:
    now = now or utcnow()
    prefix = f"{commune}-{now.astimezone(VIETNAM).year}"
    code = f"{prefix}-{await next_number(session, prefix):0{CODE_DIGITS}d}"
    paper_names = {paper.name for paper in submission.procedure.papers}
    papers = {name: str(value) for name, value in submission.values.items() if name in paper_names and value}
    fields = {name: value for name, value in submission.values.items() if name not in paper_names}
    dossier = Dossier(
        commune=commune, code=code, procedure_id=submission.procedure.id, user_id=submission.user_id,
        status="received",
        values_enc=cipher.encrypt(json.dumps(fields, ensure_ascii=False), _values_context(code)),
        papers=papers, submitted_at=now, updated_at=now,
        due_date=calendar.due_date(now, submission.procedure.time_limit_days),
    )
    session.add(dossier)
    await session.flush()
    await record_event(session, dossier, None, actor=f"user:{submission.user_id}", at=now)
    return dossier


async def record_event(session: AsyncSession, dossier: Dossier, previous: str | None, *, actor: str,
                       at: dt.datetime, note: str | None = None) -> DossierEvent:
    """Adds `dossier`'s current status to its history (`previous` None: it was just created), then
    calls the session's event listeners in the same transaction. Creation and every move pass here."""
    event = DossierEvent(dossier_id=dossier.id, at=at, status=dossier.status, actor=actor, note=note)
    session.add(event)
    await session.flush()
    for listener in session.info.get(LISTENERS, ()):
        await listener(session, dossier, event, previous)
    return event


def listen(sessionmaker: async_sessionmaker[AsyncSession], *listeners: EventListener) -> None:
    """Sessions made by `sessionmaker` from now on call `listeners` on every dossier event, inside the
    change's transaction (so a listener's outbox rows commit or roll back with it). Replaces any before."""
    sessionmaker.configure(info={LISTENERS: tuple(listeners)})


def read_values(cipher: FieldCipher, dossier: Dossier) -> dict[str, Any]:
    loaded = json.loads(cipher.decrypt(dossier.values_enc, _values_context(dossier.code)))
    return loaded if isinstance(loaded, dict) else {}


def in_commune(query: Chosen, commune: str | None) -> Chosen:
    """`query` kept to `commune`'s dossiers (None: left as it is)."""
    return query if commune is None else query.where(Dossier.commune == commune)


async def dossier_of_user(session: AsyncSession, code: str, user_id: int, *,
                          commune: str | None = None) -> Dossier | None:
    """The dossier with `code` if it belongs to `user_id` (and to `commune`, when given); someone
    else's, or another commune's, is as absent as a missing one."""
    query = select(Dossier).where(Dossier.code == code.strip().upper(), Dossier.user_id == user_id)
    return (await session.execute(in_commune(query, commune))).scalar_one_or_none()


async def dossiers_of_user(session: AsyncSession, user_id: int, limit: int = 10, *,
                           commune: str | None = None) -> list[Dossier]:
    query = in_commune(select(Dossier).where(Dossier.user_id == user_id), commune)
    return list((await session.execute(query.order_by(Dossier.id.desc()).limit(limit))).scalars())


async def history(session: AsyncSession, dossier_id: int) -> list[DossierEvent]:
    query = select(DossierEvent).where(DossierEvent.dossier_id == dossier_id).order_by(DossierEvent.id)
    return list((await session.execute(query)).scalars())
