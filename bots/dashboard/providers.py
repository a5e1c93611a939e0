"""The figures of the services that exist today, one provider each (see figures.py for the shape).

Each only counts; none reads an encrypted column, so the dashboard holds no personal data.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.health.consults import ANSWERED, CLOSED, OPEN, Consult
from backends.onestop.store import STATUSES, Dossier
from backends.onestop.workflow import OPEN_STATUSES
from backends.payments.ledger import CANCELLED, PENDING, SUCCEEDED, Payment
from backends.shop.orders import Order
from bots.dashboard.figures import Bar, Figure, Item, Layer, Section, StatsContext
from core.audit import AuditLog, VerifyResult
from core.models import AuditEntry, AuditHead, OutboxMessage
from core.outbox import DEAD
from core.outbox import STATUSES as OUTBOX_STATUSES

LISTED_DOSSIERS = 8
MESSAGE_ACTIONS = "message.%"  # one audit entry per message handled (core/middlewares.py AuditMessages)


def channel_label(channel: str) -> str:
    return f"dashboard.channel.{channel}"


async def first_seq_since(session: AsyncSession, since: dt.datetime) -> int:
    """The first audit entry at or after `since`, found by bisection on the primary key (entries are
    appended in time order), so that counting today's entries reads only today's rows."""
    low, high = 1, int(await session.scalar(select(AuditHead.seq)) or 0) + 1
    while low < high:
        middle = (low + high) // 2
        at = await session.scalar(select(AuditEntry.at).where(AuditEntry.seq == middle))
        if at is not None and at < since:
            low = middle + 1
        else:
            high = middle
    return low


async def messages(context: StatsContext) -> Section:
    """Messages handled today and the people who wrote them, by channel, from the audit log."""
    first = await first_seq_since(context.session, context.day_start)
    today = (AuditEntry.seq >= first, AuditEntry.action.like(MESSAGE_ACTIONS),
             AuditEntry.at >= context.day_start, *context.of_actors(context.day_start))
    rows = (await context.session.execute(
        select(AuditEntry.subject, func.count(), func.count(AuditEntry.actor.distinct()))
        .where(*today).group_by(AuditEntry.subject).order_by(AuditEntry.subject))).all()
    active = await context.session.scalar(select(func.count(AuditEntry.actor.distinct())).where(*today))
    by_channel = [(str(channel or "?"), int(count), int(people)) for channel, count, people in rows]
    return Section(
        key="messages", title="dashboard.section.messages",
        figures=(Figure("today", "dashboard.figure.messages_today", sum(row[1] for row in by_channel)),
                 Figure("active_users", "dashboard.figure.active_users", int(active or 0)),
                 *(Figure(f"active_{channel}", channel_label(channel), people)
                   for channel, _, people in by_channel)),
        bars=tuple(Bar(channel, channel_label(channel), count) for channel, count, _ in by_channel),
    )


async def dossiers(context: StatsContext) -> Section:
    """Dossiers by state, the open ones past their due date highlighted, and today's new ones."""
    mine = context.of_commune(Dossier.commune)
    counts = dict((await context.session.execute(
        select(Dossier.status, func.count()).where(*mine).group_by(Dossier.status))).all())
    overdue = await context.session.scalar(select(func.count()).select_from(Dossier).where(
        *mine, Dossier.status.in_(OPEN_STATUSES), Dossier.due_date < context.today))
    new_today = await context.session.scalar(select(func.count()).select_from(Dossier).where(
        *mine, Dossier.submitted_at >= context.day_start))
    overdue = int(overdue or 0)
    open_total = sum(int(counts.get(status, 0)) for status in OPEN_STATUSES)
    # The open ones due first (so the overdue) and today's new ones: what to act on.
    first = (await context.session.execute(
        select(Dossier.code, Dossier.status, Dossier.due_date).where(*mine, Dossier.status.in_(OPEN_STATUSES))
        .order_by(Dossier.due_date, Dossier.id).limit(LISTED_DOSSIERS))).all()
    return Section(
        key="dossiers", title="dashboard.section.dossiers",
        figures=(Figure("new_today", "dashboard.figure.new_today", int(new_today or 0)),
                 Figure("open", "dashboard.figure.open", open_total),
                 Figure("overdue", "dashboard.figure.overdue", overdue, alert=overdue > 0),
                 *(Figure(status, f"dashboard.status.{status}", int(counts.get(status, 0)))
                   for status in STATUSES)),
        bars=(*(Bar(status, f"dashboard.status.{status}", int(counts.get(status, 0))) for status in STATUSES),
              Bar("overdue", "dashboard.figure.overdue", overdue, alert=overdue > 0)),
        items=tuple(Item(code, (f"dashboard.status.{status}", due.strftime("%d/%m/%Y")),
                         alert=due < context.today) for code, status, due in first),
    )


def _minutes(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() / 60.0, 1)


