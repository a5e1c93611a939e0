"""A parent asking a doctor about a child through the web chat, the health desk's clock, and the people
of one commune of a province (a villager, a doctor, an official)."""

from __future__ import annotations

import datetime as dt

from bots.assistant import Assistant
from core.timezones import VIETNAM
from tests.support.chat import ChatSession, button_data, texts

SYMPTOMS = "Sốt cao 39 độ, quấy khóc, bỏ bú"
SINCE = "từ tối qua, uống hạ sốt không đỡ"
MONDAY_MORNING = dt.datetime(2027, 3, 1, 8, 0, tzinfo=VIETNAM)  # ahead of the real clock: nothing is due
REMOTE_TUESDAY = "remote:202703020900"


async def ask_about_child(parent: ChatSession) -> str:
    asked = await parent.say("con tôi bị sốt từ tối qua")
    assert "đồng ý" in texts(asked).lower() and "health:consent:yes" in button_data(asked)
    assert "form:choice:child" in button_data(await parent.press("health:consent:yes"))
    assert "tuổi" in texts(await parent.press("form:choice:child"))
    assert "triệu chứng" in texts(await parent.say("3"))
    assert "từ khi nào" in texts(await parent.say(SYMPTOMS))
    assert "form:skip" in button_data(await parent.say(SINCE))
    summary = await parent.press("form:skip")
    assert SYMPTOMS in texts(summary) and "form:confirm" in button_data(summary)
    return texts(await parent.press("form:confirm"))


def set_clock(assistant: Assistant, now: list[dt.datetime]) -> None:
    """Every served commune's health desk reads `now[0]`."""
    for local in assistant.locals():
        local.router.assembly.desk("health").set_clock(lambda: now[0])
