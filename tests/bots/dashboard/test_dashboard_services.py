"""The services merged after the dashboard on its overview, in /api/stats and on the map: village
reports, shop orders, announcements and appointments, with exact figures against known data written
through the backends; and `/stats` in chat agreeing with it on today's reports."""

from __future__ import annotations

import datetime as dt

import pytest
from aiohttp.test_utils import TestClient

from backends.addresses.hamlets import Hamlets
from backends.health.appointments import book, cancel
from backends.health.roster import Slot
from backends.loudspeaker.store import PUBLISHED, SCHEDULED, Announcement, AnnouncementSubscription
from backends.reports import store as reports
from backends.shop.orders import SHIPPED, Delivery, Stock, create_order, mark_paid, move
from backends.stats import headline, start_of_day
from bots.server import ASSISTANT
from core.config import Settings
from core.messages import Reply
from core.models import User, utcnow
from core.timezones import VIETNAM
from tests.support.chat import texts
from tests.support.dashboard import logged_in_staff


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


class Delivered:
    """A channel that takes every message (no real sender drains it)."""

    name, per_chat_rate, global_rate = "test", float("inf"), float("inf")

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        return None


async def _known_data(client: TestClient) -> dict[str, str]:
    """Writes one of each through the backends; returns the codes and hamlets to expect."""
    assistant = client.app[ASSISTANT]
    services = assistant.services
    hamlets = Hamlets.from_commune(services.commune)
    first, second = list(hamlets)[:2]
    now = utcnow()
    day_end = start_of_day(now) + dt.timedelta(days=1)
    later_today = now + (day_end - now) / 2
    async with assistant.database.session() as session:
        people = [User(channel="test", external_id=f"v{n}", language="vi") for n in range(4)]
        session.add_all(people)
        await session.flush()
        villager, staff = people[0], people[3]
        # Reports: a stale one in the first hamlet, one placed by its location in the second, one with
        # no place at all, and one resolved today after three days.
        stale, _ = await reports.open_report(
            session, services.cipher, kind="road", description="ổ gà lớn", photo_id=None,
            place=reports.Place(first.id), reporter_id=villager.id, channel="test",
            now=now - dt.timedelta(days=5))
        lat, lon = second.centre()
        located, _ = await reports.open_report(
            session, services.cipher, kind="water", description="vỡ ống", photo_id=None,
            place=reports.Place(None, lat, lon), reporter_id=villager.id, channel="test", now=now)
        nowhere, _ = await reports.open_report(
            session, services.cipher, kind="other", description="?", photo_id=None,
            place=reports.Place(None), reporter_id=villager.id, channel="test", now=now)
        fixed, _ = await reports.open_report(
            session, services.cipher, kind="road", description="đèn hỏng", photo_id=None,
            place=reports.Place(first.id), reporter_id=villager.id, channel="test",
            now=now - dt.timedelta(days=3))
        await reports.resolve(session, services.cipher, fixed, staff_id=staff.id, note="đã sửa",
                              photo_id=None, now=now)
        # Orders: one paid today and shipped, one new; a product running low.
        delivery = Delivery("xóm 1", None, first.id, None)
        paid = await create_order(session, services.cipher, code="DH-900001", request_key="k1",
                                  user_id=villager.id, product_id="che-tan-cuong", seller_id="htx",
                                  quantity_milli=1000, unit="kg", unit_price=200_000, subtotal=200_000,
                                  shipping=15_000, provider="cash", delivery=delivery)
        await create_order(session, services.cipher, code="DH-900002", request_key="k2",
                           user_id=villager.id, product_id="che-tan-cuong", seller_id="htx",
                           quantity_milli=500, unit="kg", unit_price=200_000, subtotal=100_000,
                           shipping=15_000, provider="cash", delivery=delivery)
        await mark_paid(session, paid.code, now)
        assert await move(session, paid, ("new",), SHIPPED, now)
        session.add(Stock(product_id="mat-ong-thu", stock_milli=2_500))
        # Announcements: one published today to two subscribers, one scheduled; a third subscriber
        # stopped.
        common = {"topic": "general", "hamlets": [], "lang": "vi", "mp3_id": "m", "ogg_id": "o",
                  "duration": 3.0}
        published = Announcement(text="Họp xóm", status=PUBLISHED, publish_at=now, published_at=now,
                                 code="TB-900001", recipients=2, **common)
        session.add_all([published, Announcement(text="Tiêm phòng", status=SCHEDULED, code="TB-900002",
                                                 publish_at=now + dt.timedelta(days=1), **common)])
        session.add_all([AnnouncementSubscription(user_id=people[0].id, active=True),
                         AnnouncementSubscription(user_id=people[1].id, active=True),
                         AnnouncementSubscription(user_id=people[2].id, active=False)])
        await session.flush()
        for person in people[:2]:
            await services.outbox.enqueue(session, channel="test", chat_id=person.external_id,
                                          reply=Reply("Họp xóm"), key=f"ann:{published.id}:{person.id}",
                                          user_id=person.id)
        await services.outbox.enqueue(session, channel="test", chat_id="v0", reply=Reply("x"),
                                      key="report-other:1", user_id=villager.id)
        # Appointments: two today, one the day after tomorrow, one cancelled.
        for kind, at, who in (("station", later_today, people[0]), ("vaccination", later_today, people[1]),
                              ("station", now + dt.timedelta(days=2), people[2])):
            slot = Slot(kind=kind, starts_at=at.astimezone(VIETNAM), capacity=3, place="Trạm y tế",
                        video=False)
            assert (await book(session, services.cipher, slot, user_id=who.id, now=now)).outcome == "booked"
        slot = Slot(kind="station", starts_at=(now + dt.timedelta(days=3)).astimezone(VIETNAM), capacity=3,
                    place="Trạm y tế", video=False)
        dropped = await book(session, services.cipher, slot, user_id=people[3].id, now=now)
        assert dropped.appointment is not None and await cancel(session, dropped.appointment, now)
        codes = {"stale": stale.code, "located": located.code, "nowhere": nowhere.code, "first": first.id,
                 "second": second.id}
    await services.outbox.drain_once(Delivered())
    located_in = hamlets.locate(lat, lon)
    assert located_in is not None and located_in.id == second.id
    return codes


