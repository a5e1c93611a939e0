"""The commune's figures for staff: /stats in chat and /dashboard, a one-time login link to the web
dashboard (bots/dashboard/)."""

from __future__ import annotations

from bots.dialogue.service import Command, Service
from bots.services.kit import Kit
from bots.services.stats.dashboard_link import dashboard_link
from bots.services.stats.desk import StatsDesk
from core.roles import only

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("bots.dashboard.store",)


def service(kit: Kit) -> Service:
    desk = StatsDesk()
    return Service(
        name="stats",
        commands=(Command("/stats", only("staff"), desk.stats),
                  # The province's read-only role opens the dashboard too (every commune, no action).
                 Command("/dashboard", only("staff", "province"), dashboard_link)),
        i18n=("stats.", "dashboard."),
        desk=desk,
    )
