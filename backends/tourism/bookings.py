"""Homestay bookings at rest: the booking, and the nights it holds.

A stay (data/tourism/stays.yml) is let whole, one booking a night. Each night a booking holds is a row
of `stay_nights` whose primary key is (commune, stay, night): holding the nights is inserting them in
one savepoint, and a night someone else holds makes the insert fail, on SQLite and PostgreSQL alike (a
concurrent insert of the same key waits for the other transaction, then fails), so two guests can never
hold the same night. A cancelled booking deletes its rows, which frees the nights.

A booking moves UNPAID (its deposit not yet paid; released when its hold runs out) or STARTING (its card
payment is being started after the turn) → REQUESTED (deposit paid, or none asked: the host confirms) →
CONFIRMED, or → CANCELLED from any of them. Every move is a conditional update whose row count says who
won. A refund owed by the rules is recorded with the cancellation and marked given back once (Stripe's
refund, or a host who gave a transfer back). The guest's name and phone are sealed with the field
cipher; erasing a guest keeps the booking as a record without them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Date, ForeignKey, Integer, String, Text, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.counters import next_number
from core.crypto import FieldCipher
from core.models import Base, UTCDateTime, commune_column, utcnow

CODE_PREFIX = "DP"  # «đặt phòng»
STARTING, UNPAID, REQUESTED = "starting", "unpaid", "requested"
CONFIRMED, CANCELLED = "confirmed", "cancelled"
HOLDING = (STARTING, UNPAID, REQUESTED, CONFIRMED)  # whose nights are held
GUEST, HOST, EXPIRED, ERASED, UNSTARTED = "guest", "host", "expired", "erased", "unstarted"  # who cancelled


class Booking(Base):
    __tablename__ = "stay_bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune: Mapped[str] = commune_column()
    code: Mapped[str] = mapped_column(String(16), unique=True)
    # One confirmation of one summary makes at most one booking (a double press, a retry).
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    stay_id: Mapped[str] = mapped_column(String(24), index=True)
    checkin: Mapped[dt.date] = mapped_column(Date, index=True)
    checkout: Mapped[dt.date] = mapped_column(Date)
    guests: Mapped[int] = mapped_column(Integer)
    price_vnd: Mapped[int] = mapped_column(Integer)  # a night, as the data had it when booked
    total_vnd: Mapped[int] = mapped_column(Integer)
    deposit_vnd: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str | None] = mapped_column(String(16))  # None: no deposit asked
    status: Mapped[str] = mapped_column(String(16), index=True)
    name_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    hold_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # for UNPAID: released after
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[int | None] = mapped_column(Integer)  # the host's user id
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(16))  # GUEST, HOST, EXPIRED, ERASED, UNSTARTED
    refund_vnd: Mapped[int | None] = mapped_column(Integer)  # of a paid deposit, by the rules
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refund_reference: Mapped[str | None] = mapped_column(String(64))  # "re_…" (Stripe), "user:12" (by hand)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def nights(self) -> int:
        return (self.checkout - self.checkin).days


class StayNight(Base):
    __tablename__ = "stay_nights"

    commune: Mapped[str] = mapped_column(String(4), primary_key=True)
    stay_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    night: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("stay_bookings.id", ondelete="CASCADE"), index=True)


class NightTaken(Exception):
    """A night of the booking is someone else's: nothing of the booking was written."""


def nights_of(checkin: dt.date, checkout: dt.date) -> list[dt.date]:
    return [checkin + dt.timedelta(days=n) for n in range((checkout - checkin).days)]


async def taken_nights(session: AsyncSession, commune: str, stay_id: str, first: dt.date,
                       last: dt.date) -> set[dt.date]:
    """The stay's nights from `first` to `last` (both included) that a booking holds."""
    rows = await session.scalars(select(StayNight.night).where(
        StayNight.commune == commune, StayNight.stay_id == stay_id, StayNight.night >= first,
        StayNight.night <= last))
    return set(rows)


async def next_code(session: AsyncSession) -> str:
    return f"{CODE_PREFIX}-{await next_number(session, CODE_PREFIX):06d}"


@dataclass(frozen=True, slots=True)
class Request:
    """What the guest asked for, as the summary they confirmed showed it."""

    stay_id: str
    checkin: dt.date
    checkout: dt.date
    guests: int
    price_vnd: int
    deposit_vnd: int
    provider: str | None
    name: str
    phone: str


def _seal(cipher: FieldCipher, value: str | None, field: str, code: str) -> str | None:
    return cipher.encrypt(value, f"stay_bookings.{field}:{code}") if value else None


def unseal(cipher: FieldCipher, booking: Booking, field: str) -> str | None:
    token = getattr(booking, f"{field}_enc")
    return cipher.decrypt(token, f"stay_bookings.{field}:{booking.code}") if token else None


