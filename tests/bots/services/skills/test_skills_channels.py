"""The scam course end to end on every channel (the web chat, Telegram, the Zalo OA with its five
buttons a message, the Zalo Bot API's numbered lists): typed without diacritics and tapped, the quiz
passed, and the certificate's code confirmed by /verify."""

from __future__ import annotations

import re

import pytest

from core.config import Settings
from tests.support.channel_drivers import Driver, Said
from tests.support.skills import course

CODE = re.compile(r"số ([A-HJ-NP-Z0-9]{10})")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def one(said: Said, prefix: str) -> str:
    found = [data for data in said.data if data.startswith(prefix)]
    assert len(found) == 1, (prefix, said)
    return found[0]


async def test_the_scam_course_on_every_channel(driver: Driver) -> None:
    listed = await driver.say("hoc ky nang so")
    assert "learn:course:scams" in listed.data, listed
    asked = await driver.say("lua dao")
    assert "xóm nào" in asked.text, asked
    current = await driver.say("kem")
    scams = course("scams")
    for index, lesson in enumerate(scams.lessons):
        assert f"Bài {index + 1}/3" in current.text, current
        for number in range(len(lesson.steps)):
            step = one(current, f"learn:next:scams:{index}:{number}")
            assert any(data.startswith("listen:") for data in current.data)  # «🔊 Nghe», every step
            current = await (driver.say("tiep") if number % 2 == 0 else driver.press(step))
        for number, question in enumerate(lesson.quiz):
            assert len(current.labels) <= 5, current.labels  # one Zalo message's worth
            answer = one(current, f"learn:ans:scams:{index}:{number}:{question.right}")
            current = await (driver.say("abc"[question.right]) if index % 2 == 0 else driver.press(answer))
            assert "✅" in current.text, current
        if index + 1 < len(scams.lessons):
            current = await driver.say("hoc bai tiep")
    assert "họ tên" in current.text, current
    confirm = await driver.say("Tran Thi Mai")
    assert "In tên «Tran Thi Mai»" in confirm.text, confirm
    issued = await driver.press(one(confirm, "learn:sign:scams"))
    found = CODE.search(issued.text)
    assert found, issued
    page = await driver.client.get(f"/verify/{found.group(1)}")
    html = await page.text()
    assert page.status == 200 and "Văn bản hợp lệ" in html and "Tran Thi Mai" in html
