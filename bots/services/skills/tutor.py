"""The community digital technology team's desk (role `tutor`, invited like staff, per commune):
`/learners` lists who in a hamlet started and finished which course — progress only, never a quiz
answer — and a tutor sends a course to a villager they are helping (a notice with the course's button).

A tutor picks their hamlet once (remembered, changeable); everything is of the tutor's own commune: a
villager of another commune is not found, whatever the button says."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from backends.addresses.hamlets import Hamlets
from backends.skills.lessons import Courses
from backends.skills.store import SkillLearner, SkillProgress, hamlet_of, set_hamlet
from bots.dialogue.base import Context
from bots.dialogue.notify import notify
from core.messages import Button, Reply
from core.models import User, utcnow

FAMILY = "tutor"
WHOLE_COMMUNE = "-"
LISTED = 30  # learners a list shows; the rest are counted
SEND_BUTTONS = 8  # «send a course» buttons under a list (Zalo splits them five a message)


@dataclass
class TutorDesk:
    courses: Courses

    def _hamlets(self, context: Context) -> Hamlets:
        return Hamlets.from_commune(context.services.commune)

    async def command(self, context: Context) -> list[Reply]:
        """`/learners`: the tutor's hamlet's learners, or the hamlets to choose from first."""
        mine = await hamlet_of(context.session, context.identity.id)
        if mine is None or mine.commune != context.services.commune.code:
            return [self._ask_hamlet(context)]
        return await self._listing(context, mine.hamlet_id)

    def _ask_hamlet(self, context: Context) -> Reply:
        buttons = [Button(h.name, f"{FAMILY}:hamlet:{h.id}") for h in self._hamlets(context)]
        buttons.append(Button(context.t("skills_tutor.whole_commune"), f"{FAMILY}:hamlet:{WHOLE_COMMUNE}"))
        return Reply(context.t("skills_tutor.ask_hamlet"), tuple(buttons))

    async def hamlet_pressed(self, context: Context) -> list[Reply]:
        """`tutor:hamlet:<id or ->`: remembered as the tutor's hamlet, then its list."""
        hamlet = context.pressed.arg
        if hamlet != WHOLE_COMMUNE and self._hamlets(context).get(hamlet) is None:
            return [Reply(context.t("unknown_button")), self._ask_hamlet(context)]
        chosen = None if hamlet == WHOLE_COMMUNE else hamlet
        await set_hamlet(context.session, context.identity.id, context.services.commune.code, chosen)
        return await self._listing(context, chosen)

    async def change_pressed(self, context: Context) -> list[Reply]:
        return [self._ask_hamlet(context)]

    async def _listing(self, context: Context, hamlet_id: str | None) -> list[Reply]:
        commune = context.services.commune.code
        where = [SkillLearner.commune == commune, SkillLearner.user_id != context.identity.id,
                 *([SkillLearner.hamlet_id == hamlet_id] if hamlet_id is not None else [])]
        total = int(await context.session.scalar(select(func.count()).select_from(SkillLearner).where(*where))
                    or 0)
        learners = (await context.session.execute(
            select(User.id, User.display_name).join(SkillLearner, SkillLearner.user_id == User.id)
            .where(*where).order_by(SkillLearner.updated_at.desc(), User.id).limit(LISTED))).all()
        place = self._place(context, hamlet_id)
        change = Button(context.t("skills_tutor.button.change"), f"{FAMILY}:hamlets")
        if not learners:
            return [Reply(context.t("skills_tutor.empty", place=place), (change,))]
        ids = [row.id for row in learners]
        held: dict[int, list[SkillProgress]] = {}
        for progress in await context.session.scalars(
                select(SkillProgress)
                .where(SkillProgress.user_id.in_(ids), SkillProgress.commune == commune)):
            held.setdefault(progress.user_id, []).append(progress)
        lines, buttons = [], []
        for row in learners:
            name = self._name(context, row.display_name, row.id)
            courses = "; ".join(self._course_line(context, p) for p in held.get(row.id, [])) \
                or context.t("skills_tutor.not_started")
            lines.append(f"• {name}: {courses}")
            if len(buttons) < SEND_BUTTONS:
                buttons.append(Button(context.t("skills_tutor.button.send", name=name),
                                      f"{FAMILY}:send:{row.id}"))
        more = total - len(learners)
        text = context.t("skills_tutor.list", place=place, count=total, learners="\n".join(lines))
        if more > 0:
            text += "\n" + context.t("skills_tutor.more", count=more)
        return [Reply(text, (*buttons, change))]

    def _place(self, context: Context, hamlet_id: str | None) -> str:
        if hamlet_id is None:
            return context.t("skills_tutor.whole_commune")
        hamlet = self._hamlets(context).get(hamlet_id)
        return hamlet.name if hamlet is not None else hamlet_id

    def _name(self, context: Context, display_name: str | None, user_id: int) -> str:
        return (display_name or "").strip()[:40] or context.t("skills_tutor.unnamed", id=user_id)

    def _course_line(self, context: Context, progress: SkillProgress) -> str:
        course = self.courses.get(progress.course)
        if course is None:
            return progress.course
        if progress.finished_at is not None:
            return context.t("skills_tutor.course_done", course=course.name(context.lang))
        return context.t("skills_tutor.course_doing", course=course.name(context.lang),
                         done=progress.lessons_done, lessons=len(course.lessons))

    async def _learner(self, context: Context, arg: str) -> User | None:
        """The villager of the tutor's commune the button names, or None."""
        if not arg.isdigit() or len(arg) > 12:
            return None
        user = await context.session.get(User, int(arg))
        # A villager who never chose (an installation for one commune) belongs to the installation's own.
        commune = user.commune or context.services.settings.commune_code if user is not None else None
        if user is None or user.id == context.identity.id or commune != context.services.commune.code:
            return None
        return user

    async def send_pressed(self, context: Context) -> list[Reply]:
        """`tutor:send:<user>`: which course to send them."""
        user = await self._learner(context, context.pressed.arg)
        if user is None:
            return [Reply(context.t("skills_tutor.unknown_learner"))]
        name = self._name(context, user.display_name, user.id)
        buttons = tuple(Button(course.name(context.lang), f"{FAMILY}:course:{user.id}:{course.id}")
                        for course in self.courses)
        return [Reply(context.t("skills_tutor.pick_course", name=name), buttons)]

    async def course_pressed(self, context: Context) -> list[Reply]:
        """`tutor:course:<user>:<course>`: the course sent to the villager (a notice with its button)."""
        args = context.pressed.args
        user = await self._learner(context, args[0]) if len(args) == 2 else None
        course = self.courses.get(args[1]) if len(args) == 2 else None
        if user is None or course is None:
            return [Reply(context.t("skills_tutor.unknown_learner"))]
        moment = utcnow().strftime("%Y%m%d%H%M")
        sent = await notify(context.session, context.services, user, lambda lang: Reply(
            context.services.catalogue.t("skills.sent_to_you", lang, course=course.name(lang)),
            (Button(context.services.catalogue.t("skills.button.open", lang), f"learn:course:{course.id}"),)),
            f"skills-sent:{user.id}:{course.id}:{moment}")
        context.audit("skills.sent", subject=f"user:{user.id}", detail={"course": course.id})
        name = self._name(context, user.display_name, user.id)
        key = "skills_tutor.sent" if sent else "skills_tutor.sent_already"
        return [Reply(context.t(key, name=name, course=course.name(context.lang)))]

    async def unknown(self, context: Context) -> list[Reply]:
        return [Reply(context.t("unknown_button")), self._ask_hamlet(context)]
