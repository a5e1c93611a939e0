"""The daily tip: an opt-in announcement topic (subscribing to a hamlet's announcements does not turn it
on), sent each morning from 08:00 to those who turned it on, once a day whatever the nodes, with the
button to its lesson; nothing before 08:00, nothing to those who did not choose it."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.loudspeaker.store import AnnouncementSubscription
from backends.skills.store import SkillTipDay
from bots.server import ASSISTANT
from bots.services.skills.tips import send_tips
from core.config import Settings
from core.db import Database
from core.identity import find_user
from core.timezones import VIETNAM
from tests.support.chat import ChatSession, button_data, pushed_now, texts
from tests.support.skills import COURSES

MORNING = dt.datetime(2027, 3, 2, 8, 5, tzinfo=VIETNAM)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def subscribed(client: TestClient, *, tips: bool) -> ChatSession:
    villager = await ChatSession.open(client)
    asked = await villager.say("toi muon nhan thong bao")
    assert "ann:topic:tips" in button_data(asked), button_data(asked)
    await villager.press("ann:hamlet:kem")
    if tips:
        await villager.press("ann:topic:tips")
    await villager.press("ann:done")
    return villager


async def topics_of(client: TestClient, chat: ChatSession) -> list[str]:
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        user = await find_user(session, "web", chat.user_id)
        assert user is not None
        row = await session.get(AnnouncementSubscription, user.id)
        return list(row.topics) if row else []


async def test_the_tip_is_opt_in_sent_once_a_morning_with_its_lesson(client: TestClient,
                                                                     database: Database) -> None:
    assistant = client.app[ASSISTANT]
    learner = await subscribed(client, tips=True)
    other = await subscribed(client, tips=False)
    assert "tips" in await topics_of(client, learner)
    assert "tips" not in await topics_of(client, other) and "power" in await topics_of(client, other)
    services = assistant.services
    assert await send_tips(database, services, COURSES, MORNING.replace(hour=7, minute=59)) == 0
    # Two nodes at 08:05 at once: one sends, to the one who chose it.
    sent = await asyncio.gather(*(send_tips(database, services, COURSES, MORNING) for _ in range(2)))
    assert sorted(sent) == [0, 1]
    assert await send_tips(database, services, COURSES, MORNING.replace(hour=17)) == 0  # once a day
    async with database.session() as session:
        [day] = list(await session.scalars(select(SkillTipDay)))
    assert (day.day, day.recipients) == (MORNING.date(), 1)
    course, _lesson, step = COURSES.tip_for(MORNING.date())  # type: ignore[misc]
    notices = [n for n in await pushed_now(client, learner) if "Mẹo kỹ năng số hôm nay" in n["text"]]
    assert len(notices) == 1 and step.text["vi"] in notices[0]["text"]
    assert notices[0]["buttons"][0]["data"] == f"learn:course:{course.id}"
    assert not [n for n in await pushed_now(client, other) if "Mẹo" in n["text"]]
    # The next day, the next step.
    tomorrow = MORNING + dt.timedelta(days=1)
    assert COURSES.tip_for(tomorrow.date()) != COURSES.tip_for(MORNING.date())
    assert await send_tips(database, services, COURSES, tomorrow) == 1
    opened = await learner.press(f"learn:course:{course.id}")
    assert "xóm nào" in texts(opened) or course.name("vi") in texts(opened)
