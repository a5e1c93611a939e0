"""Tourism and heritage: visitors find places by theme or near a shared location, read or hear each one's
story (in chat with «🔊 Nghe», or on its audio-guide page `/places/{id}` that its printed QR poster
opens), and get itineraries for one or two days. Data: data/tourism/ (docs/tourism.md)."""

from __future__ import annotations

from bots.dashboard.tourism import tourism_section
from bots.dialogue.service import Buttons, MenuEntry, Panel, Service
from bots.services.kit import Kit
from bots.services.tourism.guide import FAMILY, FLOW, TourGuide
from core.roles import PUBLIC

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("backends.tourism.store",)


def service(kit: Kit) -> Service:
    guide = TourGuide(kit.tourism)
    return Service(
        name="tourism",
        intents={"tourism_find": guide.start},
        states={FLOW: guide.typed},
        buttons=(Buttons(FAMILY, PUBLIC, actions={
            "themes": guide.themes_pressed, "theme": guide.theme_pressed, "place": guide.place_pressed,
            "story": guide.story_pressed, "map": guide.link_pressed, "page": guide.link_pressed,
            "plans": guide.plans_pressed, "plan": guide.plan_pressed, "stays": guide.stays_pressed},
            handler=guide.unknown),),
        media={"location": guide.located},  # only right after the themes asked for it
        menu=(MenuEntry("tourism_find", 127),),
        events={"tourism.place": "places_viewed", "tourism.story": "stories_heard",
                "tourism.plan": "plans_viewed"},
        figures=(Panel(90, tourism_section(kit.tourism)),),
        i18n=("tourism.",),
        desk=guide,
    )
