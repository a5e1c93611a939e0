"""A villager's progress carried to another channel: lesson 1 in the web chat at the commune's office,
a one-time code, `/hoc CODE` on Telegram at home, and the course goes on at lesson 2 there (the hamlet
too). A wrong, reused, expired or own code moves nothing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from backends.skills.store import SkillCarryCode, SkillProgress
from core.config import Settings
from core.db import Database
from core.models import utcnow
from nlu.engine import NLUEngine
from tests.support.channel_drivers import Driver, driving
from tests.support.chat import ChatSession, texts
from tests.support.skills import pressed, take_lesson

CODE = re.compile(r"/hoc (\d{8})")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


@pytest.fixture
async def telegram(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[Driver]:
    async with driving("telegram", settings, database, nlu_engine) as opened:
        yield opened


async def test_progress_made_in_the_web_chat_goes_on_in_telegram(telegram: Driver,
                                                                 database: Database) -> None:
    office = await ChatSession.open(telegram.client)  # the same installation's web chat
    await office.say("hoc ky nang so")
    first = await office.press(pressed(await office.press("learn:course:scams"), "learn:hamlet:scams:kem"))
    await take_lesson(office, "scams", 0, replies=first)
    listed = await office.say("/hoc")
    given = await office.press(pressed(listed, "learn:carry"))
    found = CODE.search(texts(given))
    assert found and given[0]["copy"][0]["value"] == f"/hoc {found.group(1)}", given
    code = found.group(1)
    assert "không đúng" in texts(await office.say(f"/hoc {code}"))  # one's own code carries nothing
    assert "không đúng" in (await telegram.say("/hoc 00000000")).text
    carried = await telegram.say(f"hoc {code[:4]} {code[4:]}")  # typed as printed, without the slash
    assert "Đã chuyển tiến độ học (1 khóa)" in carried.text and "đã học 1/3 bài" in carried.text, carried
    resumed = await telegram.press("learn:course:scams")
    assert "Bài 2/3" in resumed.text and "Bước 1/4" in resumed.text, resumed  # no hamlet asked again
    assert "không đúng" in (await telegram.say(f"/hoc {code}")).text  # used once
    async with database.session() as session:
        assert len(list(await session.scalars(select(SkillProgress)))) == 2
    # An expired code moves nothing.
    again = CODE.search(texts(await office.press("learn:carry")))
    assert again
    async with database.session() as session:
        await session.execute(update(SkillCarryCode).values(expires_at=utcnow() - dt.timedelta(minutes=1)))
    assert "không đúng" in (await telegram.say(f"/hoc {again.group(1)}")).text
