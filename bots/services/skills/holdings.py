"""What digital skills keep about a villager, declared for the account's /mydata: their progress in each
course (the card's line and the export) and the certificates signed for them. On erasure the progress,
the quiz answers and the hamlet go with the account (the database cascades), and the certificates are
withdrawn too: a certificate names its holder, so `/verify/{code}` no longer finds it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from backends.skills.store import SkillAnswer, SkillLearner, SkillProgress
from bots.dialogue.base import Context
from bots.dialogue.service import Erased, Holdings
from bots.services.skills.certificate import KIND, subject
from core.signing import SignedDocumentRow
from core.timezones import VIETNAM

POSITION = 60


async def _progress(context: Context) -> list[SkillProgress]:
    return list(await context.session.scalars(
        select(SkillProgress).where(SkillProgress.user_id == context.identity.id).order_by(SkillProgress.id)))


async def summary(context: Context) -> list[str]:
    held = await _progress(context)
    if not held:
        return []
    done = sum(progress.finished_at is not None for progress in held)
    return [context.t("skills.mydata.summary", started=len(held), done=done)]


async def export(context: Context) -> dict[str, Any]:
    learner = await context.session.get(SkillLearner, context.identity.id)
    answers = await context.session.scalars(
        select(SkillAnswer).where(SkillAnswer.user_id == context.identity.id).order_by(SkillAnswer.id))
    return {
        "hamlet": learner.hamlet_id if learner is not None else None,
        "courses": [{"course": p.course, "lessons_done": p.lessons_done,
                     "started_at": p.started_at.astimezone(VIETNAM).isoformat(),
                     "finished_at": p.finished_at.astimezone(VIETNAM).isoformat() if p.finished_at else None,
                     "certificate": p.certificate} for p in await _progress(context)],
        "quiz_answers": [{"course": a.course, "lesson": a.lesson, "question": a.question + 1,
                          "correct": a.correct, "at": a.at.astimezone(VIETNAM).isoformat()} for a in answers],
    }


async def erase(context: Context) -> Erased:
    held = await _progress(context)
    withdrawn = await context.session.execute(delete(SignedDocumentRow).where(
        SignedDocumentRow.kind == KIND, SignedDocumentRow.subject.in_([subject(p) for p in held])))
    count = int(withdrawn.rowcount or 0)  # type: ignore[attr-defined]
    return Erased(audited={"certificates": count} if count else {})


HOLDINGS = Holdings(position=POSITION, summary=summary, export={"skills": export}, erase=erase)
