"""Read-only figures about village reports, for `/stats`, the dashboard (`/api/stats`, the map) and
`/reports`. Plain async functions over a session; nothing here changes a row.

Each takes `commune`: the figures of that commune's reports only (what its staff see); None counts
every commune's (a province-wide view, or a commune's own installation, where all are its own)."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.addresses.hamlets import Hamlets
from backends.reports.store import CLOSED, OPEN_STATUSES, RESOLVED, STATUSES, Report, ReportLink, in_commune
from core.timezones import VIETNAM

__all__ = ["OPEN_STATUSES", "ReportPoint", "counts_by_status", "linked_counts", "median_resolve_seconds",
           "new_today", "open_by_hamlet_and_kind", "open_points", "open_reports", "start_of_day"]


@dataclass(frozen=True, slots=True)
class ReportPoint:
    """One open report on the map: its own location, or its hamlet's centre (`approximate`)."""

    code: str
    kind: str
    status: str
    hamlet_id: str | None
    lat: float | None
    lon: float | None
    approximate: bool
    created_at: dt.datetime
    linked: int  # later reports of the same problem


def start_of_day(now: dt.datetime) -> dt.datetime:
    """Midnight of `now`'s day in Vietnam, as an aware UTC time."""
    local = now.astimezone(VIETNAM)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


async def open_reports(session: AsyncSession, *, hamlet_id: str | None = None, kind: str | None = None,
                       limit: int | None = None, commune: str | None = None) -> tuple[list[Report], int]:
    """Unresolved reports, oldest first, optionally of one hamlet and/or kind; and how many in all."""
    where = [Report.status.in_(OPEN_STATUSES)]
    if commune is not None:
        where.append(Report.commune == commune)
    if hamlet_id is not None:
        where.append(Report.hamlet_id == hamlet_id)
    if kind is not None:
        where.append(Report.kind == kind)
    query = select(Report).where(*where).order_by(Report.created_at, Report.id)
    rows = list((await session.execute(query.limit(limit) if limit else query)).scalars())
    total = (await session.execute(select(func.count()).select_from(Report).where(*where))).scalar_one()
    return rows, int(total)


async def linked_counts(session: AsyncSession, report_ids: list[int]) -> dict[int, int]:
    if not report_ids:
        return {}
    rows = await session.execute(select(ReportLink.report_id, func.count()).where(
        ReportLink.report_id.in_(report_ids)).group_by(ReportLink.report_id))
    return {int(report_id): int(count) for report_id, count in rows}


async def open_points(session: AsyncSession, hamlets: Hamlets, *, hamlet_id: str | None = None,
                      kind: str | None = None, commune: str | None = None) -> list[ReportPoint]:
    """Open reports with a place to pin them (in `hamlets`, the commune's), for the map."""
    reports, _ = await open_reports(session, hamlet_id=hamlet_id, kind=kind, commune=commune)
    links = await linked_counts(session, [r.id for r in reports])
    points = []
    for report in reports:
        lat, lon, approximate = report.lat, report.lon, False
        if lat is None or lon is None:
            hamlet = hamlets.get(report.hamlet_id) if report.hamlet_id else None
            centre = hamlet.centre() if hamlet is not None and hamlet.polygon else None
            lat, lon = centre if centre else (None, None)
            approximate = True
        points.append(ReportPoint(report.code, report.kind, report.status, report.hamlet_id, lat, lon,
                                  approximate, report.created_at, links.get(report.id, 0)))
    return points


async def open_by_hamlet_and_kind(session: AsyncSession, *,
                                  commune: str | None = None) -> dict[tuple[str | None, str], int]:
    """(hamlet id or None, kind) → number of open reports."""
    rows = await session.execute(in_commune(
        select(Report.hamlet_id, Report.kind, func.count()).where(Report.status.in_(OPEN_STATUSES)), commune)
        .group_by(Report.hamlet_id, Report.kind))
    return {(hamlet, kind): int(count) for hamlet, kind, count in rows}


async def counts_by_status(session: AsyncSession, *, commune: str | None = None) -> dict[str, int]:
    """Every status, with 0 for the ones no report is in."""
    rows = await session.execute(in_commune(select(Report.status, func.count()), commune)
                                 .group_by(Report.status))
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(count) for status, count in rows})
    return counts


async def new_today(session: AsyncSession, now: dt.datetime, *, commune: str | None = None) -> int:
    """Reports made since midnight (Vietnam time), linked ones not counted again."""
    query = in_commune(select(func.count()).select_from(Report).where(Report.created_at >= start_of_day(now)),
                       commune)
    return int((await session.execute(query)).scalar_one())


async def median_resolve_seconds(session: AsyncSession, since: dt.datetime | None = None, *,
                                 commune: str | None = None) -> float | None:
    """Median time from report to (latest) resolution, over resolved and closed reports; None if none."""
    query = in_commune(select(Report.created_at, Report.resolved_at).where(
        Report.status.in_((RESOLVED, CLOSED)), Report.resolved_at.is_not(None)), commune)
    if since is not None:
        query = query.where(Report.resolved_at >= since)
    spans = [(resolved - created).total_seconds() for created, resolved in await session.execute(query)]
    return statistics.median(spans) if spans else None
