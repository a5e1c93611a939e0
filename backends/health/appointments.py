"""Appointment bookings and the link between doctor accounts and roster names.

A booking takes one seat (1…capacity) of a slot. The seat is chosen and taken in one INSERT … SELECT
guarded by partial unique indexes (a booked seat is held once; a person holds a slot once), so two
villagers taking the last seat at the same moment cannot both win, on SQLite or PostgreSQL: the loser's
insert does nothing and is told the slot is full. The optional reason is sealed with the field cipher.

Where an installation serves several communes, each commune's bookings and roster names are its own:
a slot key or roster id is stored bare for the installation's own commune (as a commune alone always
stored it) and prefixed with its code for another (`scoped`), so the indexes above never join two
communes' slots of the same hour, nor two rosters' names.

The id, and so the code `LH-NNNNNN`, comes from a counter (core/counters.py), never from the database:
an erased villager's appointments are deleted, and SQLite would give their ids (codes, reminder keys)
to the next bookings. A number taken by a tap that found the slot full stays unused (a gap, never a
repeat)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Executable,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backends.health.consults import seal
from backends.health.roster import Slot
from core.counters import next_number
from core.crypto import FieldCipher
from core.db import upsert
from core.models import Base, UTCDateTime, commune_column, utcnow

BOOKED, CANCELLED = "booked", "cancelled"
CODE_PREFIX = "LH"
_BOOKED_ONLY = text("status = 'booked'")


class Appointment(Base):
    __tablename__ = "health_appointments"
    __table_args__ = (
        Index("uq_health_appointments_seat", "slot_key", "seat", unique=True,
              sqlite_where=_BOOKED_ONLY, postgresql_where=_BOOKED_ONLY),
        Index("uq_health_appointments_person", "slot_key", "user_id", unique=True,
              sqlite_where=_BOOKED_ONLY, postgresql_where=_BOOKED_ONLY),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune: Mapped[str] = commune_column()
    slot_key: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    seat: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=BOOKED)
    reason_enc: Mapped[str | None] = mapped_column(Text)
    video_token: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def code(self) -> str:
        return appointment_code(self.id)


class RosterLink(Base):
    """Which doctor account is which roster name (set once by the doctor, audited)."""

    __tablename__ = "health_roster_links"

    roster_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def scoped(name: str, commune: str, home: str) -> str:
    """A slot key or roster id as stored for `commune`: bare for the installation's own (`home`),
    `CODE:name` for another."""
    return name if commune == home else f"{commune}:{name}"


def unscoped(stored: str) -> str:
    """A stored slot key or roster id without its commune (`scoped`'s inverse)."""
    code, colon, rest = stored.partition(":")
    return rest if colon and code.isupper() else stored


def appointment_code(appointment_id: int) -> str:
    return f"{CODE_PREFIX}-{appointment_id:06d}"


def parse_code(raw: str) -> int | None:
    cleaned = raw.strip().upper().removeprefix(f"{CODE_PREFIX}-").removeprefix("#")
    return int(cleaned) if cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 9 else None


@dataclass(frozen=True)
class Booked:
    outcome: Literal["booked", "already", "full"]
    appointment: Appointment | None = None


async def booked_counts(session: AsyncSession, keys: list[str], commune: str | None = None) -> dict[str, int]:
    """Seats taken by stored slot key (of `commune` when given)."""
    if not keys:
        return {}
    query = (select(Appointment.slot_key, func.count()).where(Appointment.slot_key.in_(keys),
                                                              Appointment.status == BOOKED)
             .group_by(Appointment.slot_key))
    if commune is not None:
        query = query.where(Appointment.commune == commune)
    return {key: int(count) for key, count in (await session.execute(query)).all()}


async def own_booking(session: AsyncSession, user_id: int, slot_key: str) -> Appointment | None:
    query = select(Appointment).where(Appointment.slot_key == slot_key, Appointment.user_id == user_id,
                                      Appointment.status == BOOKED)
    return (await session.execute(query)).scalar_one_or_none()


def _take_seat(dialect: str, slot: Slot, key: str, new_id: int, user_id: int, video_token: str | None,
               now: dt.datetime, commune: str | None) -> Executable:
    seats = union_all(*(select(literal(n).label("n")) for n in range(1, slot.capacity + 1))).subquery("seats")
    taken = select(Appointment.seat).where(Appointment.slot_key == key, Appointment.status == BOOKED)
    starts = slot.starts_at.astimezone(dt.UTC).replace(tzinfo=None)  # UTCDateTime's stored form
    created = now.astimezone(dt.UTC).replace(tzinfo=None)
    values: list[ColumnElement[Any]] = [
        literal(new_id, Integer()), literal(key, String(32)), literal(slot.kind, String(16)),
        literal(starts, DateTime()), seats.c.n, literal(user_id, Integer()), literal(BOOKED, String(16)),
        literal(video_token, String(32)), literal(created, DateTime())]
    columns = ["id", "slot_key", "kind", "starts_at", "seat", "user_id", "status", "video_token",
               "created_at"]
    if commune is not None:  # else the database's default, the installation's own
        values.append(literal(commune, String(4)))
        columns.append("commune")
    chosen = select(*values).where(seats.c.n.not_in(taken)).order_by(seats.c.n).limit(1)
    return (upsert(dialect)(Appointment).from_select(columns, chosen).on_conflict_do_nothing()
            .returning(Appointment.id))


async def book(session: AsyncSession, cipher: FieldCipher, slot: Slot, *, user_id: int, reason: str = "",
               video_token: str | None = None, now: dt.datetime, commune: str | None = None,
               key: str | None = None) -> Booked:
    """Takes a seat of `slot` for the user, atomically, in commune `commune` (None: the database's default)
    under the stored key `key` (default the slot's own: `scoped`). The number and the insert come first (on
    SQLite they take the write lock before anything is read), then, if it did nothing, why: the user's own
    booking or a full slot; a seat taken meanwhile by someone else is retried with the next free one."""
    dialect = session.get_bind().dialect.name
    key = key or slot.key
    number = await next_number(session, CODE_PREFIX)
    for _ in range(slot.capacity + 1):
        statement = _take_seat(dialect, slot, key, number, user_id, video_token, now, commune)
        new_id = (await session.execute(statement)).scalar()
        if new_id is not None:
            appointment = await session.get(Appointment, new_id)
            assert appointment is not None
            if reason:
                appointment.reason_enc = seal(cipher, reason, "appointment", appointment.id)
                await session.flush()
            return Booked("booked", appointment)
        mine = await own_booking(session, user_id, key)
        if mine is not None:
            return Booked("already", mine)
        if (await booked_counts(session, [key])).get(key, 0) >= slot.capacity:
            return Booked("full")
    return Booked("full")


async def cancel(session: AsyncSession, appointment: Appointment, now: dt.datetime) -> bool:
    if appointment.status != BOOKED:
        return False
    appointment.status, appointment.cancelled_at = CANCELLED, now
    await session.flush()
    return True


async def upcoming_of(session: AsyncSession, user_id: int, now: dt.datetime,
                      commune: str | None = None) -> list[Appointment]:
    """The user's bookings still ahead (or just begun), of `commune` when given, else of every commune."""
    query = (select(Appointment).where(Appointment.user_id == user_id, Appointment.status == BOOKED,
                                       Appointment.starts_at > now - dt.timedelta(hours=2))
             .order_by(Appointment.starts_at, Appointment.id))
    if commune is not None:
        query = query.where(Appointment.commune == commune)
    return list((await session.execute(query)).scalars())


async def all_of(session: AsyncSession, user_id: int) -> list[Appointment]:
    query = select(Appointment).where(Appointment.user_id == user_id).order_by(Appointment.id)
    return list((await session.execute(query)).scalars())


async def between(session: AsyncSession, start: dt.datetime, end: dt.datetime,
                  commune: str) -> list[Appointment]:
    """Commune `commune`'s bookings starting in [start, end)."""
    query = (select(Appointment).where(Appointment.status == BOOKED, Appointment.starts_at >= start,
                                       Appointment.starts_at < end, Appointment.commune == commune)
             .order_by(Appointment.starts_at, Appointment.seat))
    return list((await session.execute(query)).scalars())


async def links(session: AsyncSession, commune: str, home: str) -> dict[str, int]:
    """roster id → user id of every doctor account linked to a name of commune `commune`'s roster (`home`:
    the installation's own commune, whose names are stored bare)."""
    query = select(RosterLink.roster_id, RosterLink.user_id)
    if commune == home:
        query = query.where(RosterLink.roster_id.not_like("%:%"))
    else:
        query = query.where(RosterLink.roster_id.startswith(f"{commune}:", autoescape=True))
    return {unscoped(roster_id): user_id for roster_id, user_id in (await session.execute(query)).all()}


async def link_doctor(session: AsyncSession, roster_id: str, user_id: int, now: dt.datetime) -> None:
    """The account becomes this roster name (stored: `scoped`), replacing whoever held it, and its own
    earlier name."""
    for row in (await session.execute(select(RosterLink).where(
            (RosterLink.roster_id == roster_id) | (RosterLink.user_id == user_id)))).scalars():
        await session.delete(row)
    await session.flush()
    session.add(RosterLink(roster_id=roster_id, user_id=user_id, linked_at=now))
    await session.flush()
