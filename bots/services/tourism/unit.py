"""Tourism and heritage: visitors find places by theme or near a shared location, read or hear each one's
story (in chat with «🔊 Nghe», or on its audio-guide page `/places/{id}` that its printed QR poster
opens), get itineraries for one or two days, and book a homestay with a deposit that its host confirms
(`/bookings`, role `host`). Data: data/tourism/ (docs/tourism.md)."""

from __future__ import annotations

from bots.dashboard.tourism import tourism_section
from bots.dialogue.service import Buttons, Command, DeskButton, MenuEntry, Panel, Role, Service, Task
from bots.services.kit import Kit
from bots.services.tourism.booking import FAMILY as STAY_FAMILY
from bots.services.tourism.booking import FLOW as STAY_FLOW
from bots.services.tourism.booking import BookingDesk
from bots.services.tourism.guide import FAMILY, FLOW, TourGuide
from bots.services.tourism.holdings import holdings
from bots.services.tourism.hosting import FAMILY as HOST_FAMILY
from bots.services.tourism.hosting import HostDesk, booking_tasks
from core.roles import PUBLIC, only

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("backends.tourism.store", "backends.tourism.bookings", "backends.tourism.hosts")


def service(kit: Kit) -> Service:
    booking, host = BookingDesk(kit.tourism), HostDesk(kit.tourism)
    guide = TourGuide(kit.tourism, booking)
    return Service(
        name="tourism",
        intents={"tourism_find": guide.start},
        states={FLOW: guide.typed, STAY_FLOW: booking.typed},
        commands=(Command("/bookings", only("host"), host.bookings),),
        buttons=(Buttons(FAMILY, PUBLIC, actions={
                     "themes": guide.themes_pressed, "theme": guide.theme_pressed,
                     "place": guide.place_pressed, "story": guide.story_pressed,
                     "map": guide.link_pressed, "page": guide.link_pressed,
                     "plans": guide.plans_pressed, "plan": guide.plan_pressed, "stays": guide.stays_pressed,
                     "guides": guide.guides_pressed, "guide": guide.guide_pressed},
                         handler=guide.unknown),
                 # The guest's own draft and bookings: each action checks the draft or the booking's owner.
                 Buttons(STAY_FAMILY, PUBLIC, actions={
                     "view": booking.view_pressed, "book": booking.book_pressed,
                     "in": booking.checkin_pressed, "nights": booking.nights_pressed,
                     "guests": booking.guests_pressed, "pay": booking.pay_pressed,
                     "confirm": booking.confirm_pressed, "abort": booking.abort_pressed,
                     "mine": booking.mine, "show": booking.show_pressed, "cancel": booking.cancel_pressed,
                     "cancelok": booking.cancel_confirmed}, handler=booking.unknown),
                 # Hosts, and staff acting for a stay whose owner is not on xaso (hosting.py checks which).
                 Buttons(HOST_FAMILY, only("host", "staff"), actions={
                     "confirm": host.confirm_pressed, "decline": host.decline_pressed,
                     "received": host.received_pressed, "refunded": host.refunded_pressed,
                     "list": host.list_pressed}, handler=host.unknown)),
        media={"location": guide.located},  # only right after the themes asked for it
        menu=(MenuEntry("tourism_find", 127),),
        roles=(Role("host", invite=host.invite, joined=host.joined),),
        desk_buttons=(DeskButton("host", "tourism.host.button.bookings", f"{HOST_FAMILY}:list"),),
        tasks=(Task("tourism-bookings", booking_tasks(kit.tourism)),),
        events={"tourism.place": "places_viewed", "tourism.story": "stories_heard",
                "tourism.plan": "plans_viewed", "tourism.guide": "guides_viewed",
                "tourism.booking": "stays_booked",
                "tourism.host_confirm": "stays_confirmed", "tourism.booking_cancel": "stays_cancelled",
                "tourism.refund": "deposits_refunded"},
        figures=(Panel(90, tourism_section(kit.tourism)),),
        i18n=("tourism.",),
        holdings=holdings(kit.tourism),
        desk=guide,
    )
