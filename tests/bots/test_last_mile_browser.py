"""The last mile on a phone screen (headless Chromium, 360×740): the 115 answer looks different and
calls with one tap, addresses and phone numbers in messages can be tapped, and «🔊 Nghe» works inside
an open form without disturbing it. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.browser import CHROMIUM_FLAGS, artifact, chromium_path


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


@pytest.fixture
async def live_server(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[str]:
    server = TestServer(create_app(Assistant.build(settings, nlu=nlu_engine, database=database)),
                        host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def say(page: Page, text: str) -> str:
    """Types `text` as a villager does and returns the newest answer once it has come."""
    before = await page.locator(".xaso-bubble.xaso-bot").count()
    await page.fill("#xaso-input", text)
    await page.click("#xaso-send")
    await page.locator(".xaso-bubble.xaso-bot").nth(before).wait_for(timeout=15_000)
    return await page.locator(".xaso-bubble.xaso-bot").last.inner_text()


async def test_emergency_answer_calls_with_one_tap_and_looks_different(live_server: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 740}, locale="vi-VN")
            await page.goto(f"{live_server}/chat")
            await page.locator(".xaso-bubble.xaso-bot").first.wait_for(timeout=15_000)
            answer = await say(page, "ba toi kho tho, moi tim tai")
            assert "115" in answer
            alert = page.locator(".xaso-bubble.xaso-emergency")
            assert await alert.count() == 1 and await alert.get_attribute("role") == "alert"
            colour = await alert.evaluate("node => getComputedStyle(node).borderTopColor")
            assert colour == "rgb(197, 34, 31)"  # the red frame no other message has
            call = page.locator("a.xaso-call[href='tel:115']")
            assert await call.count() == 1 and "115" in await call.inner_text()
            assert await page.locator("a.xaso-call[href='tel:02083820115']").count() == 1
            assert await page.locator("a.xaso-inline-tel[href='tel:02083820115']").count() == 1
            assert await page.locator(".xaso-button[data-data^='listen:']").count() == 1
            await page.screenshot(path=str(artifact("webchat-emergency.png")), full_page=True)
        finally:
            await browser.close()


async def test_links_in_messages_can_be_tapped(live_server: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 740}, locale="vi-VN")
            await page.goto(f"{live_server}/chat")
            await page.locator(".xaso-bubble.xaso-bot").first.wait_for(timeout=15_000)
            await say(page, "dat lich kham tu xa voi benh vien huyen")
            await page.locator(".xaso-button[data-data^='appt:pick:remote:']").first.click()
            await page.locator(".xaso-button[data-data^='appt:book:']").first.wait_for(timeout=15_000)
            booked = await say(page, "dong y")
            assert "LH-" in booked
            video = page.locator("a[href^='https://meet.jit.si/']")
            assert await video.count() >= 1
            assert await video.first.get_attribute("target") == "_blank"
            await page.screenshot(path=str(artifact("webchat-links.png")), full_page=True)
        finally:
            await browser.close()
