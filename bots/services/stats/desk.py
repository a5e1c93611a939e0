"""`/stats` for staff (core/roles.py): today's headline figures, from backends/stats.py — the same
functions the dashboard's `GET /api/stats` serves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from backends.stats import Headline, headline
from bots.dialogue.base import Context
from bots.services.reports.notify import STAFF_FAMILY
from core.messages import Button, Reply
from core.models import utcnow
from core.timezones import VIETNAM


def _number(value: float | None, context: Context) -> str:
    return context.t("stats.none") if value is None else f"{value:g}"


def render(context: Context, figures: Headline) -> str:
    channels = ", ".join(f"{channel} {count}" for channel, count in sorted(figures.active_users.items()))
    dossiers = ", ".join(f"{context.t(f'dossier.status.{status}')} {count}"
                         for status, count in figures.dossiers.items() if count)
    consults, reports = figures.consults, figures.reports
    return context.t(
        "stats.headline",
        at=figures.at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M"),
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
        figures = await headline(context.session, self.clock())
        context.audit("stats.view")
        buttons = (Button(context.t("stats.button.reports"), f"{STAFF_FAMILY}:list"),
                   Button(context.t("stats.button.dossiers"), "dossier-admin:queue"))
        return [Reply(render(context, figures), buttons)]
