"""The payments ledger: one row per payment started, settled at most once.

A payment is for an order of any kind, named by its code: a shop order (`DH-…`), a homestay booking's
deposit (`DP-…`). It carries its order's commune, so that whoever settles it (a Stripe webhook, which
knows only the intent) speaks for that commune without asking which kind of order it is.

Settling is a conditional update (pending → succeeded) whose row count decides who won, so a
duplicate webhook, a retry and a staff click racing each other settle the payment exactly once.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backends.payments.base import PaidEvent, Payments, PaymentStart
from core.models import Base, UTCDateTime, commune_column, utcnow

log = logging.getLogger(__name__)
PENDING, SUCCEEDED, CANCELLED = "pending", "succeeded", "cancelled"


class Payment(Base):
    __tablename__ = "shop_payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_code: Mapped[str] = mapped_column(String(16), index=True)
    commune: Mapped[str] = commune_column()
    provider: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(128), unique=True)
    amount_vnd: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(64))


class PaymentEvent(Base):
    """Provider events already handled (Stripe's ``event.id``): the same delivery twice has one effect."""

    __tablename__ = "shop_payment_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


async def record(session: AsyncSession, order_code: str, amount_vnd: int, start: PaymentStart,
                 commune: str | None = None) -> Payment:
    """The payment a provider started for the order of `commune` (None: the installation's own, as the
    column's default has it), or the one already recorded under its reference."""
    existing = await session.scalar(select(Payment).where(Payment.reference == start.reference))
    if existing is not None:
        return existing
    payment = Payment(order_code=order_code, provider=start.provider, reference=start.reference,
                      amount_vnd=amount_vnd, status=PENDING)
    if commune is not None:
        payment.commune = commune
    session.add(payment)
    await session.flush()
    return payment


async def first_delivery(session: AsyncSession, event_id: str) -> bool:
    """True the first time an event id is seen; False for a duplicate delivery."""
    try:
        async with session.begin_nested():
            session.add(PaymentEvent(event_id=event_id))
    except IntegrityError:
        return False
    return True


async def settle(session: AsyncSession, payments: Payments, reference: str, *, confirmed_by: str,
                 amount_vnd: int | None = None, now: dt.datetime | None = None) -> PaidEvent | None:
    """Mark a pending payment paid and tell the listeners; None when it was not pending (already
    paid, cancelled, unknown) or the amount reported differs from the amount asked."""
    payment = await session.scalar(select(Payment).where(Payment.reference == reference))
    if payment is None:
        return None
    if amount_vnd is not None and amount_vnd != payment.amount_vnd:
        log.warning("payment %s reported %s VND, expected %s: not settled", reference, amount_vnd,
                    payment.amount_vnd)
        return None
    paid_at = now or utcnow()
    result = await session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == PENDING)
        .values(status=SUCCEEDED, paid_at=paid_at, confirmed_by=confirmed_by)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    event = PaidEvent(order_code=payment.order_code, provider=payment.provider, reference=reference,
                      amount_vnd=payment.amount_vnd, paid_at=paid_at, confirmed_by=confirmed_by)
    await payments.notify_paid(session, event)
    return event


async def cancel_pending(session: AsyncSession, order_code: str) -> int:
    """Cancel what is still pending for an order (the order was cancelled); returns how many."""
    result = await session.execute(
        update(Payment)
        .where(Payment.order_code == order_code, Payment.status == PENDING)
        .values(status=CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def payments_of(session: AsyncSession, order_code: str, status: str | None = None) -> list[Payment]:
    """The order's payments, oldest first; only those in `status` when given."""
    query = select(Payment).where(Payment.order_code == order_code)
    if status is not None:
        query = query.where(Payment.status == status)
    return list(await session.scalars(query.order_by(Payment.id)))
