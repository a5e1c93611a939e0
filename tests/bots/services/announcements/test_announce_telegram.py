"""A Telegram subscriber gets the announcement as a message and as a voice note (OGG/Opus), sent by the
real Telegram sender through the outbox to the fake Bot API."""

from __future__ import annotations

import io

import pytest
import soundfile
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.loudspeaker.store import AnnouncementSubscription
from core.config import Settings
from core.db import Database
from core.models import User
from tests.support.announcements import TEXT, write_until_preview
from tests.support.fake_telegram import FakeTelegram
from tests.support.roles import staff_joins
from tests.support.telegram import fake, message_update, post, tg

__all__ = ["fake", "tg"]  # fixtures, used by name


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"tts_engine": "espeak", "rate_limit_burst": 400,
                                       "rate_limit_per_minute": 1200})


async def test_telegram_subscriber_gets_text_and_voice(tg: TestClient, fake: FakeTelegram,
                                                       database: Database) -> None:
    await post(tg, message_update(text="/start", user_id=77))
    await fake.wait_for(1, "sendMessage")
    async with database.session() as session:
        user = (await session.scalars(select(User).where(User.channel == "telegram",
                                                         User.external_id == "77"))).one()
        session.add(AnnouncementSubscription(user_id=user.id, hamlets=["kem"], topics=["vaccination"],
                                             active=True))
    official = await staff_joins(tg)
    await write_until_preview(official)
    assert "gửi tới 1 người" in (await official.press("announce:confirm"))[0]["text"]

    (voice,) = await fake.wait_for(1, "sendVoice")
    assert voice.chat_id == 77
    info = soundfile.info(io.BytesIO(voice.files["voice"]))
    assert (info.format, info.subtype) == ("OGG", "OPUS") and info.frames / info.samplerate > 4.0
    notices = [call for call in fake.sent("sendMessage")
               if call.chat_id == 77 and TEXT in call.params["text"]]
    assert len(notices) == 1
