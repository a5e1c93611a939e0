"""Visitors on the dashboard: today's and the last seven days' questions, places looked at, stories
heard, guide pages opened (the QR posters) and itineraries viewed, and the places most looked at. Counts
only (backends/tourism/store.py). Homestay bookings: standing and waiting for their host, cancelled,
the next 30 days' occupancy (nights held of the nights the listed stays offer), deposits paid and
refunds owed (backends/tourism/bookings.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select

from backends.tourism import bookings
from backends.tourism.places import Tourism
from backends.tourism.store import ANY_PLACE, TourismView
from bots.dashboard.figures import Bar, Figure, Item, Section, StatsContext

WEEK = 7
LISTED = 5
OCCUPANCY_DAYS = 30


def tourism_section(tourism: Tourism) -> Callable[[StatsContext], Awaitable[Section]]:
    async def provider(context: StatsContext) -> Section:
        since = context.today - dt.timedelta(days=WEEK - 1)
        rows = (await context.session.execute(
            select(TourismView.day, TourismView.place, TourismView.kind, func.sum(TourismView.count))
            .where(TourismView.day >= since, *context.of_commune(TourismView.commune))
            .group_by(TourismView.day, TourismView.place, TourismView.kind))).all()
        today: dict[str, int] = {}
        week: dict[str, int] = {}
        by_place: dict[str, int] = {}
        for day, place, kind, count in rows:
            week[kind] = week.get(kind, 0) + int(count)
            if day == context.today:
                today[kind] = today.get(kind, 0) + int(count)
            if place != ANY_PLACE and kind in ("card", "story", "page", "audio") and place in tourism.places:
                by_place[place] = by_place.get(place, 0) + int(count)
        top = sorted(by_place.items(), key=lambda item: (-item[1], item[0]))[:LISTED]
        last = context.today + dt.timedelta(days=OCCUPANCY_DAYS - 1)
        held = await bookings.figures(context.session, context.commune, context.today, last)
        offered = len(tourism.stays) * OCCUPANCY_DAYS
        standing = sum(held.by_status.get(status, 0) for status in bookings.HOLDING)
        return Section(
            key="tourism", title="dashboard.section.tourism",
            figures=(Figure("questions_today", "dashboard.figure.tourism_questions_today",
                            today.get("ask", 0)),
                     Figure("places_today", "dashboard.figure.tourism_places_today", today.get("card", 0)),
                     Figure("questions_week", "dashboard.figure.tourism_questions_week", week.get("ask", 0)),
                     Figure("stories_week", "dashboard.figure.tourism_stories_week", week.get("story", 0)),
                     Figure("pages_week", "dashboard.figure.tourism_pages_week", week.get("page", 0)),
                     Figure("plans_week", "dashboard.figure.tourism_plans_week", week.get("plan", 0)),
                     Figure("guides_week", "dashboard.figure.tourism_guides_week", week.get("guide", 0)),
                     Figure("bookings", "dashboard.figure.tourism_bookings", standing),
                     Figure("bookings_waiting", "dashboard.figure.tourism_bookings_waiting",
                            held.by_status.get(bookings.REQUESTED, 0),
                            alert=held.by_status.get(bookings.REQUESTED, 0) > 0),
                     Figure("bookings_cancelled", "dashboard.figure.tourism_bookings_cancelled",
                            held.by_status.get(bookings.CANCELLED, 0)),
                     Figure("occupancy", "dashboard.figure.tourism_occupancy",
                            round(100 * held.nights_held / offered) if offered else None, unit="%"),
                     Figure("deposits", "dashboard.figure.tourism_deposits", held.deposits_paid_vnd,
                            unit="vnd"),
                     Figure("refunds", "dashboard.figure.tourism_refunds", held.refunds_owed_vnd, unit="vnd",
                            alert=held.refunds_owed_vnd > 0)),
            bars=tuple(Bar(place, tourism.places[place].title("vi"), count) for place, count in top),
            items=tuple(Item(place, (tourism.places[place].title("vi"), f"{count} lượt xem trong 7 ngày"))
                        for place, count in top),
        )

    return provider
