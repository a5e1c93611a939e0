"""The last mile on a phone screen (headless Chromium, 360×740): the 115 answer looks different and
calls with one tap, addresses and phone numbers in messages can be tapped, and «🔊 Nghe» works inside
an open form without disturbing it. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.browser import artifact, free_port, live_server, phone_page, say
from tests.support.shop import data_dir_with_bank


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


@pytest.fixture
async def chat_server(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[str]:
    async with live_server(create_app(Assistant.build(settings, nlu=nlu_engine, database=database))) as url:
        yield url


async def test_emergency_answer_calls_with_one_tap_and_looks_different(chat_server: str) -> None:
    async with phone_page(f"{chat_server}/chat") as page:
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


async def test_links_in_messages_can_be_tapped(chat_server: str) -> None:
    async with phone_page(f"{chat_server}/chat") as page:
        await say(page, "dat lich kham tu xa voi benh vien huyen")
        await page.locator(".xaso-button[data-data^='appt:pick:remote:']").first.click()
        await page.locator(".xaso-button[data-data^='appt:book:']").first.wait_for(timeout=15_000)
        booked = await say(page, "dong y")
        assert "LH-" in booked
        video = page.locator("a[href^='https://meet.jit.si/']")
        assert await video.count() >= 1
        assert await video.first.get_attribute("target") == "_blank"
        await page.screenshot(path=str(artifact("webchat-links.png")), full_page=True)


@pytest.fixture
async def shop_server(settings: Settings, database: Database, nlu_engine: NLUEngine,
                      tmp_path: Path) -> AsyncIterator[str]:
    """The server with commune.yml's bank account set, so that VietQR is offered."""
    port = free_port()  # links in messages (the QR image) point at this very server
    with_bank = settings.model_copy(update={"data_dir": data_dir_with_bank(tmp_path),
                                            "public_url": f"http://127.0.0.1:{port}"})
    async with live_server(create_app(Assistant.build(with_bank, nlu=nlu_engine, database=database)),
                           port) as url:
        yield url


async def test_a_transfer_on_the_same_phone_reads_in_lines_with_copy_buttons(shop_server: str) -> None:
    async with phone_page(f"{shop_server}/chat") as page:
        for line in ("mua 2 can che bup", "nha ong tu, xom kem", "0912345678"):
            await say(page, line)
        await page.locator(".xaso-button[data-data='shop:pay:vietqr']").last.click()
        await page.locator(".xaso-button[data-data^='shop:confirm:']").last.wait_for(timeout=15_000)
        await say(page, "dong y")
        await page.locator(".xaso-copy").first.wait_for(timeout=15_000)
        transfer = page.locator(".xaso-bubble.xaso-bot", has_text="Số tài khoản")
        text = await transfer.last.inner_text()
        assert "3100205123456" in text and "000201" not in text
        copies = page.locator(".xaso-copy")
        assert await copies.count() == 3
        values = [await copies.nth(i).get_attribute("data-copy") for i in range(3)]
        assert values[0] == "3100205123456" and values[2].endswith("thanh toan")
        await copies.first.click()
        await page.locator(".xaso-copy[data-copied]").first.wait_for(timeout=5_000)
        assert "Đã chép" in await copies.first.inner_text()
        qr = page.locator(".xaso-bubble img.xaso-image").last  # the QR, for another phone
        await qr.scroll_into_view_if_needed()
        assert await qr.evaluate("img => img.complete && img.naturalWidth > 100")
        await page.screenshot(path=str(artifact("webchat-vietqr.png")), full_page=True)
