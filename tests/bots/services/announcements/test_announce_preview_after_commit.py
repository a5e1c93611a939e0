"""The announcement's voice for the preview is made after the turn that chose the time has committed
(Context.after_commit): while it waits, villagers are answered; the preview with its audio comes in the
same answer once made; a failed synthesis asks for the time again and keeps nothing; an official who
moved on meanwhile (cancelled) keeps nothing of that voice."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.models import Media
from tests.support.announcements import TEXT
from tests.support.chat import ChatSession, button_data, texts
from tests.support.roles import staff_joins
from tests.support.slow_speech import hold_speech, speaking_settings

PATIENCE = 20.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return speaking_settings(settings)


async def until_when(official: ChatSession) -> None:
    await official.say(f"/announce {TEXT}")
    await official.press("announce:hamlet:kem")
    await official.press("announce:next")
    assert "announce:when:now" in button_data(await official.press("announce:topic:vaccination"))


async def media_count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Media)) or 0)


async def test_villagers_are_answered_while_the_preview_voice_is_made(
        client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    official, villager = await staff_joins(client), await ChatSession.open(client)
    engine = hold_speech(monkeypatch, client.app[ASSISTANT].services.speech)
    await until_when(official)
    chosen = asyncio.create_task(official.press("announce:when:now"))
    await asyncio.wait_for(engine.started.wait(), PATIENCE)
    assert await asyncio.wait_for(villager.say("xin chào"), PATIENCE)
    assert not chosen.done() and await media_count(database) == 0
    engine.release.set()
    (preview,) = await asyncio.wait_for(chosen, PATIENCE)
    assert TEXT in preview["text"] and preview["audio_url"] and "announce:confirm" in button_data([preview])
    assert await media_count(database) == 2  # MP3 and OGG, as before
    published = await official.press("announce:confirm")
    assert "Đã ký số và phát hành" in texts(published)


async def test_a_failed_voice_asks_for_the_time_again(client: TestClient, database: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    official = await staff_joins(client)
    engine = hold_speech(monkeypatch, client.app[ASSISTANT].services.speech, fail=True)
    engine.release.set()
    await until_when(official)
    replies = await official.press("announce:when:now")
    assert texts(replies) == "Hiện chưa tạo được giọng đọc cho thông báo. Bạn thử lại sau ít phút."
    assert "announce:when:now" in button_data(replies) and await media_count(database) == 0
    engine.fail = False  # it works again: the same step goes on to the preview
    (preview,) = await official.press("announce:when:now")
    assert preview["audio_url"] and "announce:confirm" in button_data([preview])


async def test_a_voice_for_a_cancelled_announcement_is_not_kept(client: TestClient, database: Database,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    official = await staff_joins(client)
    engine = hold_speech(monkeypatch, client.app[ASSISTANT].services.speech)
    await until_when(official)
    chosen = asyncio.create_task(official.press("announce:when:now"))
    await asyncio.wait_for(engine.started.wait(), PATIENCE)
    assert "announce:when:now" not in button_data(await official.press("announce:cancel"))
    engine.release.set()
    assert await asyncio.wait_for(chosen, PATIENCE) == []  # the official moved on: no preview
    assert await media_count(database) == 0
