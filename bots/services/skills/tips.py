"""The daily digital-skills tip: each morning, from `TIP_HOUR` in Vietnam, one step of the lessons (each in
turn, the same for everyone that day) goes to the villagers of the commune who turned on the
announcement topic «💡 Mẹo kỹ năng số mỗi ngày» (`tips`, opt-in: data/announcements.yml), with a button
to the lesson it comes from. One node sends a day's tips: the day's row (`skill_tip_days`) is claimed in
the transaction that queues them all through the outbox (keys `skills-tip:<day>:<user>`), so a node dying
half-way leaves nothing sent and the next turn sends them whole."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from backends.loudspeaker.store import subscribers_to
from backends.skills.lessons import Course, Courses, Lesson, Step
from backends.skills.store import claim_tip_day
from bots.dialogue.base import Services
from bots.dialogue.notify import notify
from bots.dialogue.service import TaskEnvironment, TaskRun, periodic
from core.db import Database
from core.i18n import local
from core.messages import Button, Reply
from core.models import utcnow
from core.timezones import VIETNAM

TOPIC = "tips"
TIP_HOUR = 8  # in Vietnam: after the morning loudspeaker news, before the fields
INTERVAL = 300.0


async def send_tips(database: Database, services: Services, courses: Courses,
                    now: dt.datetime | None = None) -> int:
    """Sends today's tip to `services.commune`'s subscribers unless it was sent; how many were sent."""
    moment = (now or utcnow()).astimezone(VIETNAM)
    tip = courses.tip_for(moment.date())
    if moment.hour < TIP_HOUR or tip is None:
        return 0
    course, lesson, step = tip
    code = services.commune.code
    home = code == services.settings.commune_code
    async with database.session() as session:
        claim = await claim_tip_day(session, code, moment.date())
        if claim is None:
            return 0
        sent = 0
        for user in await subscribers_to(session, TOPIC, (), commune=code, home=home):
            key = f"skills-tip:{moment.date().isoformat()}:{user.id}"
            if await notify(session, services, user, _tip(services, course, lesson, step), key, asks=False):
                sent += 1
        claim.recipients = sent
    await services.audit.record("system", "skills.tips", subject=f"commune:{code}",
                                detail={"day": moment.date().isoformat(), "recipients": sent})
    return sent


def _tip(services: Services, course: Course, lesson: Lesson, step: Step) -> Callable[[str], Reply]:
    def reply(lang: str) -> Reply:
        t = services.catalogue.t
        text = t("skills.tip", lang, course=course.name(lang), lesson=local(dict(lesson.title), lang),
                 tip=local(dict(step.text), lang))
        return Reply(text, (Button(t("skills.button.tip_lesson", lang), f"learn:course:{course.id}"),))

    return reply


def daily_tips(courses: Courses) -> TaskRun:
    async def work(environment: TaskEnvironment) -> int:
        return await send_tips(environment.database, environment.services, courses)

    return periodic(work, failing="the daily digital-skills tips were not sent", interval=INTERVAL)
