"""A lesson in the web chat page on a phone screen (headless Chromium): buttons only — the course, the
hamlet, «Tiếp ▶️» — the step's picture shown, «🔊 Nghe» giving a voice to play, and a quiz answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.browser import artifact, free_port, live_server, phone_page, say


@pytest.fixture
async def server(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[str]:
    port = free_port()  # the step's picture and the voice are links to this very server
    served = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    app = create_app(Assistant.build(served, nlu=nlu_engine, database=database))
    async with live_server(app, port) as url:
        yield url


async def tap(page: Page, data: str) -> str:
    before = await page.locator(".xaso-bubble.xaso-bot").count()
    await page.locator(f".xaso-button[data-data='{data}']").last.click()
    await page.locator(".xaso-bubble.xaso-bot").nth(before).wait_for(timeout=15_000)
    return await page.locator(".xaso-bubble.xaso-bot").last.inner_text()


async def test_a_lesson_with_buttons_only_its_picture_and_its_voice(server: str) -> None:
    async with phone_page(f"{server}/chat") as page:
        entry = page.locator(".xaso-button[data-data='menu:learn_skills']")
        assert "Học kỹ năng số" in await entry.inner_text()
        assert "Chuyển khoản VietQR an toàn" in await tap(page, "menu:learn_skills")
        assert "xóm nào" in await tap(page, "learn:course:vietqr")
        first = await tap(page, "learn:hamlet:vietqr:kem")
        assert "Bài 1/3" in first and "Bước 1/3" in first
        picture = page.locator(".xaso-bubble img.xaso-image").last
        await picture.scroll_into_view_if_needed()
        assert await picture.evaluate("img => img.complete && img.naturalWidth >= 600")
        await page.screenshot(path=str(artifact("webchat-lesson.png")), full_page=False)
        listen = page.locator(".xaso-button[data-data^='listen:']").last
        before = await page.locator("audio.xaso-audio").count()
        await listen.click()
        await page.locator("audio.xaso-audio").nth(before).wait_for(timeout=30_000)
        assert "Bước 2/3" in await tap(page, "learn:next:vietqr:0:0")
        await tap(page, "learn:next:vietqr:0:1")
        question = await tap(page, "learn:next:vietqr:0:2")
        assert "Câu hỏi 1/1" in question
        assert "Chưa đúng" in await tap(page, "learn:ans:vietqr:0:0:1")
        assert "Đúng" in await say(page, "ung dung ngan hang cua minh")
        await page.screenshot(path=str(artifact("webchat-quiz.png")), full_page=False)
