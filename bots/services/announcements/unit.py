"""Announcements of the commune loudspeaker system: staff write and schedule them (/announce),
villagers subscribe by topic and hear the latest; the scheduler publishes what is due."""

from __future__ import annotations

import asyncio

from bots.dashboard import commerce
from bots.dialogue.service import Buttons, Command, MenuEntry, Panel, Service, Task, TaskEnvironment
from bots.services.announcements import public, staff
from bots.services.announcements.scheduler import PUBLIC_FAMILY, Scheduler
from bots.services.kit import Kit
from core.roles import PUBLIC, only

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("backends.loudspeaker.store",)


def service(kit: Kit) -> Service:
    scheduler = Scheduler()

    async def publish_when_due(environment: TaskEnvironment, stop: asyncio.Event) -> None:
        scheduler.observe = environment.observe_audit  # published outside the pipeline: counted here
        await scheduler.run(environment.database, environment.services, stop)

    return Service(
        name="announcements",
        commands=(Command("/announce", only("staff"), staff.command),),
        buttons=(Buttons(staff.FAMILY, only("staff"), actions={
                     "cancel": staff.cancel, "hamlet": staff.hamlet, "all": staff.whole_commune,
                     "next": staff.audience_done, "topic": staff.topic, "when": staff.when,
                     "edit": staff.edit, "confirm": staff.confirm}, handler=staff.unknown),
                 Buttons(PUBLIC_FAMILY, PUBLIC, actions={
                     "hamlet": public.hamlet, "topic": public.topic, "settings": public.settings,
                     "latest": public.latest, "off": public.off, "done": public.done},
                         handler=public.unknown)),
        states={staff.FLOW: staff.typed},
        intents={"announcement_subscribe": public.settings, "announcement_latest": public.latest},
        menu=(MenuEntry("announcement_latest", 90), MenuEntry("announcement_subscribe", 100)),
        tasks=(Task("announcements", publish_when_due),),
        figures=(Panel(60, commerce.announcements),),
        events={"announce.published": "published", "announce.scheduled": "scheduled"},
        i18n=("announce.",),
        desk=scheduler,
    )
