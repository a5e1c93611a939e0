"""The web chat page in a real browser (headless Chromium) against the real server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.browser import CHROMIUM_FLAGS, artifact, chromium_path


@pytest.fixture
async def live_server(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[str]:
    server = TestServer(create_app(Assistant.build(settings, nlu=nlu_engine, database=database)),
                        host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_greeting_menu_and_a_click_on_a_phone_screen(live_server: str, tmp_path) -> None:
    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 740}, locale="vi-VN")
            await page.goto(f"{live_server}/chat")
            greeting = page.locator(".xaso-bubble.xaso-bot").first
            await greeting.wait_for(timeout=15_000)
            assert "Xin chào" in await greeting.inner_text()
            menu = page.locator(".xaso-button[data-data^='menu:']")
            assert await menu.count() >= 13
            await page.screenshot(path=str(artifact("webchat-greeting.png")), full_page=True)

            await page.locator(".xaso-button[data-data='menu:my_data']").first.click()
            await page.locator(".xaso-bubble.xaso-bot").nth(1).wait_for(timeout=15_000)
            assert "Dữ liệu của bạn" in await page.locator(".xaso-bubble.xaso-bot").last.inner_text()

            await page.fill("#xaso-input", "cam on")
            await page.click("#xaso-send")
            await page.locator(".xaso-bubble.xaso-bot").nth(2).wait_for(timeout=15_000)
            assert "Không có gì" in await page.locator(".xaso-bubble.xaso-bot").last.inner_text()
            user_bubbles = await page.locator(".xaso-bubble.xaso-user").all_inner_texts()
            assert any("Dữ liệu của tôi" in text for text in user_bubbles)
            await page.screenshot(path=str(artifact("webchat-conversation.png")), full_page=True)
        finally:
            await browser.close()
