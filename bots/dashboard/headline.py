"""Today's headline figures of one commune, for `/stats` in chat and the dashboard: the figures of
`backends/stats.py` (the same dataclasses, the same "today"), each query kept to the records of
`commune` (None: every record, on a commune's own installation or for the whole province).

Messages and active users are counted by the commune the writer belongs to (`users.commune`)."""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.health.consults import CLOSED as CONSULT_CLOSED
from backends.health.consults import OPEN as CONSULT_OPEN
from backends.health.consults import Consult
from backends.onestop.store import STATUSES as DOSSIER_STATUSES
from backends.onestop.store import Dossier
from backends.onestop.workflow import OPEN_STATUSES as DOSSIER_OPEN
from backends.reports.store import CLOSED, OPEN_STATUSES, RESOLVED, STATUSES, Report
from backends.stats import ConsultFigures, Headline, ReportFigures, start_of_day
from core.identity import SEEN_EVERY
from core.models import AuditEntry, User
from core.timezones import VIETNAM

MESSAGE_ACTIONS = "message.%"  # one audit entry per message handled (core/middlewares.py AuditMessages)


def of(column: Any, commune: str | None) -> tuple[ColumnElement[bool], ...]:
    return () if commune is None else (column == commune,)


def by_actor(commune: str | None, active_since: dt.datetime | None = None) -> tuple[ColumnElement[bool], ...]:
    """Audit entries written by the commune's people (`user:<id>`); with `active_since`, entries of that
    moment or later only, so that only the people seen since are listed (a user's `last_seen_at` lags
    their last message by `SEEN_EVERY` at most): a few hundred actors a day instead of every villager."""
    if commune is None:
        return ()
    people = [User.commune == commune]
    if active_since is not None:
        people.append(User.last_seen_at >= active_since - SEEN_EVERY)
    actors = select(literal("user:") + cast(User.id, String)).where(*people)
    return (AuditEntry.actor.in_(actors),)


async def messages_since(session: AsyncSession, since: dt.datetime, commune: str | None,
                         first_seq: int = 1) -> int:
    """Messages received since `since` from the commune's people (`first_seq`: an audit entry known to
    be no later than `since`, so that only the recent rows are read)."""
    query = select(func.count()).select_from(AuditEntry).where(
        AuditEntry.seq >= first_seq, AuditEntry.action.like(MESSAGE_ACTIONS), AuditEntry.at >= since,
        *by_actor(commune, since))
    return int((await session.execute(query)).scalar_one())


async def active_users_by_channel(session: AsyncSession, now: dt.datetime,
                                  commune: str | None) -> dict[str, int]:
    rows = await session.execute(select(User.channel, func.count()).where(
        User.last_seen_at >= start_of_day(now), *of(User.commune, commune)).group_by(User.channel))
    return {str(channel): int(count) for channel, count in rows}


async def dossiers_by_status(session: AsyncSession, commune: str | None) -> dict[str, int]:
    rows = await session.execute(select(Dossier.status, func.count())
                                 .where(*of(Dossier.commune, commune)).group_by(Dossier.status))
    counts = dict.fromkeys(DOSSIER_STATUSES, 0)
    counts.update({str(status): int(count) for status, count in rows})
    return counts


async def dossiers_overdue(session: AsyncSession, now: dt.datetime, commune: str | None) -> int:
    today = now.astimezone(VIETNAM).date()
    query = select(func.count()).select_from(Dossier).where(
        *of(Dossier.commune, commune), Dossier.status.in_(DOSSIER_OPEN), Dossier.due_date < today)
    return int((await session.execute(query)).scalar_one())


async def consult_figures(session: AsyncSession, now: dt.datetime, commune: str | None) -> ConsultFigures:
    mine = of(Consult.commune, commune)
    open_count = (await session.execute(select(func.count()).select_from(Consult).where(
        *mine, Consult.status != CONSULT_CLOSED))).scalar_one()
    created = list((await session.execute(select(Consult.created_at).where(
        *mine, Consult.status == CONSULT_OPEN))).scalars())
    waits = [max(0.0, (now - at).total_seconds() / 60) for at in created]
    return ConsultFigures(int(open_count), len(waits), round(max(waits), 1) if waits else None,
                          round(sum(waits) / len(waits), 1) if waits else None)


async def report_figures(session: AsyncSession, now: dt.datetime, commune: str | None) -> ReportFigures:
    mine = of(Report.commune, commune)
    rows = await session.execute(select(Report.status, func.count()).where(*mine).group_by(Report.status))
    by_status = dict.fromkeys(STATUSES, 0)
    by_status.update({str(status): int(count) for status, count in rows})
    new_today = (await session.execute(select(func.count()).select_from(Report).where(
        *mine, Report.created_at >= start_of_day(now)))).scalar_one()
    resolved = await session.execute(select(Report.created_at, Report.resolved_at).where(
        *mine, Report.status.in_((RESOLVED, CLOSED)), Report.resolved_at.is_not(None)))
    spans = [(done - created).total_seconds() for created, done in resolved if done is not None]
    median = statistics.median(spans) if spans else None
    return ReportFigures(sum(by_status[status] for status in OPEN_STATUSES), int(new_today), by_status,
                         round(median / 3600, 1) if median is not None else None)


async def headline(session: AsyncSession, now: dt.datetime, commune: str | None) -> Headline:
    """Everything `/stats` shows, for one commune."""
    return Headline(
        at=now,
        messages_today=await messages_since(session, start_of_day(now), commune),
        active_users=await active_users_by_channel(session, now, commune),
        dossiers=await dossiers_by_status(session, commune),
        dossiers_overdue=await dossiers_overdue(session, now, commune),
        consults=await consult_figures(session, now, commune),
        reports=await report_figures(session, now, commune),
    )