async def book(session: AsyncSession, cipher: FieldCipher, request: Request, *, commune: str, user_id: int,
               request_key: str, status: str, hold_until: dt.datetime | None) -> Booking:
    """Writes the booking and holds its nights, in a savepoint of the caller's transaction; raises
    `NightTaken` (the savepoint rolled back: nothing written) when a night is already held."""
    try:
        async with session.begin_nested():
            code = await next_code(session)
            nights = nights_of(request.checkin, request.checkout)
            booking = Booking(
                commune=commune, code=code, request_key=request_key, user_id=user_id,
                stay_id=request.stay_id, checkin=request.checkin, checkout=request.checkout,
                guests=request.guests, price_vnd=request.price_vnd, total_vnd=request.price_vnd * len(nights),
                deposit_vnd=request.deposit_vnd, provider=request.provider, status=status,
                name_enc=_seal(cipher, request.name, "name", code),
                phone_enc=_seal(cipher, request.phone, "phone", code), hold_until=hold_until)
            session.add(booking)
            await session.flush()
            session.add_all([StayNight(commune=commune, stay_id=request.stay_id, night=night,
                                       booking_id=booking.id) for night in nights])
            await session.flush()
    except IntegrityError as clash:
        if await session.scalar(select(Booking.id).where(Booking.request_key == request_key)) is not None:
            raise  # the same summary confirmed twice at once: not a taken night
        raise NightTaken from clash
    return booking


async def by_code(session: AsyncSession, code: str, commune: str | None = None) -> Booking | None:
    query = select(Booking).where(Booking.code == code.strip().upper())
    if commune is not None:
        query = query.where(Booking.commune == commune)
    return await session.scalar(query)


async def move(session: AsyncSession, booking: Booking, source: Sequence[str], target: str,
               **values: object) -> bool:
    """A conditional status change (with the columns in `values`): True if this call made it. Cancelling
    frees the booking's nights in the same transaction."""
    result = await session.execute(
        update(Booking).where(Booking.id == booking.id, Booking.status.in_(tuple(source)))
        .values(status=target, **values).execution_options(synchronize_session=False))
    await session.refresh(booking)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if target == CANCELLED:
        await session.execute(delete(StayNight).where(StayNight.booking_id == booking.id))
    return True


async def cancel(session: AsyncSession, booking: Booking, source: Sequence[str], by: str,
                 refund_vnd: int | None = None, now: dt.datetime | None = None) -> bool:
    return await move(session, booking, source, CANCELLED, cancelled_at=now or utcnow(), cancelled_by=by,
                      refund_vnd=refund_vnd)


async def mark_paid(session: AsyncSession, code: str, paid_at: dt.datetime) -> Booking | None:
    """The deposit is paid: an UNPAID or STARTING booking becomes REQUESTED (the host confirms it); a
    cancelled one only records it (its money is to be refunded). None when the booking is unknown."""
    booking = await by_code(session, code)
    if booking is None:
        return None
    if booking.paid_at is None:
        await session.execute(update(Booking).where(Booking.id == booking.id, Booking.paid_at.is_(None))
                              .values(paid_at=paid_at).execution_options(synchronize_session=False))
        await move(session, booking, (UNPAID, STARTING), REQUESTED)
    return booking


async def of_stays(session: AsyncSession, commune: str, stay_ids: Sequence[str], since: dt.date,
                   limit: int = 20) -> list[Booking]:
    """The stays' bookings still standing whose stay ends on or after `since`, soonest first."""
    query = select(Booking).where(Booking.commune == commune, Booking.stay_id.in_(tuple(stay_ids)),
                                  Booking.status.in_(HOLDING), Booking.checkout >= since)
    return list(await session.scalars(query.order_by(Booking.checkin, Booking.id).limit(limit)))


async def of_user(session: AsyncSession, user_id: int, commune: str | None = None,
                  limit: int = 10) -> list[Booking]:
    query = select(Booking).where(Booking.user_id == user_id)
    if commune is not None:
        query = query.where(Booking.commune == commune)
    return list(await session.scalars(query.order_by(Booking.id.desc()).limit(limit)))


STUCK_AFTER = dt.timedelta(minutes=10)  # a card payment is started within seconds of its turn


async def expired_holds(session: AsyncSession, commune: str, now: dt.datetime,
                        limit: int = 50) -> list[Booking]:
    """The commune's unpaid bookings whose hold ran out, and those whose card payment has been starting
    for longer than `STUCK_AFTER` (the process of their turn died before it was recorded)."""
    query = select(Booking).where(Booking.commune == commune, or_(
        and_(Booking.status == UNPAID, Booking.hold_until < now),
        and_(Booking.status == STARTING, Booking.created_at < now - STUCK_AFTER)))
    return list(await session.scalars(query.order_by(Booking.id).limit(limit)))


