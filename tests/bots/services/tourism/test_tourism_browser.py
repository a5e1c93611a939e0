"""The audio-guide page on a phone screen (headless Chromium), as a visitor opens it from a poster's QR:
it asks nothing from outside, plays its voice, and switches language."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import async_playwright

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.browser import CHROMIUM_FLAGS, artifact, chromium_path, live_server, only_server


@pytest.fixture
async def server(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[str]:
    async with live_server(create_app(Assistant.build(settings, nlu=nlu_engine, database=database))) as url:
        yield url


async def test_the_guide_page_on_a_phone_plays_its_voice_and_switches_language(server: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            context = await browser.new_context(viewport={"width": 360, "height": 740}, locale="vi-VN")
            outside = await only_server(context, server)
            page = await context.new_page()
            await page.goto(f"{server}/places/tin_keo")
            assert "Đồi Tỉn Keo" in await page.locator("h1").inner_text()
            duration = await page.locator("audio").evaluate(
                """audio => new Promise((done, fail) => {
                     audio.addEventListener('loadedmetadata', () => done(audio.duration));
                     audio.addEventListener('error', () => fail('no voice'));
                     audio.load();
                   })""")
            assert duration > 10  # the story, spoken
            await page.screenshot(path=str(artifact("tourism-guide-page.png")), full_page=False)
            await page.click("text=English")
            assert "Tỉn Keo hill" in await page.locator("h1").inner_text()
            assert outside == []  # nothing asked of any other address
        finally:
            await browser.close()
