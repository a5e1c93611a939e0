"""Visitors in chat (intent `tourism_find`: «đi chơi ở đâu», «what to see», «homestay»): the themes, the
places of a theme or near a shared location, a place's card (its photo, hours, ticket, a map link that
searches it by name, its audio-guide page), its story to read or hear («🔊 Nghe»), and itineraries for
one or two days; the homestays (booked in bots/services/tourism/booking.py). Visitors are not
villagers: every text is in the visitor's language, English as well as Vietnamese, from data/tourism/
(backends/tourism/places.py).

Buttons `tour:…` are public and carry only ids of the data: an unknown one is answered with the themes.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from urllib.parse import quote

from backends.payments import format_vnd
from backends.tourism.places import THEMES, Place, Tourism
from backends.tourism.store import ANY_PLACE, count_view
from bots.dialogue.base import Context
from bots.services.tourism.booking import BookingDesk
from core.i18n import local
from core.identity import set_language
from core.messages import Button, Reply, call_button
from core.models import utcnow
from core.state import State
from core.text import fold
from core.timezones import VIETNAM

FAMILY = "tour"
FLOW = "tour"  # asked for a location: the next shared location is the visitor's, for places near it
LISTED = 5  # places a list offers as buttons (Zalo shows five a message)
NEAR = 4
# Words that choose a theme straight from the question («thác nào», «homestay», «lịch trình 2 ngày»).
THEME_WORDS = {
    "tea": ("che", "tea", "doi che", "tra"),
    "nature": ("thac", "suoi", "waterfall", "stream", "falls", "tam", "nature", "thien nhien"),
    "history": ("di tich", "atk", "lich su", "history", "historic", "relic", "bac ho", "dinh hoa"),
    "culture": ("van hoa", "culture", "lang nghe", "craft"),
}
PLAN_WORDS = ("lich trinh", "itinerary", "1 ngay", "2 ngay", "mot ngay", "hai ngay", "one day", "two day",
              "trip plan", "plan")
STAY_WORDS = ("homestay", "nha nghi", "ngu lai", "o lai", "qua dem", "stay", "nghi dem", "cho nghi",
              "dat phong", "thue phong", "phong trong", "room", "nha san", "cho ngu")
GUIDE_WORDS = ("huong dan vien", "hdv", "guide", "nguoi dan duong", "dan duong", "thuyet minh vien")
# The visitor's own bookings: «hủy đặt phòng», «phòng đã đặt», «my booking».
BOOKED_WORDS = ("huy dat phong", "phong da dat", "dat phong cua toi", "my booking", "cancel my booking",
                "my bookings", "huy phong")


# A visitor writing English gets English from then on (`/lang vi` goes back): two of these words and
# nothing but ASCII letters; «homestay», «tour» alone are Vietnamese too.
ENGLISH_WORDS = frozenset({
    "what", "where", "which", "how", "is", "are", "there", "the", "a", "an", "to", "see", "visit", "go",
    "any", "some", "places", "place", "around", "near", "nearby", "here", "we", "i", "can", "should",
    "stay", "tonight", "tomorrow", "trip", "tour", "things", "do", "for", "of", "in", "available", "plan",
})


def _english(text: str) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    return text.isascii() and sum(word in ENGLISH_WORDS for word in words) >= 2 \
        and all(word in ENGLISH_WORDS or len(word) > 2 for word in words)


def _said(text: str, words: tuple[str, ...]) -> bool:
    folded = f" {fold(text)} "
    return any(f" {word} " in folded or folded.strip().startswith(word) for word in words)


@dataclass
class TourGuide:
    tourism: Tourism
    booking: BookingDesk

    # -- what the visitor asked

    async def _count(self, context: Context, kind: str, place: str = ANY_PLACE) -> None:
        await count_view(context.session, utcnow().astimezone(VIETNAM).date(), context.services.commune.code,
                         kind, place)

    async def start(self, context: Context) -> list[Reply]:
        if not self.tourism:
            return [Reply(context.t("tourism.none"))]
        await self._count(context, "ask")
        text = context.incoming.text or ""
        prefix = ""
        if context.lang != "en" and _english(text):
            await set_language(context.session, context.identity.id, "en")
            context.extras["lang"] = "en"
            prefix = context.t("tourism.in_english") + "\n"
        if _said(text, GUIDE_WORDS) and not _said(text, ("audio guide", "thuyet minh di tich")):
            return _prefixed(prefix, self._guides(context))
        if _said(text, BOOKED_WORDS):
            return _prefixed(prefix, await self.booking.mine(context))
        if _said(text, STAY_WORDS):
            return _prefixed(prefix, self._stays(context))
        if _said(text, PLAN_WORDS):
            return _prefixed(prefix, self._plans(context))
        themes = [theme for theme, words in THEME_WORDS.items() if _said(text, words)]
        if len(themes) == 1:
            return _prefixed(prefix, self._theme(context, themes[0]))
        return [self._themes(context, prefix)]

    def _themes(self, context: Context, prefix: str = "") -> Reply:
        context.set_state(State(FLOW, {}))  # a location shared now is for places near it
        buttons = [Button(context.t(f"tourism.theme.{theme}"), f"{FAMILY}:theme:{theme}")
                   for theme in THEMES if self.tourism.of_theme(theme)]
        buttons.append(Button(context.t("tourism.button.plans"), f"{FAMILY}:plans"))
        buttons.append(Button(context.t("tourism.button.stays"), f"{FAMILY}:stays"))
        if self.tourism.guides:
            buttons.append(Button(context.t("tourism.button.guides"), f"{FAMILY}:guides"))
        return Reply(prefix + context.t("tourism.themes"), tuple(buttons), request_location=True)

    def _theme(self, context: Context, theme: str) -> list[Reply]:
        places = self.tourism.of_theme(theme)
        lang = context.lang
        lines = [f"• {place.title(lang)} — {place.text(place.area, lang)}" for place in places]
        return [Reply(context.t("tourism.theme_list", theme=context.t(f"tourism.theme.{theme}"),
                                places="\n".join(lines)),
                      (*self._place_buttons(context, places), self._back(context)))]

    def _place_buttons(self, context: Context, places: list[Place]) -> tuple[Button, ...]:
        return tuple(Button(place.title(context.lang), f"{FAMILY}:place:{place.id}")
                     for place in places[:LISTED])

    def _back(self, context: Context) -> Button:
        return Button(context.t("tourism.button.themes"), f"{FAMILY}:themes", means="back")

    # -- a place

    def card(self, context: Context, place: Place) -> Reply:
        lang = context.lang
        text = context.t("tourism.card", name=place.title(lang), area=place.text(place.area, lang),
                         hours=place.text(place.hours, lang), ticket=place.text(place.ticket, lang),
                         summary=place.text(place.summary, lang))
        base = context.services.settings.public_url.rstrip("/")
        return Reply(text, (
            Button(context.t("tourism.button.story"), f"{FAMILY}:story:{place.id}"),
            Button(context.t("tourism.button.map"), f"{FAMILY}:map:{place.id}", url=map_url(place)),
            Button(context.t("tourism.button.page"), f"{FAMILY}:page:{place.id}",
                   url=f"{base}/places/{place.id}?lang={lang}"),
            self._back(context)),
            image_url=f"{base}/tourism/img/{place.photo}" if place.photo else None)

    def story(self, context: Context, place: Place) -> Reply:
        """The audio guide in chat: the story, with «🔊 Nghe» whatever its length."""
        return Reply(f"🎧 {place.title(context.lang)}\n\n{place.text(place.story, context.lang)}",
                     (Button(context.t("tourism.button.page"), f"{FAMILY}:page:{place.id}",
                             url=f"{context.services.settings.public_url.rstrip('/')}/places/{place.id}"
                                 f"?lang={context.lang}"),
                      self._back(context)), listen=True)

    # -- buttons

    async def themes_pressed(self, context: Context) -> list[Reply]:
        return [self._themes(context)]

    async def theme_pressed(self, context: Context) -> list[Reply]:
        theme = context.pressed.arg
        if theme not in THEMES or not self.tourism.of_theme(theme):
            return [self._themes(context, context.t("unknown_button") + "\n")]
        return self._theme(context, theme)

    def _place(self, context: Context) -> Place | None:
        return self.tourism.places.get(context.pressed.arg)

    async def place_pressed(self, context: Context) -> list[Reply]:
        place = self._place(context)
        if place is None:
            return [self._themes(context, context.t("unknown_button") + "\n")]
        context.audit("tourism.place", subject=f"place:{place.id}")
        await self._count(context, "card", place.id)
        return [self.card(context, place)]

    async def story_pressed(self, context: Context) -> list[Reply]:
        place = self._place(context)
        if place is None:
            return [self._themes(context, context.t("unknown_button") + "\n")]
        context.audit("tourism.story", subject=f"place:{place.id}")
        await self._count(context, "story", place.id)
        return [self.story(context, place)]

    async def link_pressed(self, context: Context) -> list[Reply]:
        """`tour:map:<id>`, `tour:page:<id>` pressed on a channel that sends link buttons back as data
        (or typed): the link written out."""
        place = self._place(context)
        if place is None:
            return [self._themes(context, context.t("unknown_button") + "\n")]
        base = context.services.settings.public_url.rstrip("/")
        link = map_url(place) if context.pressed.action == "map" else \
            f"{base}/places/{place.id}?lang={context.lang}"
        return [Reply(f"{place.title(context.lang)}: {link}", (self._back(context),))]

    async def plans_pressed(self, context: Context) -> list[Reply]:
        return self._plans(context)

    def _plans(self, context: Context) -> list[Reply]:
        plans = list(self.tourism.itineraries.values())
        if not plans:
            return [self._themes(context, context.t("tourism.no_plans") + "\n")]
        return [Reply(context.t("tourism.plans"), (
            *(Button(local(dict(plan.title), context.lang), f"{FAMILY}:plan:{plan.id}") for plan in plans),
            self._back(context)))]

    async def plan_pressed(self, context: Context) -> list[Reply]:
        plan = self.tourism.itineraries.get(context.pressed.arg)
        if plan is None:
            return [self._themes(context, context.t("unknown_button") + "\n")]
        lines = [f"🗓 {local(dict(plan.title), context.lang)}"]
        visited: list[Place] = []
        for number, day in enumerate(plan.stops, 1):
            lines.append("\n" + context.t("tourism.day", number=number))
            for stop in day:
                place = self.tourism.places[stop.place]
                visited.append(place)
                note = local(dict(stop.note), context.lang)
                lines.append(f"{stop.time} · {place.title(context.lang)} — {note}")
        unique = list({place.id: place for place in visited}.values())
        context.audit("tourism.plan", subject=f"plan:{plan.id}")
        await self._count(context, "plan", plan.id)
        return [Reply("\n".join(lines), (*self._place_buttons(context, unique), self._back(context)))]

    async def stays_pressed(self, context: Context) -> list[Reply]:
        return self._stays(context)

    def _stays(self, context: Context) -> list[Reply]:
        if not self.tourism.stays:
            return [Reply(context.t("tourism.no_stays"), (self._back(context),))]
        return [self.booking.stays(context, self._back(context))]

    # -- local guides: listed, each with a card and a call button (the day is agreed on the phone)

    async def guides_pressed(self, context: Context) -> list[Reply]:
        return self._guides(context)

    def _guides(self, context: Context) -> list[Reply]:
        guides = list(self.tourism.guides.values())
        if not guides:
            return [Reply(context.t("tourism.no_guides"), (self._back(context),))]
        lines = [context.t("tourism.guide_line", name=local(dict(g.name), context.lang),
                           area=local(dict(g.area), context.lang), languages=_languages(context, g.languages),
                           price=format_vnd(g.price)) for g in guides]
        return [Reply(context.t("tourism.guides", guides="\n".join(lines)),
                      (*(Button(local(dict(g.name), context.lang), f"{FAMILY}:guide:{g.id}") for g in guides),
                       self._back(context)))]

    async def guide_pressed(self, context: Context) -> list[Reply]:
        guide = self.tourism.guides.get(context.pressed.arg)
        if guide is None:
            return self._guides(context)
        context.audit("tourism.guide", subject=f"guide:{guide.id}")
        await self._count(context, "guide", guide.id)
        base = context.services.settings.public_url.rstrip("/")
        text = context.t("tourism.guide_card", name=local(dict(guide.name), context.lang),
                         area=local(dict(guide.area), context.lang),
                         languages=_languages(context, guide.languages), group=guide.group,
                         price=format_vnd(guide.price), phone=guide.phone,
                         description=local(dict(guide.description), context.lang))
        return [Reply(text, (call_button(context.t("tourism.button.call", phone=guide.phone), guide.phone),
                             Button(context.t("tourism.button.guides"), f"{FAMILY}:guides", means="back")),
                      image_url=f"{base}/tourism/img/{guide.photo}" if guide.photo else None)]

    # -- a shared location, when asked for it

    async def located(self, context: Context) -> list[Reply] | None:
        """Places near a location shared right after the themes were offered; any other location goes
        to the services after this one (the health station, the address code)."""
        location = context.incoming.location
        if location is None or context.state is None or context.state.flow != FLOW or not self.tourism:
            return None
        context.set_state(None)
        await self._count(context, "near")
        near = self.tourism.near(location.lat, location.lon, NEAR)
        lines = [f"• {place.title(context.lang)} — {km:.0f} km" if km >= 1 else
                 f"• {place.title(context.lang)} — {context.t('tourism.here')}" for place, km in near]
        return [Reply(context.t("tourism.near", places="\n".join(lines)),
                      (*self._place_buttons(context, [place for place, _ in near]), self._back(context)))]

    async def typed(self, context: Context) -> list[Reply] | None:
        """The `tour` state waits only for a location: anything else is routed as usual."""
        if context.incoming.location is None:
            context.set_state(None)
        return None

    async def unknown(self, context: Context) -> list[Reply]:
        return [self._themes(context, context.t("unknown_button") + "\n")]


def _prefixed(prefix: str, replies: list[Reply]) -> list[Reply]:
    if not prefix or not replies:
        return replies
    return [dataclasses.replace(replies[0], text=prefix + replies[0].text), *replies[1:]]


def _languages(context: Context, languages: tuple[str, ...]) -> str:
    return ", ".join(context.t(f"tourism.language.{lang}") if context.services.catalogue.has(
        f"tourism.language.{lang}") else lang for lang in languages)


def map_url(place: Place) -> str:
    """A map that searches the place by its name (the coordinates in the data are approximate)."""
    return f"https://www.openstreetmap.org/search?query={quote(place.map_query)}"
