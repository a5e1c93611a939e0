"""Digital-skills progress at rest: where each villager is in each course they started, every quiz answer
(for the pass rates per question, never shown to tutors one by one), the hamlet a learner said they live
in (for the tutors' lists) and the certificate of a finished course.

A place in a course is (lesson, step): step `len(steps)` and beyond is the lesson's quiz, question
`step - len(steps)`. Moving on is a conditional update from the place the villager was shown, so a
button pressed twice (two taps, two devices) moves once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import dialect_of, upsert
from core.models import Base, UTCDateTime, commune_column, utcnow


class SkillProgress(Base):
    __tablename__ = "skill_progress"
    __table_args__ = (UniqueConstraint("user_id", "course", name="uq_skill_progress_user_course"),
                      Index("ix_skill_progress_commune_course", "commune", "course"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    commune: Mapped[str] = commune_column()
    course: Mapped[str] = mapped_column(String(24))
    lesson: Mapped[int] = mapped_column(Integer, default=0)  # the lesson's index in the course
    step: Mapped[int] = mapped_column(Integer, default=0)  # its step; from len(steps) on, its quiz
    lessons_done: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    certificate: Mapped[str | None] = mapped_column(String(16))  # its signed document's code


class SkillAnswer(Base):
    __tablename__ = "skill_answers"
    __table_args__ = (Index("ix_skill_answers_commune_question", "commune", "course", "lesson", "question"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    commune: Mapped[str] = commune_column()
    course: Mapped[str] = mapped_column(String(24))
    lesson: Mapped[str] = mapped_column(String(24))
    question: Mapped[int] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)
    first_try: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SkillLearner(Base):
    __tablename__ = "skill_learners"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    commune: Mapped[str] = commune_column()
    hamlet_id: Mapped[str | None] = mapped_column(String(32), index=True)  # None: they did not say
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class Place:
    lesson: int
    step: int


async def progress_of(session: AsyncSession, user_id: int, course: str) -> SkillProgress | None:
    return await session.scalar(select(SkillProgress).where(SkillProgress.user_id == user_id,
                                                           SkillProgress.course == course))


async def progresses(session: AsyncSession, user_id: int) -> dict[str, SkillProgress]:
    rows = await session.scalars(select(SkillProgress).where(SkillProgress.user_id == user_id))
    return {row.course: row for row in rows}


async def begin(session: AsyncSession, user_id: int, commune: str, course: str) -> SkillProgress:
    """The villager's progress in `course`, started now if it was not (a savepoint keeps a rival
    start, on another node, from failing the turn)."""
    found = await progress_of(session, user_id, course)
    if found is not None:
        return found
    row = SkillProgress(user_id=user_id, commune=commune, course=course)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:  # started by a rival turn meanwhile
        found = await progress_of(session, user_id, course)
        if found is None:
            raise
        return found
    return row


async def move(session: AsyncSession, progress: SkillProgress, shown: Place, to: Place,
               lessons_done: int | None = None) -> bool:
    """Moves `progress` from the place the villager was shown to `to`; False if it was elsewhere
    already (the same button pressed twice)."""
    values: dict[str, object] = {"lesson": to.lesson, "step": to.step, "updated_at": utcnow()}
    if lessons_done is not None:
        values["lessons_done"] = lessons_done
    moved = await session.execute(
        update(SkillProgress)
        .where(SkillProgress.id == progress.id, SkillProgress.lesson == shown.lesson,
               SkillProgress.step == shown.step)
        .values(**values).execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await session.refresh(progress)
    return True


async def finish(session: AsyncSession, progress: SkillProgress, lessons: int) -> bool:
    """Marks the course finished (once: False if another turn did)."""
    done = await session.execute(
        update(SkillProgress)
        .where(SkillProgress.id == progress.id, SkillProgress.finished_at.is_(None))
        .values(finished_at=utcnow(), updated_at=utcnow(), lessons_done=lessons, lesson=lessons, step=0)
        .execution_options(synchronize_session=False))
    await session.refresh(progress)
    return done.rowcount == 1  # type: ignore[attr-defined]


async def restart(session: AsyncSession, progress: SkillProgress) -> None:
    """Back to the first step; a finished course stays finished (its certificate is kept)."""
    progress.lesson, progress.step, progress.updated_at = 0, 0, utcnow()
    if progress.finished_at is None:
        progress.lessons_done = 0
    await session.flush()


async def record_answer(session: AsyncSession, user_id: int, commune: str, course: str, lesson: str,
                        question: int, correct: bool) -> None:
    tried = await session.scalar(select(func.count()).select_from(SkillAnswer).where(
        SkillAnswer.user_id == user_id, SkillAnswer.course == course, SkillAnswer.lesson == lesson,
        SkillAnswer.question == question))
    session.add(SkillAnswer(user_id=user_id, commune=commune, course=course, lesson=lesson,
                            question=question, correct=correct, first_try=not tried))


async def hamlet_of(session: AsyncSession, user_id: int) -> SkillLearner | None:
    return await session.get(SkillLearner, user_id)


async def set_hamlet(session: AsyncSession, user_id: int, commune: str, hamlet_id: str | None) -> None:
    row = await session.get(SkillLearner, user_id)
    if row is None:
        session.add(SkillLearner(user_id=user_id, commune=commune, hamlet_id=hamlet_id))
    else:
        row.commune, row.hamlet_id, row.updated_at = commune, hamlet_id, utcnow()
    await session.flush()


class SkillTipDay(Base):
    """A day's tip sent to a commune's subscribers: the row is the claim (one node sends it, once)."""

    __tablename__ = "skill_tip_days"

    commune: Mapped[str] = mapped_column(String(4), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recipients: Mapped[int] = mapped_column(Integer, default=0)


async def claim_tip_day(session: AsyncSession, commune: str, day: dt.date) -> SkillTipDay | None:
    """The claim of `day`'s tip for `commune`, in the caller's transaction; None if it was sent (or is
    being sent by another node, whose transaction holds the row)."""
    insert = upsert(dialect_of(session))
    claimed = await session.execute(insert(SkillTipDay).values(commune=commune, day=day, sent_at=utcnow(),
                                                               recipients=0)
                                    .on_conflict_do_nothing(index_elements=["commune", "day"]))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.get(SkillTipDay, (commune, day))


class SkillCarryCode(Base):
    """A one-time code that carries a villager's progress to their account on another channel (the web
    chat at the commune's office, Zalo at home): kept as a keyed digest, valid for a day."""

    __tablename__ = "skill_carry_codes"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    commune: Mapped[str] = commune_column()
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def _further(one: SkillProgress, other: SkillProgress) -> bool:
    """Whether `one` got further in its course than `other`."""
    def reach(progress: SkillProgress) -> tuple[bool, int, int, int]:
        return (progress.finished_at is not None, progress.lessons_done, progress.lesson, progress.step)

    return reach(one) > reach(other)


