"""The commune office's opening hours: `/hours` and the menu entry for everyone, the button
"hours:week" for the coming days, and `/hours-days-off` for staff (the next days the office is closed)."""

from __future__ import annotations

import datetime as dt

from bots.dialogue.base import Context
from bots.dialogue.menu import with_menu
from bots.dialogue.service import Buttons, Command, MenuEntry, Service
from bots.services.kit import Kit
from core.messages import Button, Reply
from core.roles import PUBLIC, only
from core.timezones import VIETNAM

TABLES: tuple[str, ...] = ()  # it stores nothing
FAMILY = "hours"


def service(kit: Kit) -> Service:
    calendar = kit.calendar

    async def hours(context: Context) -> list[Reply]:
        office = context.services.commune.office
        text = context.t("hours.now", hours=office.hours, address=office.address)
        return [Reply(text, (Button(context.t("hours.button.week"), f"{FAMILY}:week"),))]

    async def week(context: Context) -> list[Reply]:
        today = dt.datetime.now(VIETNAM).date()
        days = [today + dt.timedelta(days=n) for n in range(7)]
        lines = [context.t("hours.day_open" if calendar.is_working_day(day) else "hours.day_closed",
                           day=day.strftime("%d/%m")) for day in days]
        return [with_menu(context, "\n".join(lines))]

    async def days_off(context: Context) -> list[Reply]:
        today = dt.datetime.now(VIETNAM).date()
        closed = sorted(day for day in calendar.days_off if day >= today)[:5]
        listed = ", ".join(day.strftime("%d/%m/%Y") for day in closed)
        return [Reply(context.t("hours.days_off", days=listed))]

    return Service(
        name="opening_hours",
        commands=(Command("/hours", PUBLIC, hours), Command("/hours-days-off", only("staff"), days_off)),
        buttons=(Buttons(FAMILY, PUBLIC, actions={"week": week}),),
        menu=(MenuEntry("office_hours", 125),),
        intents={"office_hours": hours},
        i18n=("hours.",),
    )
