"""The shop, announcements and appointments on the dashboard: counts and sums only (no address,
phone, reason or announcement text is read), "today" from midnight in the commune."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from backends.health.appointments import BOOKED, Appointment
from backends.loudspeaker.store import PUBLISHED, SCHEDULED, Announcement, AnnouncementSubscription
from backends.shop.catalogue import MILLI
from backends.shop.orders import CANCELLED, DELIVERED, NEW, OPEN_STATUSES, SHIPPED, Order, Stock
from backends.shop.sellers import SellerAccount, acting
from bots.dashboard.figures import Bar, Figure, Item, Section, StatsContext
from core.models import OutboxMessage
from core.outbox import SENT

ORDER_STATUSES = (NEW, SHIPPED, DELIVERED, CANCELLED)
LOW_STOCK_MILLI = 5 * MILLI  # fewer than five units (kg, bunches…) left: tell the sellers
LISTED_PRODUCTS = 8
# One outbox row per subscriber reached (bots/services/announcements/scheduler.py).
ANNOUNCEMENT_KEYS = "ann:%"


def _count(value: int | None) -> int:
    return int(value or 0)


async def orders(context: StatsContext) -> Section:
    """Today's orders by status, what was paid today, the open ones, and the stock running low."""
    session = context.session
    mine = context.of_commune(Order.commune)
    today = dict((await session.execute(select(Order.status, func.count())
                                        .where(*mine, Order.created_at >= context.day_start)
                                        .group_by(Order.status))).all())
    revenue = await session.scalar(select(func.coalesce(func.sum(Order.total_vnd), 0)).where(
        *mine, Order.paid_at >= context.day_start, Order.status != CANCELLED))
    open_total = await session.scalar(select(func.count()).select_from(Order)
                                      .where(*mine, Order.status.in_(OPEN_STATUSES)))
    with_account = select(SellerAccount.seller_id).where(acting())
    unreachable = (await session.execute(select(Order.code, Order.seller_id).where(
        *mine, Order.status.in_(OPEN_STATUSES), Order.seller_id.not_in(with_account))
        .order_by(Order.id))).all()
    # Stock is kept by product: a commune's are the products of its own catalogue.
    own_stock = () if context.products is None else (Stock.product_id.in_(sorted(context.products)),)
    low = (await session.execute(select(Stock.product_id, Stock.stock_milli)
                                 .where(*own_stock, Stock.stock_milli < LOW_STOCK_MILLI)
                                 .order_by(Stock.stock_milli, Stock.product_id))).all()
    return Section(
        key="orders", title="dashboard.section.orders",
        figures=(Figure("today", "dashboard.figure.orders_today", sum(_count(v) for v in today.values())),
                 Figure("revenue_today_vnd", "dashboard.figure.revenue_today", _count(revenue), "vnd"),
                 Figure("open", "dashboard.figure.open_orders", _count(open_total)),
                 Figure("low_stock", "dashboard.figure.low_stock", len(low), alert=bool(low)),
                 # Orders whose seller has no chat account: staff must pass them on by phone.
                 Figure("seller_unreachable", "dashboard.figure.seller_unreachable", len(unreachable),
                        alert=bool(unreachable)),
                 *(Figure(f"today_{status}", f"shop.status.{status}", _count(today.get(status)))
                   for status in ORDER_STATUSES)),
        bars=tuple(Bar(status, f"shop.status.{status}", _count(today.get(status)))
                   for status in ORDER_STATUSES),
        items=(*(Item(code, ("dashboard.item.seller_unreachable", seller), alert=True)
                 for code, seller in unreachable[:LISTED_PRODUCTS]),
               *(Item(product, ("dashboard.item.stock_left", f"{milli / MILLI:g}"), alert=True)
                 for product, milli in low[:LISTED_PRODUCTS])),
    )


async def announcements(context: StatsContext) -> Section:
    """Announcements published today and waiting, subscribers, and today's deliveries to them."""
    session = context.session
    mine = context.of_commune(Announcement.commune)
    published = await session.scalar(select(func.count()).select_from(Announcement).where(
        *mine, Announcement.status == PUBLISHED, Announcement.published_at >= context.day_start))
    scheduled = await session.scalar(select(func.count()).select_from(Announcement)
                                     .where(*mine, Announcement.status == SCHEDULED))
    # Subscribers and deliveries belong to the commune of the villager subscribed.
    subscribers = await session.scalar(select(func.count()).select_from(AnnouncementSubscription).where(
        *context.of_users(AnnouncementSubscription.user_id), AnnouncementSubscription.active.is_(True)))
    delivered = await session.scalar(select(func.count()).select_from(OutboxMessage).where(
        *context.of_users(OutboxMessage.user_id), OutboxMessage.key.like(ANNOUNCEMENT_KEYS),
        OutboxMessage.status == SENT, OutboxMessage.sent_at >= context.day_start))
    return Section(
        key="announcements", title="dashboard.section.announcements",
        figures=(Figure("published_today", "dashboard.figure.published_today", _count(published)),
                 Figure("scheduled", "dashboard.figure.scheduled", _count(scheduled)),
                 Figure("subscribers", "dashboard.figure.subscribers", _count(subscribers)),
                 Figure("delivered_today", "dashboard.figure.delivered_today", _count(delivered))),
    )


async def appointments(context: StatsContext) -> Section:
    """Appointments booked today, those still to come, and today's by kind."""
    session = context.session
    mine = context.of_commune(Appointment.commune)
    booked_today = await session.scalar(select(func.count()).select_from(Appointment).where(
        *mine, Appointment.created_at >= context.day_start, Appointment.status == BOOKED))
    upcoming = await session.scalar(select(func.count()).select_from(Appointment).where(
        *mine, Appointment.starts_at >= context.now, Appointment.status == BOOKED))
    tomorrow = context.day_start + dt.timedelta(days=1)
    by_kind = (await session.execute(
        select(Appointment.kind, func.count()).where(
            *mine, Appointment.status == BOOKED, Appointment.starts_at >= context.day_start,
            Appointment.starts_at < tomorrow).group_by(Appointment.kind).order_by(Appointment.kind))).all()
    return Section(
        key="appointments", title="dashboard.section.appointments",
        figures=(Figure("booked_today", "dashboard.figure.booked_today", _count(booked_today)),
                 Figure("upcoming", "dashboard.figure.upcoming", _count(upcoming)),
                 Figure("for_today", "dashboard.figure.appointments_for_today",
                        sum(_count(count) for _, count in by_kind))),
        bars=tuple(Bar(str(kind), f"appointments.kind.{kind}", _count(count)) for kind, count in by_kind),
    )
