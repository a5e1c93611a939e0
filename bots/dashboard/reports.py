"""Village reports on the dashboard: today's figures, the open ones by kind, the oldest waiting, and a
map layer of open reports by hamlet. Counts, codes and kinds only: a report's text is never read.

The headline figures come from `backends/stats.py` (`report_figures`), the same ones `/stats` shows
in chat, so both agree on what "today" is."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import ColumnElement, func, select

from backends.reports import queries
from backends.reports.kinds import KINDS
from backends.reports.store import Report
from bots.dashboard.figures import Bar, Figure, Item, Layer, Marker, Section, StatsContext
from bots.dashboard.headline import report_figures
from core.timezones import VIETNAM

LISTED_REPORTS = 8
STALE_AFTER = dt.timedelta(days=3)  # an open report older than this is drawn in red
MARKER_CODES = 5


def _age(context: StatsContext, created: dt.datetime) -> dt.timedelta:
    return context.now - created


def _open(context: StatsContext) -> tuple[ColumnElement[bool], ...]:
    return (*context.of_commune(Report.commune), Report.status.in_(queries.OPEN_STATUSES))


async def _open_reports(context: StatsContext, limit: int | None = None) -> list[Report]:
    """The commune's unresolved reports, oldest first."""
    query = select(Report).where(*_open(context)).order_by(Report.created_at, Report.id)
    return list((await context.session.execute(query.limit(limit) if limit else query)).scalars())


async def report_figures_section(context: StatsContext) -> Section:
    figures = await report_figures(context.session, context.now, context.commune)
    resolved_today = await context.session.scalar(select(func.count()).select_from(Report).where(
        *context.of_commune(Report.commune), Report.resolved_at >= context.day_start))
    by_kind = dict.fromkeys(KINDS, 0)
    for kind, count in await context.session.execute(
            select(Report.kind, func.count()).where(*_open(context)).group_by(Report.kind)):
        by_kind[kind] = by_kind.get(kind, 0) + int(count)
    oldest = await _open_reports(context, LISTED_REPORTS)
    stale = await context.session.scalar(select(func.count()).select_from(Report).where(
        *_open(context), Report.created_at < context.now - STALE_AFTER))
    stale = int(stale or 0)
    return Section(
        key="reports", title="dashboard.section.reports",
        figures=(Figure("open", "dashboard.figure.open_reports", figures.open, alert=stale > 0),
                 Figure("new_today", "dashboard.figure.reports_new_today", figures.new_today),
                 Figure("resolved_today", "dashboard.figure.resolved_today", int(resolved_today or 0)),
                 Figure("median_resolve_hours", "dashboard.figure.median_resolve",
                        figures.median_resolve_hours, "h"),
                 Figure("waiting_long", "dashboard.figure.reports_waiting_long", stale, alert=stale > 0),
                 *(Figure(f"status_{status}", f"report.status.{status}", count)
                   for status, count in figures.by_status.items())),
        bars=tuple(Bar(kind, f"report.kind.{kind}", count) for kind, count in by_kind.items() if count),
        items=tuple(Item(report.code, (f"report.kind.{report.kind}", f"report.status.{report.status}",
                                       report.created_at.astimezone(VIETNAM).strftime("%d/%m/%Y")),
                         alert=_age(context, report.created_at) > STALE_AFTER) for report in oldest),
    )


async def report_layer(context: StatsContext) -> Layer:
    """Open reports by hamlet: the hamlet picked, else the one their location falls in; the rest
    (outside every hamlet, or no place at all) are counted as unplaced."""
    counts: Counter[str] = Counter()
    codes: dict[str, list[str]] = {}
    unplaced = 0
    for report in await _open_reports(context):
        hamlet_id = report.hamlet_id
        if hamlet_id is None and report.lat is not None and report.lon is not None:
            found = context.hamlets.locate(report.lat, report.lon)
            hamlet_id = found.id if found is not None else None
        if hamlet_id is None or context.hamlets.get(hamlet_id) is None:
            unplaced += 1
            continue
        counts[hamlet_id] += 1
        codes.setdefault(hamlet_id, []).append(report.code)
    return Layer(key="reports", title="dashboard.layer.reports", colour="#c62828",
                 markers=tuple(Marker(hamlet_id, count, tuple(codes[hamlet_id][:MARKER_CODES]))
                               for hamlet_id, count in sorted(counts.items())),
                 unplaced=unplaced, note="dashboard.map.reports_unplaced" if unplaced else None)
