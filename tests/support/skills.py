"""Digital skills in tests: the courses as shipped, a tutor joining, and a villager working through a
course by typing (or tapping) the right or a wrong answer."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from backends.skills.lessons import Course, Courses, load_courses
from core.config import REPO_ROOT
from tests.support.chat import ChatSession, button_data, texts
from tests.support.roles import invite

COURSES: Courses = load_courses(REPO_ROOT / "data" / "lessons")
CERTIFICATE_CODE = re.compile(r"số ([A-HJ-NP-Z0-9]{10})")


def course(course_id: str) -> Course:
    found = COURSES.get(course_id)
    assert found is not None, course_id
    return found


async def tutor_joins(client: TestClient) -> ChatSession:
    tutor = await ChatSession.open(client)
    assert "tổ công nghệ số" in texts(await tutor.say(f"/join {await invite(client, 'tutor')}"))
    return tutor


def pressed(replies: list[dict[str, Any]], prefix: str) -> str:
    """The one button of `replies` whose data starts with `prefix`."""
    found = [data for data in button_data(replies) if data.startswith(prefix)]
    assert len(found) == 1, (prefix, button_data(replies))
    return found[0]


async def take_lesson(chat: ChatSession, course_id: str, lesson: int, *, typed: bool = True,
                      replies: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Works through lesson `lesson` from its first step shown in `replies`: «tiep» (or the button) at
    each step, then the right answer of each question, typed as its letter (or tapped). Returns the
    replies to the last answer."""
    taught = course(course_id).lessons[lesson]
    current = replies or []
    for number in range(len(taught.steps)):
        assert f"Bước {number + 1}/{len(taught.steps)}" in texts(current), texts(current)
        step = pressed(current, f"learn:next:{course_id}:{lesson}:{number}")
        current = await chat.say("tiep") if typed else await chat.press(step)
    for number, question in enumerate(taught.quiz):
        assert question.text["vi"] in texts(current), texts(current)
        right = question.right
        current = await chat.say("ABCD"[right].lower()) if typed else await chat.press(
            pressed(current, f"learn:ans:{course_id}:{lesson}:{number}:{right}"))
        assert "✅" in texts(current), texts(current)
    return current


async def certified(chat: ChatSession, replies: list[dict[str, Any]], name: str) -> str:
    """The scam course taken whole from its first step in `replies`, typed, and its certificate issued
    to `name` (confirmed by typing «dung»); the certificate's code."""
    current = replies
    for lesson in range(3):
        current = await take_lesson(chat, "scams", lesson, replies=current)
        if lesson < 2:
            current = await chat.say("tiep")
    assert f"«{name}»" in texts(await chat.say(name))
    found = CERTIFICATE_CODE.search(texts(await chat.say("dung")))
    assert found is not None
    return found.group(1)