async def mark_refunded(session: AsyncSession, booking: Booking, reference: str,
                        now: dt.datetime | None = None) -> bool:
    """Records that the refund owed was given back, once: True if this call recorded it."""
    result = await session.execute(
        update(Booking).where(Booking.id == booking.id, Booking.refund_vnd > 0, Booking.refunded_at.is_(None))
        .values(refunded_at=now or utcnow(), refund_reference=reference[:64])
        .execution_options(synchronize_session=False))
    await session.refresh(booking)
    return result.rowcount == 1  # type: ignore[attr-defined]


async def claim_reminder(session: AsyncSession, booking: Booking, now: dt.datetime) -> bool:
    """True once per booking: the node that sets its reminder's time sends it."""
    result = await session.execute(
        update(Booking).where(Booking.id == booking.id, Booking.reminded_at.is_(None))
        .values(reminded_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


async def arriving_on(session: AsyncSession, commune: str, day: dt.date, limit: int = 200) -> list[Booking]:
    """The commune's standing bookings checking in on `day` not yet reminded."""
    query = select(Booking).where(Booking.commune == commune, Booking.checkin == day,
                                  Booking.status.in_((REQUESTED, CONFIRMED)), Booking.reminded_at.is_(None))
    return list(await session.scalars(query.order_by(Booking.id).limit(limit)))


@dataclass(frozen=True, slots=True)
class Figures:
    by_status: dict[str, int]  # bookings made, by status
    nights_held: int  # in the window, standing bookings
    deposits_paid_vnd: int
    refunds_owed_vnd: int  # still to give back
    refunded_vnd: int


async def figures(session: AsyncSession, commune: str | None, first: dt.date, last: dt.date) -> Figures:
    """Bookings by status, nights held from `first` to `last`, deposits paid and refunds owed; of
    `commune` (None: every commune)."""
    def scoped(query):  # type: ignore[no-untyped-def]
        return query if commune is None else query.where(Booking.commune == commune)

    by_status = {str(status): int(count) for status, count in await session.execute(
        scoped(select(Booking.status, func.count()).group_by(Booking.status)))}
    nights_query = select(func.count()).select_from(StayNight).where(StayNight.night >= first,
                                                                     StayNight.night <= last)
    if commune is not None:
        nights_query = nights_query.where(StayNight.commune == commune)
    nights = int(await session.scalar(nights_query) or 0)
    paid = int(await session.scalar(scoped(select(func.coalesce(func.sum(Booking.deposit_vnd), 0))
                                           .where(Booking.paid_at.is_not(None)))) or 0)
    owed_query = select(func.coalesce(func.sum(Booking.refund_vnd), 0)).where(
        Booking.status == CANCELLED, Booking.refunded_at.is_(None))
    owed = int(await session.scalar(scoped(owed_query)) or 0)
    refunded = int(await session.scalar(scoped(select(func.coalesce(func.sum(Booking.refund_vnd), 0))
                                               .where(Booking.refunded_at.is_not(None)))) or 0)
    return Figures(by_status, nights, paid, owed, refunded)


async def made_on(session: AsyncSession, day_start: dt.datetime, day_end: dt.datetime,
                  commune: str | None) -> int:
    query = select(func.count()).select_from(Booking).where(Booking.created_at >= day_start,
                                                            Booking.created_at < day_end)
    if commune is not None:
        query = query.where(Booking.commune == commune)
    return int(await session.scalar(query) or 0)


async def deidentify(session: AsyncSession, user_id: int) -> int:
    """A guest erased: their bookings stay as records without name or phone."""
    result = await session.execute(
        update(Booking).where(Booking.user_id == user_id)
        .values(user_id=None, name_enc=None, phone_enc=None).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def exported(cipher: FieldCipher, booking: Booking) -> dict[str, object]:
    return {"code": booking.code, "stay": booking.stay_id, "checkin": booking.checkin.isoformat(),
            "checkout": booking.checkout.isoformat(), "guests": booking.guests,
            "total_vnd": booking.total_vnd,
            "deposit_vnd": booking.deposit_vnd, "payment": booking.provider, "status": booking.status,
            "paid_at": booking.paid_at.isoformat() if booking.paid_at else None,
            "refund_vnd": booking.refund_vnd,
            "refunded_at": booking.refunded_at.isoformat() if booking.refunded_at else None,
            "created_at": booking.created_at.isoformat(),
            "name": unseal(cipher, booking, "name"), "phone": unseal(cipher, booking, "phone")}
