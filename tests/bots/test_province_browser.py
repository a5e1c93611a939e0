"""A province's web chat on a phone screen (headless Chromium, 360×740): a villager who comes without a
commune is asked with a button per commune and answered by the one tapped; the commune's own link
(/chat?commune=SM) asks nothing. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.browser import artifact, live_server, phone_page, say


@pytest.fixture
async def province_server(settings: Settings, database: Database,
                          nlu_engine: NLUEngine) -> AsyncIterator[str]:
    province = settings.model_copy(update={"communes": "LB,SM"})
    async with live_server(create_app(Assistant.build(province, nlu=nlu_engine, database=database))) as url:
        yield url


async def test_a_villager_taps_their_commune_and_gets_its_honey(province_server: str) -> None:
    async with phone_page(f"{province_server}/chat") as page:
        asked = await say(page, "mua mat ong")
        assert "xã nào" in asked
        choice = page.locator(".xaso-button[data-data='commune:set:SM']").first
        assert "Xã Sảng Mộc" in await choice.inner_text()
        await page.screenshot(path=str(artifact("province-question.png")), full_page=True)
        before = await page.locator(".xaso-bubble.xaso-bot").count()
        await choice.click()
        await page.get_by_text("Mật ong rừng Sảng Mộc").first.wait_for(timeout=15_000)
        answered = " ".join(await page.locator(".xaso-bubble.xaso-bot").all_inner_texts())
        assert await page.locator(".xaso-bubble.xaso-bot").count() > before
        assert "Xã Sảng Mộc" in answered and "Mật ong hoa nhãn" not in answered
        await page.screenshot(path=str(artifact("province-chosen.png")), full_page=True)


async def test_the_communes_own_link_asks_nothing(province_server: str) -> None:
    async with phone_page(f"{province_server}/chat?commune=SM") as page:
        greeting = await say(page, "xin chao")
        assert "Xã Sảng Mộc" in greeting and "xã nào" not in greeting
        await page.screenshot(path=str(artifact("province-entry-link.png")), full_page=True)