async def test_new_sections_serve_exact_figures(client: TestClient) -> None:
    known = await _known_data(client)
    await logged_in_staff(client)
    stats = await (await client.get("/api/stats")).json()
    sections = stats["sections"]
    reports_section = sections["reports"]
    assert reports_section["figures"] == {
        "open": 3, "new_today": 2, "resolved_today": 1, "median_resolve_hours": 72.0, "waiting_long": 1,
        "status_open": 3, "status_assigned": 0, "status_resolved": 1, "status_closed": 0}
    assert reports_section["alerts"] == ["open", "waiting_long"]
    assert reports_section["chart"] == {"road": 1, "water": 1, "other": 1}
    assert reports_section["items"] == [known["stale"], known["located"], known["nowhere"]]
    # Seller "htx" has no chat account: both open orders wait for staff to pass them on.
    assert sections["orders"] == {
        "figures": {"today": 2, "revenue_today_vnd": 215_000, "open": 2, "low_stock": 1,
                    "seller_unreachable": 2, "today_new": 1, "today_shipped": 1, "today_delivered": 0,
                    "today_cancelled": 0},
        "alerts": ["low_stock", "seller_unreachable"],
        "chart": {"new": 1, "shipped": 1, "delivered": 0, "cancelled": 0},
        "items": ["DH-900001", "DH-900002", "mat-ong-thu"]}
    assert sections["announcements"] == {
        "figures": {"published_today": 1, "scheduled": 1, "subscribers": 2, "delivered_today": 2},
        "alerts": [], "chart": {}, "items": []}
    assert sections["appointments"] == {
        "figures": {"booked_today": 3, "upcoming": 3, "for_today": 2}, "alerts": [],
        "chart": {"station": 1, "vaccination": 1}, "items": []}
    layers = stats["map"]["layers"]
    assert list(layers) == ["reports", "dossiers"]
    assert layers["reports"] == {"by_hamlet": {known["first"]: 1, known["second"]: 1}, "unplaced": 1}
    overview = await (await client.get("/dashboard")).text()
    assert 'id="section-reports"' in overview and "Phản ánh hiện trường" in overview
    assert 'class="figure alert" data-key="reports.waiting_long"' in overview
    assert f"<li class=alert><strong>{known['stale']}</strong> 🛣 Đường, cầu · mới tiếp nhận · " in overview
    assert "72 giờ" in overview and "215.000 đ" in overview and 'data-key="orders.low_stock"' in overview
    page = await (await client.get("/dashboard/map")).text()
    assert known["located"] in page and "Phản ánh chưa xử lý xong" in page


async def test_stats_in_chat_and_the_dashboard_agree_on_today(client: TestClient) -> None:
    await _known_data(client)
    chat, _ = await logged_in_staff(client)
    stats = await (await client.get("/api/stats")).json()
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        figures = await headline(session, utcnow())
    dashboard = stats["sections"]["reports"]["figures"]
    assert (figures.reports.open, figures.reports.new_today) == (dashboard["open"], dashboard["new_today"])
    assert figures.reports.median_resolve_hours == dashboard["median_resolve_hours"]
    assert figures.messages_today == stats["sections"]["messages"]["figures"]["today"]
    reply = texts(await chat.say("/stats"))
    assert "Phản ánh đang mở: 3, mới hôm nay: 2, đã xử lý: 1; thời gian xử lý trung vị: 72 giờ" in reply


def test_today_starts_at_midnight_in_the_commune() -> None:
    # 23:30 UTC on the 1st is 06:30 on the 2nd in Vietnam: today began at 17:00 UTC on the 1st.
    now = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    assert start_of_day(now) == dt.datetime(2026, 3, 1, 17, 0, tzinfo=dt.UTC)
    assert start_of_day(dt.datetime(2026, 3, 1, 16, 59, tzinfo=dt.UTC)) == dt.datetime(2026, 2, 28, 17, 0,
                                                                                      tzinfo=dt.UTC)
