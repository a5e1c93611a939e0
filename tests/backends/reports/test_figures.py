"""The figures the dashboard and /stats read, against known rows: reports by hamlet and kind with
their places, counts by status, today's new ones, the median time to resolve, and the headline."""

from __future__ import annotations

import datetime as dt

from backends.addresses.hamlets import Hamlets
from backends.health.consults import CLOSED, open_consult
from backends.onestop.store import Dossier
from backends.reports import queries
from backends.reports.store import Place, Report, assign, confirm, open_report, resolve
from backends.stats import headline
from bots.assistant import Assistant
from core.models import User

NOW = dt.datetime.now(dt.UTC)


async def _fill(assistant: Assistant) -> None:
    cipher = assistant.services.cipher
    async with assistant.database.session() as session:
        old = NOW - dt.timedelta(days=2)
        seen = [("web", NOW), ("web", NOW), ("web", NOW), ("telegram", NOW), ("web", old)]
        users = [User(channel=channel, external_id=f"{channel}-{n}", last_seen_at=at)
                 for n, (channel, at) in enumerate(seen)]
        session.add_all(users)
        await session.flush()
        today, day = NOW.date(), dt.timedelta(days=3)
        for n, (status, due) in enumerate([("received", today - day), ("processing", today + day),
                                           ("needs_info", today - day), ("approved", today - day)]):
            session.add(Dossier(code=f"LB-2026-00000{n + 1}", procedure_id="birth_registration",
                                user_id=users[0].id, status=status, values_enc="x", papers={},
                                submitted_at=NOW, due_date=due))
        for minutes, status in ((30, "open"), (10, "open"), (50, "answered"), (90, CLOSED)):
            consult = await open_consult(session, cipher, user_id=users[1].id, who="self", age=40,
                                         symptoms="ho", since="hôm qua", photo_id=None,
                                         now=NOW - dt.timedelta(minutes=minutes))
            consult.status = status

        async def report(kind: str, place: Place, hours_ago: float) -> Report:
            made, _ = await open_report(session, cipher, kind=kind, description="…", photo_id=None,
                                        place=place, reporter_id=users[2].id, channel="web",
                                        now=NOW - dt.timedelta(hours=hours_ago))
            return made

        kem, la_cut = Place("kem", 21.675, 105.59), Place("la_cut")
        await report("waste", kem, 0.5)
        await report("waste", la_cut, 0.2)
        await report("power", la_cut, 0.1)
        two_hours = await report("road", kem, 30)
        four_hours = await report("road", la_cut, 40)
        await assign(session, two_hours, users[0].id, NOW - dt.timedelta(hours=29))
        await resolve(session, cipher, two_hours, staff_id=users[0].id, note="ok", photo_id=None,
                      now=NOW - dt.timedelta(hours=28))
        await resolve(session, cipher, four_hours, staff_id=users[0].id, note="ok", photo_id=None,
                      now=NOW - dt.timedelta(hours=36))
        await confirm(session, four_hours, users[2].id, NOW - dt.timedelta(hours=35))
    for _ in range(4):
        await assistant.services.audit.record("user:1", "message.text", subject="web")
    await assistant.services.audit.record("user:1", "report.view", subject="report:PA-000001")


async def test_report_queries_for_the_dashboard(assistant: Assistant) -> None:
    await _fill(assistant)
    hamlets = Hamlets.from_commune(assistant.services.commune)
    async with assistant.database.session() as session:
        points = await queries.open_points(session, hamlets)
        by_place = await queries.open_by_hamlet_and_kind(session)
        by_status = await queries.counts_by_status(session)
        new = await queries.new_today(session, NOW)
        median = await queries.median_resolve_seconds(session)
        only_la_cut, total = await queries.open_reports(session, hamlet_id="la_cut", kind="waste")
    assert [p.code for p in points] == ["PA-000001", "PA-000002", "PA-000003"]  # oldest first
    located, approximate = points[0], points[1]
    assert (located.lat, located.lon, located.approximate) == (21.675, 105.59, False)
    assert approximate.approximate and approximate.lat == hamlets.get("la_cut").centre()[0]  # type: ignore[union-attr]
    assert by_place == {("kem", "waste"): 1, ("la_cut", "waste"): 1, ("la_cut", "power"): 1}
    assert by_status == {"open": 3, "assigned": 0, "resolved": 1, "closed": 1}
    # The two resolved reports took 2 h and 4 h: the median is 3 h.
    assert median == 3 * 3600
    assert [r.code for r in only_la_cut] == ["PA-000002"] and total == 1
    assert new == sum(1 for p in points if queries.start_of_day(NOW) <= p.created_at)


async def test_headline_figures(assistant: Assistant) -> None:
    await _fill(assistant)
    async with assistant.database.session() as session:
        figures = await headline(session, NOW)
    assert figures.messages_today == 4
    assert figures.active_users == {"web": 3, "telegram": 1}
    assert figures.dossiers == {"received": 1, "processing": 1, "needs_info": 1, "approved": 1, "rejected": 0,
                                "delivered": 0}
    assert figures.dossiers_overdue == 2  # received and needs_info past due; approved is done
    consults = figures.consults
    assert (consults.open, consults.waiting) == (3, 2)
    assert 29.9 <= consults.oldest_wait_minutes <= 31 and 19.9 <= consults.average_wait_minutes <= 21  # type: ignore[operator]
    assert figures.reports.open == 3 and figures.reports.median_resolve_hours == 3.0
    as_json = figures.to_json()
    assert as_json["reports"]["by_status"]["closed"] == 1 and as_json["consults"]["waiting"] == 2