async def consults(context: StatsContext) -> Section:
    """The doctors' queue: how many wait, the longest wait, and today's average time to an answer.
    Counts and times only: no health text is read."""
    mine = context.of_commune(Consult.commune)
    counts = dict((await context.session.execute(
        select(Consult.status, func.count()).where(*mine).group_by(Consult.status))).all())
    oldest = await context.session.scalar(select(func.min(Consult.created_at)).where(
        *mine, Consult.status == OPEN))
    answered = (await context.session.execute(
        select(Consult.created_at, Consult.answered_at)
        .where(*mine, Consult.answered_at >= context.day_start))).all()
    longest = _minutes(context.now - oldest) if oldest is not None else 0.0
    waits = [_minutes(done - asked) for asked, done in answered]
    average = round(sum(waits) / len(waits), 1) if waits else None
    late = longest >= context.services.settings.consult_escalate_minutes
    return Section(
        key="consults", title="dashboard.section.consults",
        figures=(Figure("waiting", "dashboard.figure.waiting", int(counts.get(OPEN, 0)), alert=late),
                 Figure("longest_wait_min", "dashboard.figure.longest_wait", longest, "min", alert=late),
                 Figure("answered_today", "dashboard.figure.answered_today", len(waits)),
                 Figure("average_wait_min", "dashboard.figure.average_wait", average, "min"),
                 Figure("answered", "dashboard.figure.in_conversation", int(counts.get(ANSWERED, 0))),
                 Figure("closed", "dashboard.figure.closed", int(counts.get(CLOSED, 0)))),
    )


async def payments(context: StatsContext) -> Section:
    """Payments started today by outcome, and the money received today by provider (a payment is
    the commune's whose order is)."""
    mine = (() if context.commune is None else
            (Payment.order_code.in_(select(Order.code).where(Order.commune == context.commune)),))
    started = dict((await context.session.execute(
        select(Payment.status, func.count()).where(*mine, Payment.created_at >= context.day_start)
        .group_by(Payment.status))).all())
    received = (await context.session.execute(
        select(Payment.provider, func.count(), func.coalesce(func.sum(Payment.amount_vnd), 0))
        .where(*mine, Payment.status == SUCCEEDED, Payment.paid_at >= context.day_start)
        .group_by(Payment.provider).order_by(Payment.provider))).all()
    pending_total = await context.session.scalar(
        select(func.coalesce(func.sum(Payment.amount_vnd), 0)).where(*mine, Payment.status == PENDING))
    return Section(
        key="payments", title="dashboard.section.payments",
        figures=(Figure("paid_today", "dashboard.figure.paid_today", sum(int(row[1]) for row in received)),
                 Figure("received_today_vnd", "dashboard.figure.received_today",
                        sum(int(row[2]) for row in received), "vnd"),
                 Figure("pending", "dashboard.figure.pending_payments",
                        await context.session.scalar(select(func.count()).select_from(Payment)
                                                     .where(*mine, Payment.status == PENDING)) or 0),
                 Figure("pending_vnd", "dashboard.figure.pending_amount", int(pending_total or 0), "vnd"),
                 Figure("cancelled_today", "dashboard.figure.cancelled_today",
                        int(started.get(CANCELLED, 0)))),
        bars=tuple(Bar(str(provider), f"dashboard.provider.{provider}", int(amount))
                   for provider, _, amount in received),
    )


async def outbox(context: StatsContext) -> Section:
    """Messages waiting to go out, and the dead letters staff can replay (a commune's: those to its
    people)."""
    if context.commune is None:
        stats = await context.services.outbox.stats()
    else:
        found = dict((await context.session.execute(
            select(OutboxMessage.status, func.count()).where(*context.of_users(OutboxMessage.user_id))
            .group_by(OutboxMessage.status))).all())
        stats = {status: int(found.get(status, 0)) for status in OUTBOX_STATUSES}
    dead = stats.get(DEAD, 0)
    return Section(
        key="outbox", title="dashboard.section.outbox",
        figures=tuple(Figure(status, f"dashboard.outbox.{status}", count, alert=status == DEAD and dead > 0)
                      for status, count in stats.items()),
        link="/dashboard/deadletters",
    )


class AuditFigures:
    """The audit log's size and whether its hash chain holds. Walking the chain reads every entry,
    so the verdict is kept for `ttl` seconds; `fresh()` forces a new walk (the audit page does)."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._checked: tuple[float, VerifyResult] | None = None
        self.__name__ = "audit"

    async def verdict(self, audit: AuditLog, fresh: bool = False) -> VerifyResult:
        now = time.monotonic()
        if fresh or self._checked is None or now - self._checked[0] > self.ttl:
            self._checked = (now, await audit.verify())
        return self._checked[1]

    async def __call__(self, context: StatsContext) -> Section:
        result = await self.verdict(context.services.audit)
        head = await context.session.scalar(select(AuditHead.seq)) or 0
        return Section(
            key="audit", title="dashboard.section.audit",
            figures=(Figure("entries", "dashboard.figure.audit_entries", int(head)),
                     Figure("chain_ok", "dashboard.figure.chain", result.ok, alert=not result.ok),
                     Figure("first_bad_seq", "dashboard.figure.first_bad", result.first_bad_seq,
                            alert=result.first_bad_seq is not None)),
            link="/dashboard/audit",
        )


async def dossier_layer(context: StatsContext) -> Layer:
    """Open dossiers on the map. Dossiers carry no hamlet or location (the address is free text,
    encrypted), so none can be placed: the layer counts them and says so."""
    open_total = await context.session.scalar(select(func.count()).select_from(Dossier).where(
        *context.of_commune(Dossier.commune), Dossier.status.in_(OPEN_STATUSES)))
    return Layer(key="dossiers", title="dashboard.layer.dossiers", colour="#1565c0", markers=(),
                 unplaced=int(open_total or 0), note="dashboard.map.dossiers_unplaced")
