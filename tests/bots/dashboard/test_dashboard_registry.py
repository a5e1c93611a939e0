"""The dashboard grows with the services: a provider added to the registry shows on the overview, in
/api/stats and on the map; one that fails is left out without taking the page down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bots.assistant import Assistant
from bots.dashboard import store
from bots.dashboard.figures import Bar, Figure, Layer, Marker, Registry, Section, StatsContext
from bots.dashboard.registry import default_registry
from bots.server import ASSISTANT, create_app
from core.config import Settings
from core.db import Database
from core.models import User, UserRole
from nlu.engine import NLUEngine


async def water_leaks(context: StatsContext) -> Section:
    return Section(key="water", title="Nước sạch", figures=(
        Figure("open", "dashboard.figure.open", 3, alert=True),), bars=(Bar("leak", "Rò rỉ", 2),))


async def water_layer(context: StatsContext) -> Layer:
    first = next(iter(context.hamlets))
    return Layer(key="water", title="Nước sạch", colour="#c62828",
                 markers=(Marker(first.id, 2, ("NS-000001", "NS-000002")),), unplaced=1)


async def broken(context: StatsContext) -> Section:
    raise RuntimeError("this service's table is missing")


@pytest.fixture
async def grown(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[TestClient]:
    assistant = Assistant.build(settings, nlu=nlu_engine, database=database)
    base = default_registry(assistant.assembly)
    registry = Registry(figures=(*base.figures, broken, water_leaks), layers=(water_layer, *base.layers),
                        extra=base.extra)
    app = create_app(assistant, dashboard=registry)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def staff_cookie(client: TestClient) -> str:
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        user = User(channel="telegram", external_id="officer", language="vi")
        session.add(user)
        await session.flush()
        session.add(UserRole(user_id=user.id, role="staff", granted_by="test"))
        session_id = await store.open_session(session, assistant.services.hasher, user.id, store.Lifetimes())
    client.session.cookie_jar.update_cookies({"xaso_dash": session_id})
    return session_id


async def test_an_added_provider_shows_everywhere_and_a_failing_one_is_left_out(grown: TestClient) -> None:
    await staff_cookie(grown)
    stats = await (await grown.get("/api/stats")).json()
    assert list(stats["sections"]) == ["messages", "dossiers", "consults", "payments", "reports", "orders",
                                       "announcements", "appointments", "skills", "tourism", "outbox",
                                       "audit", "water"]
    assert stats["sections"]["water"] == {"figures": {"open": 3}, "alerts": ["open"], "chart": {"leak": 2},
                                        "items": []}
    hamlet = stats["map"]["hamlets"][0]
    assert stats["map"]["layers"]["water"] == {"by_hamlet": {hamlet: 2}, "unplaced": 1}
    overview = await (await grown.get("/dashboard")).text()
    assert 'id="section-water"' in overview and "Nước sạch" in overview and "Rò rỉ" in overview
    page = await (await grown.get("/dashboard/map")).text()
    assert f'"by_hamlet": {{"{hamlet}": 2}}' in page and "Nước sạch: 1 chưa đặt được lên bản đồ." in page


async def test_the_map_data_cannot_break_out_of_its_block(grown: TestClient) -> None:
    assistant = grown.app[ASSISTANT]
    from backends.addresses.hamlets import Hamlet, Hamlets
    from bots.dashboard.web import Dashboard
    dashboard = Dashboard(assistant, default_registry(assistant.assembly))
    first, *others = dashboard.hamlets  # the commune is read once and frozen: replace the dashboard's copy
    hostile = Hamlet(first.id, "</script><script>alert(1)</script>", first.polygon)
    dashboard.hamlets = Hamlets([hostile, *others])
    page = dashboard.hamlet_features()
    from bots.dashboard.pages import Texts, map_body
    body = map_body(Texts(assistant.services.catalogue, "vi"), page, [])
    assert "</script><script>" not in body and "&lt;/script&gt;" in body


async def test_a_layer_draws_its_counts_on_the_map_offline(grown: TestClient) -> None:
    from playwright.async_api import async_playwright

    from tests.support.browser import CHROMIUM_FLAGS, artifact, chromium_path, only_server

    executable = chromium_path()
    session_id = await staff_cookie(grown)
    base = str(grown.make_url("")).rstrip("/")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            context = await browser.new_context(viewport={"width": 1024, "height": 768})
            outside = await only_server(context, base)
            await context.add_cookies([{"name": "xaso_dash", "value": session_id, "url": base}])
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            response = await page.goto(f"{base}/dashboard/map")
            assert response is not None and response.status == 200, response and response.status
            await page.wait_for_load_state("load")
            assert errors == []
            await page.locator("#map[data-ready='true']").wait_for()
            count = page.locator(".leaflet-tooltip.count")
            await count.first.wait_for()
            assert await count.all_inner_texts() == ["Nước sạch: 2"]
            circle = page.locator("path.leaflet-interactive:not(.hamlet)")
            assert await circle.count() == 1
            await circle.click(force=True)
            assert await page.locator(".leaflet-popup-content").inner_text() == "NS-000001, NS-000002"
            await page.screenshot(path=str(artifact("dashboard-map-layer.png")), full_page=True)
            assert outside == []
        finally:
            await browser.close()


async def test_today_starts_at_the_first_entry_of_the_day(database: Database) -> None:
    import datetime as dt

    from bots.dashboard.providers import first_seq_since
    from core.audit import AuditLog

    clock = [dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)]
    log = AuditLog(database, clock=lambda: clock[0])
    for hours in range(10):  # entries 1..10, one an hour from 10:00
        clock[0] = dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC) + dt.timedelta(hours=hours)
        await log.record("system", "message.text", subject="web")
    async with database.session() as session:
        assert await first_seq_since(session, dt.datetime(2026, 11, 24, 14, 30, tzinfo=dt.UTC)) == 6
        assert await first_seq_since(session, dt.datetime(2026, 11, 24, 14, tzinfo=dt.UTC)) == 5
        assert await first_seq_since(session, dt.datetime(2026, 11, 24, tzinfo=dt.UTC)) == 1
        assert await first_seq_since(session, dt.datetime(2026, 11, 25, tzinfo=dt.UTC)) == 11
