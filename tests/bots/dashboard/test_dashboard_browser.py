"""The dashboard in headless Chromium against the real server: log in through the one-time link from
chat, watch a villager's dossier arrive, replay a dead letter, and draw the hamlet map with every
request outside the server refused (the map must work offline); a village report made in chat then
appears on it. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, async_playwright

from backends.addresses.hamlets import Hamlets
from bots.server import ASSISTANT
from core.config import Settings
from tests.support.browser import CHROMIUM_FLAGS, artifact, chromium_path, only_server
from tests.support.chat import ChatSession
from tests.support.dashboard import dead_letter_pending, known_data, login_token, member
from tests.support.dossiers import submit
from tests.support.reports import KEM, report_by_location


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def figure(page: Page, key: str) -> str:
    return await page.locator(f'[data-key="{key}"] .value').inner_text()


async def test_log_in_see_a_dossier_arrive_replay_and_map_offline(client: TestClient) -> None:
    executable = chromium_path()
    base = str(client.make_url("")).rstrip("/")
    await known_data(client)
    await dead_letter_pending(client)
    token = await login_token(client, await member(client))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
            outside = await only_server(context, base)
            page = await context.new_page()
            errors: list[str] = []
            page.on("console",
                    lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))

            # Before login: refused.
            response = await page.goto(f"{base}/dashboard")
            assert response is not None and response.status == 401

            # The one-time link from the chat, then the button.
            await page.goto(f"{base}/dashboard/login?token={token}")
            await page.click("#login")
            await page.wait_for_url(f"{base}/dashboard")
            assert await figure(page, "dossiers.open") == "4"
            assert await page.locator('.figure.alert[data-key="dossiers.overdue"]').count() == 1
            before = int(await figure(page, "dossiers.new_today"))
            await page.screenshot(path=str(artifact("dashboard-overview.png")), full_page=True)

            # A villager submits a dossier through the web chat API; it shows on the next load.
            await submit(client)
            await page.reload()
            assert int(await figure(page, "dossiers.new_today")) == before + 1
            assert await figure(page, "dossiers.open") == "5"
            await page.screenshot(path=str(artifact("dashboard-overview-after-dossier.png")), full_page=True)

            # Replay the dead letter: it leaves the queue.
            await page.click("nav a[href='/dashboard/deadletters']")
            assert await page.locator("#dead-1").count() == 1
            await page.screenshot(path=str(artifact("dashboard-deadletters.png")), full_page=True)
            await page.click("#dead-1 button.replay")
            await page.locator("#replayed").wait_for()
            assert await page.locator("#dead-1").count() == 0
            assert (await client.app[ASSISTANT].services.outbox.stats())["dead"] == 0

            # The map: hamlet outlines drawn from commune.yml, with nothing fetched from outside.
            await page.click("nav a[href='/dashboard/map']")
            await page.locator("#map[data-ready='true']").wait_for()
            outlined = [h for h in Hamlets.from_commune(client.app[ASSISTANT].services.commune) if h.polygon]
            assert outlined
            await page.locator("path.hamlet").nth(len(outlined) - 1).wait_for()
            assert await page.locator("path.hamlet").count() == len(outlined)
            assert await page.locator("img.leaflet-tile").count() == 0
            await page.screenshot(path=str(artifact("dashboard-map.png")), full_page=True)

            # A villager reports rubbish in Xóm Kèm through the chat: it shows on the map, first layer.
            villager = await ChatSession.open(client)
            answer = await report_by_location(villager, "rác thải đổ bừa bãi cạnh suối", KEM)
            code = re.search(r"PA-\d{6}", answer).group(0)  # type: ignore[union-attr]
            await page.reload()
            await page.locator("#map[data-ready='true']").wait_for()
            count = page.locator(".leaflet-tooltip.count")
            await count.first.wait_for()
            assert await count.all_inner_texts() == ["Phản ánh chưa xử lý xong: 1"]
            await page.locator("path.leaflet-interactive:not(.hamlet)").click(force=True)
            assert code in await page.locator(".leaflet-popup-content").inner_text()
            await page.screenshot(path=str(artifact("dashboard-map-report.png")), full_page=True)

            # The audit log with its verdict, then on a phone.
            await page.click("nav a[href='/dashboard/audit']")
            assert "nguyên vẹn" in (await page.locator("#chain").inner_text()).lower()
            await page.set_viewport_size({"width": 360, "height": 740})
            await page.goto(f"{base}/dashboard")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, width
            await page.screenshot(path=str(artifact("dashboard-phone.png")), full_page=True)

            # Log out: the session is gone.
            await page.click("nav form button")
            response = await page.goto(f"{base}/dashboard")
            assert response is not None and response.status == 401
            assert outside == [] and not [e for e in errors if "401" not in e], (outside, errors)
        finally:
            await browser.close()
