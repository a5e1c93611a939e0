"""`/stats` for staff (core/roles.py): today's headline figures of the staff member's commune, from
bots/dashboard/headline.py — the same figures the dashboard serves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from backends.skills.store import learning_since
from backends.stats import Headline, start_of_day
from backends.tourism.bookings import made_on as bookings_made_on
from backends.tourism.store import views_on
from bots.dashboard.headline import headline
from bots.dialogue.base import Context
from core.messages import Button, Reply
from core.models import utcnow
from core.timezones import VIETNAM

# The staff desks /stats opens, by their button data: the reports' and the dossiers' staff-only families
# (declared in bots/services/reports/unit.py and bots/services/dossiers/unit.py; checked in core). Named
# here rather than imported, as no service imports another; tests/bots/services/stats checks that
# their services still declare them.
REPORTS_LIST = "report-admin:list"
DOSSIERS_QUEUE = "dossier-admin:queue"


def _number(value: float | None, context: Context) -> str:
    return context.t("stats.none") if value is None else f"{value:g}"


def render(context: Context, figures: Headline) -> str:
    channels = ", ".join(f"{channel} {count}" for channel, count in sorted(figures.active_users.items()))
    dossiers = ", ".join(f"{context.t(f'dossier.status.{status}')} {count}"
                         for status, count in figures.dossiers.items() if count)
    consults, reports = figures.consults, figures.reports
    at = figures.at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")
    if context.services.settings.several_communes:  # a province's: whose figures these are
        at = f"{context.services.commune.name}, {at}"
    return context.t(
        "stats.headline",
        at=at,
        messages=figures.messages_today,
        users=sum(figures.active_users.values()), channels=channels or context.t("stats.none"),
        dossiers=dossiers or context.t("stats.none"), overdue=figures.dossiers_overdue,
        consults_open=consults.open, consults_waiting=consults.waiting,
        oldest=_number(consults.oldest_wait_minutes, context),
        average=_number(consults.average_wait_minutes, context),
        reports_open=reports.open, reports_new=reports.new_today,
        reports_resolved=reports.by_status.get("resolved", 0) + reports.by_status.get("closed", 0),
        median=_number(reports.median_resolve_hours, context),
    )


@dataclass
class StatsDesk:
    clock: Callable[[], dt.datetime] = field(default=utcnow)

    async def stats(self, context: Context) -> list[Reply]:
        # The commune of the turn; a commune's own installation counts all it holds, as before.
        now = self.clock()
        commune = context.services.commune.code if context.services.settings.several_communes else None
        figures = await headline(context.session, now, commune)
        context.audit("stats.view")
        buttons = (Button(context.t("stats.button.reports"), REPORTS_LIST),
                   Button(context.t("stats.button.dossiers"), DOSSIERS_QUEUE))
        more = await self._visitors_and_learners(context, now, commune)
        return [Reply(f"{render(context, figures)}\n{more}", buttons)]

    async def _visitors_and_learners(self, context: Context, now: dt.datetime, commune: str | None) -> str:
        """Today's visitors (questions, places looked at, guide pages opened, homestays booked) and
        learners."""
        views = await views_on(context.session, now.astimezone(VIETNAM).date(), commune)
        learners, finished = await learning_since(context.session, start_of_day(now), commune)
        day_start = start_of_day(now)
        booked = await bookings_made_on(context.session, day_start, day_start + dt.timedelta(days=1), commune)
        return context.t("stats.visitors", questions=views.get("ask", 0), places=views.get("card", 0),
                         pages=views.get("page", 0), bookings=booked, learners=learners, finished=finished)
