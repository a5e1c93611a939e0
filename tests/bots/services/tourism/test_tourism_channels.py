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
