"""The commune's headline figures for today: plain async functions over a session, shared by `/stats`
in chat and the dashboard's `GET /api/stats`. "Today" starts at midnight in Vietnam."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.health.consults import CLOSED as CONSULT_CLOSED
from backends.health.consults import OPEN as CONSULT_OPEN
from backends.health.consults import Consult
from backends.onestop.store import STATUSES as DOSSIER_STATUSES
from backends.onestop.store import Dossier
from backends.onestop.workflow import OPEN_STATUSES as DOSSIER_OPEN
from backends.reports import queries as reports
from core.models import AuditEntry, User
from core.timezones import VIETNAM

start_of_day = reports.start_of_day  # "today" for /stats and the dashboard alike: midnight in Vietnam


async def messages_today(session: AsyncSession, now: dt.datetime) -> int:
    """Messages received since midnight: the pipeline audits each one (`message.<kind>`)."""
    query = select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action.like("message.%"), AuditEntry.at >= start_of_day(now))
    return int((await session.execute(query)).scalar_one())


async def active_users_by_channel(session: AsyncSession, now: dt.datetime) -> dict[str, int]:
    """Users seen since midnight, per channel (the last-seen time is refreshed every few minutes)."""
    rows = await session.execute(select(User.channel, func.count()).where(
        User.last_seen_at >= start_of_day(now)).group_by(User.channel))
    return {str(channel): int(count) for channel, count in rows}


async def dossiers_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Dossier.status, func.count()).group_by(Dossier.status))
    counts = dict.fromkeys(DOSSIER_STATUSES, 0)
    counts.update({str(status): int(count) for status, count in rows})
    return counts


async def dossiers_overdue(session: AsyncSession, now: dt.datetime) -> int:
    """Open dossiers whose legal due date has passed."""
    today = now.astimezone(VIETNAM).date()
    query = select(func.count()).select_from(Dossier).where(
        Dossier.status.in_(DOSSIER_OPEN), Dossier.due_date < today)
    return int((await session.execute(query)).scalar_one())


@dataclass(frozen=True, slots=True)
class ConsultFigures:
    open: int  # not closed (waiting for a doctor, or answered and still going)
    waiting: int  # not answered yet
    oldest_wait_minutes: float | None
    average_wait_minutes: float | None


async def consult_figures(session: AsyncSession, now: dt.datetime) -> ConsultFigures:
    open_count = (await session.execute(select(func.count()).select_from(Consult).where(
        Consult.status != CONSULT_CLOSED))).scalar_one()
    created = list((await session.execute(select(Consult.created_at).where(
        Consult.status == CONSULT_OPEN))).scalars())
    waits = [max(0.0, (now - at).total_seconds() / 60) for at in created]
    return ConsultFigures(int(open_count), len(waits), round(max(waits), 1) if waits else None,
                          round(sum(waits) / len(waits), 1) if waits else None)


@dataclass(frozen=True, slots=True)
class ReportFigures:
    open: int
    new_today: int
    by_status: dict[str, int]
    median_resolve_hours: float | None


async def report_figures(session: AsyncSession, now: dt.datetime) -> ReportFigures:
    by_status = await reports.counts_by_status(session)
    median = await reports.median_resolve_seconds(session)
    open_count = sum(by_status[status] for status in reports.OPEN_STATUSES)
    return ReportFigures(open_count, await reports.new_today(session, now), by_status,
                         round(median / 3600, 1) if median is not None else None)


@dataclass(frozen=True, slots=True)
class Headline:
    at: dt.datetime
    messages_today: int
    active_users: dict[str, int]
    dossiers: dict[str, int]
    dossiers_overdue: int
    consults: ConsultFigures
    reports: ReportFigures

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


async def headline(session: AsyncSession, now: dt.datetime) -> Headline:
    """Everything `/stats` shows, in one read."""
    return Headline(
        at=now,
        messages_today=await messages_today(session, now),
        active_users=await active_users_by_channel(session, now),
        dossiers=await dossiers_by_status(session),
        dossiers_overdue=await dossiers_overdue(session, now),
        consults=await consult_figures(session, now),
        reports=await report_figures(session, now),
    )