async def carry_progress(session: AsyncSession, source: int, target: int) -> int:
    """Copies user `source`'s progress to user `target`, course by course where it is further, and
    their hamlet if `target` gave none; how many courses moved on."""
    theirs = await progresses(session, source)
    mine = await progresses(session, target)
    moved = 0
    for course, progress in theirs.items():
        here = mine.get(course)
        if here is not None and not _further(progress, here):
            continue
        if here is None:
            here = SkillProgress(user_id=target, commune=progress.commune, course=course,
                                 started_at=progress.started_at)
            session.add(here)
        here.lesson, here.step, here.lessons_done = progress.lesson, progress.step, progress.lessons_done
        here.finished_at, here.certificate = progress.finished_at, progress.certificate
        here.updated_at = utcnow()
        moved += 1
    learner = await session.get(SkillLearner, source)
    own = await session.get(SkillLearner, target)
    if learner is not None and (own is None or own.hamlet_id is None):
        await set_hamlet(session, target, learner.commune, learner.hamlet_id)
    await session.flush()
    return moved


async def learning_since(session: AsyncSession, since: dt.datetime, commune: str | None) -> tuple[int, int]:
    """(villagers who moved on in a course since `since`, courses finished since then), of `commune`."""
    where = [SkillProgress.commune == commune] if commune is not None else []
    learners = await session.scalar(select(func.count(func.distinct(SkillProgress.user_id))).where(
        SkillProgress.updated_at >= since, *where))
    finished = await session.scalar(select(func.count()).select_from(SkillProgress).where(
        SkillProgress.finished_at >= since, *where))
    return int(learners or 0), int(finished or 0)
