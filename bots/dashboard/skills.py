"""Digital skills on the dashboard: courses started and finished (and today's), learners by hamlet, and
the quiz questions by first-try pass rate, lowest first, so that a badly written question stands out.
Counts only: no learner is named, no answer is tied to anyone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from sqlalchemy import case, func, select

from backends.skills.lessons import Courses
from backends.skills.store import SkillAnswer, SkillLearner, SkillProgress
from bots.dashboard.figures import Bar, Figure, Item, Section, StatsContext

LISTED_QUESTIONS = 5
MIN_TRIES = 3  # a pass rate from fewer first tries says nothing yet
LOW_PASS = 0.5  # a question fewer than half get right first time is drawn in red
NO_HAMLET = "dashboard.skills.no_hamlet"


def skills_section(courses: Courses) -> Callable[[StatsContext], Awaitable[Section]]:
    async def provider(context: StatsContext) -> Section:
        session = context.session
        of_commune = context.of_commune(SkillProgress.commune)
        started, finished, finished_today = (await session.execute(
            select(func.count(), func.count(SkillProgress.finished_at),
                   func.count(case((SkillProgress.finished_at >= context.day_start, 1))))
            .where(*of_commune))).one()
        learners = await session.scalar(
            select(func.count(func.distinct(SkillProgress.user_id))).where(*of_commune))
        certificates = await session.scalar(select(func.count()).select_from(SkillProgress).where(
            *of_commune, SkillProgress.certificate.is_not(None)))
        by_course = {course: (int(begun), int(done)) for course, begun, done in await session.execute(
            select(SkillProgress.course, func.count(), func.count(SkillProgress.finished_at))
            .where(*of_commune).group_by(SkillProgress.course))}
        by_hamlet: Counter[tuple[str, str]] = Counter()  # (key, label)
        for hamlet_id, count in await session.execute(
                select(SkillLearner.hamlet_id, func.count(func.distinct(SkillProgress.user_id)))
                .join(SkillLearner, SkillLearner.user_id == SkillProgress.user_id, isouter=True)
                .where(*of_commune).group_by(SkillLearner.hamlet_id)):
            hamlet = context.hamlets.get(hamlet_id) if hamlet_id else None
            by_hamlet[(hamlet.id, hamlet.name) if hamlet is not None else ("none", NO_HAMLET)] += int(count)
        rates = []
        for course_id, lesson_id, number, tries, right in await session.execute(
                select(SkillAnswer.course, SkillAnswer.lesson, SkillAnswer.question, func.count(),
                       func.count(case((SkillAnswer.correct, 1))))
                .where(*context.of_commune(SkillAnswer.commune), SkillAnswer.first_try)
                .group_by(SkillAnswer.course, SkillAnswer.lesson, SkillAnswer.question)):
            if int(tries) >= MIN_TRIES:
                rates.append((int(right) / int(tries), int(tries), course_id, lesson_id, int(number)))
        rates.sort()
        items = []
        for rate, tries, course_id, lesson_id, number in rates[:LISTED_QUESTIONS]:
            course = courses.get(course_id)
            lesson = course.lesson(lesson_id) if course is not None else None
            title = lesson.title["vi"] if lesson is not None else lesson_id
            items.append(Item(f"{course_id}/{lesson_id}/{number + 1}",
                              (f"{title} · câu {number + 1}", f"{round(rate * 100)}% đúng lần đầu",
                               f"{tries} lượt"), alert=rate < LOW_PASS))
        low = sum(1 for rate, *_ in rates if rate < LOW_PASS)
        return Section(
            key="skills", title="dashboard.section.skills",
            figures=(Figure("learners", "dashboard.figure.skills_learners", int(learners or 0)),
                     Figure("started", "dashboard.figure.skills_started", int(started)),
                     Figure("finished", "dashboard.figure.skills_finished", int(finished)),
                     Figure("finished_today", "dashboard.figure.skills_finished_today", int(finished_today)),
                     Figure("certificates", "dashboard.figure.skills_certificates", int(certificates or 0)),
                     Figure("hard_questions", "dashboard.figure.skills_hard_questions", low, alert=low > 0),
                     *(Figure(f"course_{course.id}", course.title["vi"],
                              f"{by_course.get(course.id, (0, 0))[1]}/{by_course.get(course.id, (0, 0))[0]}")
                       for course in courses)),
            bars=tuple(Bar(key, label, count) for (key, label), count in sorted(by_hamlet.items())),
            items=tuple(items),
        )

    return provider
