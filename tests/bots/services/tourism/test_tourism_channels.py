"""A visitor on every channel (the web chat, Telegram, the Zalo OA, the Zalo Bot API): the themes typed,
a theme and a place tapped, the story with «🔊 Nghe», and the map link — a link button where the
platform has them, the address written out where it has not."""

from __future__ import annotations

import pytest

from core.config import Settings
from tests.support.channel_drivers import Driver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def test_a_visitor_on_every_channel(driver: Driver) -> None:
    themes = await driver.say("di choi o dau")
    assert "Đi chơi ở đâu" in themes.text and "tour:theme:history" in themes.data, themes
    history = await driver.press("tour:theme:history")
    assert "Đồi Tỉn Keo" in history.text and "tour:place:tin_keo" in history.data, history
    card = await driver.press("tour:place:tin_keo")
    assert "Xã Phú Đình" in card.text and "tour:story:tin_keo" in card.data, card
    story = await driver.press("tour:story:tin_keo")
    assert "6 tháng 12 năm 1953" in story.text and any(d.startswith("listen:") for d in story.data), story
    links = [data for data in card.data if data.startswith("url:")]
    if links:  # the platform opens link buttons itself
        assert any("openstreetmap.org/search?query=" in link for link in links), card
        assert any(link.endswith("/places/tin_keo?lang=vi") for link in links), card
    elif "tour:map:tin_keo" in card.data:  # sent as data: pressing it writes the address out
        shown = await driver.press("tour:map:tin_keo")
        assert "openstreetmap.org/search?query=" in shown.text, shown
    else:  # no buttons of links (the Zalo Bot API): the addresses are in the text, tappable
        assert "openstreetmap.org/search?query=" in card.text and "/places/tin_keo?lang=vi" in card.text, card


async def test_a_guest_books_a_homestay_on_every_channel(driver: Driver) -> None:
    """No payment provider is configured here: no deposit is asked, and the booking waits for its host.
    The days and guests tapped, the nights, name and phone typed without diacritics."""
    stays = await driver.say("co homestay nao khong")
    assert "Phòng đôi mẫu" in stays.text and "stay:view:mau_phong_doi" in stays.data, stays
    card = await driver.press("stay:view:mau_phong_doi")
    assert "350.000 đ/đêm" in card.text and "stay:book:mau_phong_doi" in card.data, card
    days = await driver.press("stay:book:mau_phong_doi")
    offered = [data for data in days.data if data.startswith("stay:in:")]
    assert len(offered) == 5, days
    nights = await driver.press(offered[2])
    assert "Bạn ở mấy đêm" in nights.text, nights
    guests = await driver.say("2 dem")
    assert "Bao nhiêu khách" in guests.text and "stay:guests:2" in guests.data, guests
    await driver.press("stay:guests:2")
    await driver.say("Hoang Van Tu")
    summary = await driver.say("0912345678")
    assert "2 đêm × 350.000 đ = 700.000 đ" in summary.text and "Không cần đặt cọc" in summary.text, summary
    confirm = next(data for data in summary.data if data.startswith("stay:confirm:"))
    booked = await driver.press(confirm)
    assert "Đã ghi nhận đặt phòng DP-" in booked.text and "không cần cọc" in booked.text, booked
