"""«🔊 Nghe» makes its voice after the press's transaction has committed (Context.after_commit): while
the synthesis waits, other villagers are answered; the clip comes in the same answer once made; a
synthesis that fails is answered politely and keeps nothing."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.models import Media
from tests.support.chat import ChatSession, texts
from tests.support.slow_speech import hold_speech, speaking_settings

PATIENCE = 20.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return speaking_settings(settings)


async def listen_button(citizen: ChatSession) -> str:
    replies = await citizen.say("thủ tục đăng ký khai sinh cần giấy tờ gì")
    found = [b["data"] for reply in replies for b in reply["buttons"] if b["data"].startswith("listen:")]
    assert found, texts(replies)
    return found[0]


async def media_count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Media)) or 0)


async def test_others_are_answered_while_the_voice_is_made(client: TestClient, database: Database,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    citizen, other = await ChatSession.open(client), await ChatSession.open(client)
    button = await listen_button(citizen)
    engine = hold_speech(monkeypatch, client.app[ASSISTANT].services.speech)
    pressed = asyncio.create_task(citizen.press(button))
    await asyncio.wait_for(engine.started.wait(), PATIENCE)
    # The press's turn has committed: another villager's message goes through meanwhile.
    answered = await asyncio.wait_for(other.say("xin chào"), PATIENCE)
    assert answered and not pressed.done()
    assert await media_count(database) == 0  # nothing kept before the voice exists
    engine.release.set()
    heard = await asyncio.wait_for(pressed, PATIENCE)
    assert len(heard) == 1 and heard[0]["audio_url"] and "listen:" not in str(heard[0]["buttons"])
    assert await media_count(database) == 1


async def test_a_failed_synthesis_is_answered_politely_and_keeps_nothing(
        client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    citizen = await ChatSession.open(client)
    button = await listen_button(citizen)
    engine = hold_speech(monkeypatch, client.app[ASSISTANT].services.speech, fail=True)
    engine.release.set()
    replies = await asyncio.wait_for(citizen.press(button), PATIENCE)
    assert len(replies) == 1 and not replies[0]["audio_url"]
    assert texts(replies) == "Hiện chưa đọc được. Bạn thử lại sau ít phút."
    assert await media_count(database) == 0
