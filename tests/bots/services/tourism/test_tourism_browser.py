"""On a phone screen (headless Chromium): the audio-guide page, as a visitor opens it from a poster's QR
(it asks nothing from outside, plays its voice, and switches language); and a homestay booked in the
web chat, tapping and typing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, async_playwright

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.browser import (
    CHROMIUM_FLAGS,
    artifact,
    chromium_path,
    live_server,
    only_server,
    phone_page,
    say,
)


@pytest.fixture
async def server(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[str]:
    async with live_server(create_app(Assistant.build(settings, nlu=nlu_engine, database=database))) as url:
        yield url


async def tap(page: Page, data: str) -> str:
    before = await page.locator(".xaso-bubble.xaso-bot").count()
    await page.locator(f".xaso-button[data-data='{data}']").last.click()
    await page.locator(".xaso-bubble.xaso-bot").nth(before).wait_for(timeout=15_000)
    return await page.locator(".xaso-bubble.xaso-bot").last.inner_text()


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


async def test_a_homestay_booked_on_a_phone_tapping_and_typing(server: str) -> None:
    """The web chat on a phone screen: the stays, a stay's card, the first free day tapped, the nights
    typed as «2 dem», the guests tapped, name and phone typed, the summary confirmed."""
    async with phone_page(f"{server}/chat") as page:
        assert "Phòng đôi mẫu" in await say(page, "dat homestay")
        assert "350.000 đ/đêm" in await tap(page, "stay:view:mau_phong_doi")
        assert "nhận phòng" in await tap(page, "stay:book:mau_phong_doi")
        await page.locator(".xaso-button[data-data^='stay:in:']").first.click()
        await page.get_by_text("Bạn ở mấy đêm").last.wait_for(timeout=15_000)
        assert "Bao nhiêu khách" in await say(page, "2 dem")
        await tap(page, "stay:guests:2")
        await say(page, "Vu Thi Lan")
        summary = await say(page, "0912345678")
        assert "700.000 đ" in summary and "Trả phòng" in summary, summary
        await page.screenshot(path=str(artifact("webchat-homestay-summary.png")), full_page=False)
        await page.locator(".xaso-button[data-data^='stay:confirm:']").last.click()
        await page.get_by_text("Đã ghi nhận đặt phòng").last.wait_for(timeout=15_000)
        await page.screenshot(path=str(artifact("webchat-homestay-booked.png")), full_page=False)
