"""Digital skills, the villager's side (intent `learn_skills`, `/hoc`, the menu): the courses with their
progress, then one step at a time («Tiếp ▶️»), each lesson ending with its quiz. A wrong answer explains
and asks again; a finished lesson offers the next; a finished course asks the name to print and issues
a certificate signed with the commune's key (certificate.py).

Where the villager is lives in `skill_progress` (backends/skills/store.py), not in the conversation, so
a course resumes where it was left after days or a restart. Every button names the place it was shown
at (`learn:next:<course>:<lesson>:<step>`, `learn:ans:<course>:<lesson>:<question>:<answer>`): a forged
one, an old one or one of another lesson is refused politely and the villager's real place shown again.
Typed answers reach the same buttons (core/answers.py): «tiep», «b», «khong ai ca».
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete

from backends.addresses.hamlets import Hamlets
from backends.skills.lessons import Course, Courses, Lesson
from backends.skills.store import (
    Place,
    SkillCarryCode,
    SkillProgress,
    begin,
    carry_progress,
    finish,
    hamlet_of,
    move,
    progress_of,
    progresses,
    record_answer,
    restart,
    set_hamlet,
)
from bots.dialogue import menu
from bots.dialogue.base import Context
from bots.services.skills.certificate import FAMILY, FLOW, CertificateDesk, display_name
from core import answers
from core.i18n import local
from core.messages import Button, Reply
from core.models import utcnow
from core.state import State
from core.text import fold

LETTERS = "ABC"
NO_HAMLET = "-"
CARRY_DIGITS = 8  # typed by hand on the other phone; with the rate limit, not to be guessed in a day
CARRY_FOR = dt.timedelta(days=1)
MIN_NAME, MAX_NAME = 2, 60
_NAME = re.compile(r"[^\W\d_]+(?:[ .'-][^\W\d_]+)*")
NEXT_WORDS = ("tiếp", "tiếp tục", "tiep tuc", "tiep", "ok", "next", "continue", "xong", "rồi", "roi",
              "hiểu rồi", "hieu roi", "đọc xong", "doc xong")

_NEXT_FOLDED = frozenset(fold(word) for word in NEXT_WORDS)


def _within_course(course: Course, progress: SkillProgress) -> None:
    """A place the course's file no longer has (a lesson or steps removed since): its nearest one."""
    if progress.lesson >= len(course.lessons):
        progress.lesson, progress.step = len(course.lessons) - 1, 0
    lesson = course.lessons[progress.lesson]
    if progress.step >= len(lesson.steps) + len(lesson.quiz):
        progress.step = len(lesson.steps)  # its quiz, from the first question


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 3 else None


@dataclass
class LearnDesk:
    courses: Courses
    certificates: CertificateDesk

    # -- the list of courses

    async def start(self, context: Context) -> list[Reply]:
        """`learn_skills`, `/hoc`, the menu: the courses, each with how far the villager got; `/hoc CODE`
        brings the progress made on another channel."""
        code = re.sub(r"[\s.-]", "", context.args)
        # `/hoc 12345678`, or «hoc 1234 5678» typed; «học kỹ năng số» is no code.
        if code and ((context.incoming.text or "").startswith("/") or code.isdigit()):
            return await self._carry_in(context, code)
        return await self._list(context)

    async def list_pressed(self, context: Context) -> list[Reply]:
        return await self._list(context)

    async def _list(self, context: Context, prefix: str = "") -> list[Reply]:
        context.set_state(None)
        if not len(self.courses):
            return [menu.menu_reply(context, "skills.none")]
        held = await progresses(context.session, context.identity.id)
        lines, buttons = [], []
        for course in self.courses:
            name = course.name(context.lang)
            lines.append(f"• {name}: {self._how_far(context, course, held.get(course.id))}")
            done = held.get(course.id) is not None and held[course.id].finished_at is not None
            buttons.append(Button(("✅ " if done else "📘 ") + name, f"{FAMILY}:course:{course.id}",
                                  synonyms=(name,)))
        if held:
            buttons.append(Button(context.t("skills.button.carry"), f"{FAMILY}:carry"))
        text = prefix + context.t("skills.list", courses="\n".join(lines))
        return [Reply(text, tuple(buttons))]

    def _how_far(self, context: Context, course: Course, progress: SkillProgress | None) -> str:
        if progress is None:
            return context.t("skills.progress.new", lessons=len(course.lessons))
        if progress.finished_at is not None:
            return context.t("skills.progress.done")
        return context.t("skills.progress.doing", done=progress.lessons_done, lessons=len(course.lessons))

    # -- a course

    async def course_pressed(self, context: Context) -> list[Reply]:
        """`learn:course:<id>`: the course where the villager left it (started now if new)."""
        course = self.courses.get(context.pressed.arg)
        if course is None:
            return await self._list(context, context.t("skills.unknown_course") + "\n")
        return await self.open(context, course)

    async def open(self, context: Context, course: Course) -> list[Reply]:
        if await hamlet_of(context.session, context.identity.id) is None and len(self._hamlets(context)):
            return [self._ask_hamlet(context, course)]
        progress = await begin(context.session, context.identity.id, context.services.commune.code,
                               course.id)
        if progress.finished_at is not None and progress.lesson >= len(course.lessons):
            return [self._finished(context, course, progress)]
        return self._show(context, course, progress)  # under way, or finished and taken again

    def _finished(self, context: Context, course: Course, progress: SkillProgress) -> Reply:
        context.set_state(None)
        buttons = [Button(context.t("skills.button.again"), f"{FAMILY}:again:{course.id}")]
        if progress.certificate is None:
            buttons.append(Button(context.t("skills.button.certificate"), f"{FAMILY}:finish:{course.id}"))
        else:
            buttons.append(Button(context.t("skills.button.certificate"), f"{FAMILY}:cert:{course.id}"))
        buttons.append(Button(context.t("skills.button.other"), f"{FAMILY}:list"))
        return Reply(context.t("skills.already_done", course=course.name(context.lang)), tuple(buttons))

    async def again_pressed(self, context: Context) -> list[Reply]:
        """`learn:again:<id>`: a finished course from its first step (it stays finished)."""
        course = self.courses.get(context.pressed.arg)
        progress = await progress_of(context.session, context.identity.id, course.id) if course else None
        if course is None or progress is None:
            return await self._list(context, context.t("skills.unknown_course") + "\n")
        await restart(context.session, progress)
        return self._show(context, course, progress)

    def _show(self, context: Context, course: Course, progress: SkillProgress,
              prefix: str = "") -> list[Reply]:
        """The villager's place: a step of a lesson, or a question of its quiz."""
        context.set_state(State(FLOW, {"course": course.id}))
        _within_course(course, progress)
        lesson = course.lessons[progress.lesson]
        stop = Button(context.t("skills.button.stop"), f"{FAMILY}:stop", means="cancel")
        heading = context.t("skills.heading", course=course.name(context.lang), number=progress.lesson + 1,
                            lessons=len(course.lessons), lesson=local(dict(lesson.title), context.lang))
        if progress.step < len(lesson.steps):
            step = lesson.steps[progress.step]
            data = f"{FAMILY}:next:{course.id}:{progress.lesson}:{progress.step}"
            ahead = Button(context.t("skills.button.next"), data, synonyms=NEXT_WORDS)
            place = context.t("skills.step", number=progress.step + 1, steps=len(lesson.steps))
            text = f"{prefix}{heading}\n{place}\n\n{local(dict(step.text), context.lang)}"
            return [Reply(text, (ahead, stop), image_url=self._picture(context, step.picture), listen=True)]
        return [self._question(context, course, progress.lesson, lesson, progress.step - len(lesson.steps),
                               prefix, stop)]

    def _question(self, context: Context, course: Course, index: int, lesson: Lesson, number: int,
                  prefix: str, stop: Button) -> Reply:
        question = lesson.quiz[number]
        buttons = tuple(
            Button(f"{LETTERS[n]}. {local(dict(answer.text), context.lang)}",
                   f"{FAMILY}:ans:{course.id}:{index}:{number}:{n}",
                   synonyms=(LETTERS[n], LETTERS[n].lower(), str(n + 1)))
            for n, answer in enumerate(question.answers))
        text = prefix + context.t("skills.question", number=number + 1, questions=len(lesson.quiz),
                                  lesson=local(dict(lesson.title), context.lang),
                                  question=local(dict(question.text), context.lang))
        return Reply(text, (*buttons, stop), listen=True)

    def _picture(self, context: Context, picture: str | None) -> str | None:
        if picture is None:
            return None
        return f"{context.services.settings.public_url.rstrip('/')}/lessons/img/{picture}"

    async def _stale(self, context: Context, course: Course | None) -> list[Reply]:
        """A button that is not for where the villager is: said so, and their real place shown."""
        progress = await progress_of(context.session, context.identity.id, course.id) if course else None
        if course is None or progress is None:
            return await self._list(context, context.t("skills.stale") + "\n")
        if progress.finished_at is not None and progress.lesson >= len(course.lessons):
            return [Reply(context.t("skills.stale")), self._finished(context, course, progress)]
        return self._show(context, course, progress, context.t("skills.stale") + "\n")

    # -- moving on

    async def next_pressed(self, context: Context) -> list[Reply]:
        """`learn:next:<course>:<lesson>:<step>`: the step after the one shown."""
        args = context.pressed.args
        course = self.courses.get(args[0]) if len(args) == 3 else None
        lesson, step = (_int(args[1]), _int(args[2])) if course is not None else (None, None)
        progress = await progress_of(context.session, context.identity.id, course.id) if course else None
        if course is None or progress is None or lesson is None or step is None \
                or lesson >= len(course.lessons) or step >= len(course.lessons[lesson].steps) \
                or not await move(context.session, progress, Place(lesson, step), Place(lesson, step + 1)):
            return await self._stale(context, course)
        return self._show(context, course, progress)

    async def answer_pressed(self, context: Context) -> list[Reply]:
        """`learn:ans:<course>:<lesson>:<question>:<answer>`: right moves on, wrong explains and asks
        again; either way the answer is counted for the question's pass rate."""
        args = context.pressed.args
        course = self.courses.get(args[0]) if len(args) == 4 else None
        numbers = [_int(arg) for arg in args[1:]] if course is not None else []
        progress = await progress_of(context.session, context.identity.id, course.id) if course else None
        if course is None or progress is None or None in numbers:
            return await self._stale(context, course)
        index, number, chosen = (n for n in numbers if n is not None)
        if index >= len(course.lessons):
            return await self._stale(context, course)
        lesson = course.lessons[index]
        shown = Place(index, len(lesson.steps) + number)
        if number >= len(lesson.quiz) or chosen >= len(lesson.quiz[number].answers) \
                or (progress.lesson, progress.step) != (shown.lesson, shown.step):
            return await self._stale(context, course)
        answer = lesson.quiz[number].answers[chosen]
        await record_answer(context.session, context.identity.id, progress.commune, course.id, lesson.id,
                            number, answer.correct)
        explained = local(dict(answer.explain), context.lang)
        stop = Button(context.t("skills.button.stop"), f"{FAMILY}:stop", means="cancel")
        if not answer.correct:
            context.audit("skills.answer", subject=f"skills:{course.id}", outcome="wrong",
                          detail={"lesson": lesson.id, "question": number})
            return [self._question(context, course, index, lesson, number,
                                   f"❌ {explained}\n{context.t('skills.try_again')}\n\n", stop)]
        context.audit("skills.answer", subject=f"skills:{course.id}", detail={"lesson": lesson.id,
                                                                             "question": number})
        if number + 1 < len(lesson.quiz):
            if not await move(context.session, progress, shown, Place(index, shown.step + 1)):
                return await self._stale(context, course)
            return self._show(context, course, progress, f"✅ {explained}\n\n")
        if index + 1 < len(course.lessons):
            done_before = progress.finished_at is not None  # taken again: it stays all done
            if not await move(context.session, progress, shown, Place(index + 1, 0),
                              lessons_done=None if done_before else index + 1):
                return await self._stale(context, course)
            context.audit("skills.lesson_done", subject=f"skills:{course.id}", detail={"lesson": lesson.id})
            context.set_state(None)
            done = context.t("skills.lesson_done", lesson=local(dict(lesson.title), context.lang),
                             done=index + 1, lessons=len(course.lessons))
            return [Reply(f"✅ {explained}\n\n🎉 {done}", (
                Button(context.t("skills.button.next_lesson"), f"{FAMILY}:course:{course.id}",
                       synonyms=NEXT_WORDS),
                Button(context.t("skills.button.later"), f"{FAMILY}:stop", means="cancel")))]
        if progress.finished_at is not None:  # taken again: done again, its certificate kept
            if not await move(context.session, progress, shown, Place(len(course.lessons), 0)):
                return await self._stale(context, course)
            return [Reply(f"✅ {explained}"), self._finished(context, course, progress)]
        if not await finish(context.session, progress, len(course.lessons)):
            return await self._stale(context, course)
        context.audit("skills.course_done", subject=f"skills:{course.id}")
        return [Reply(f"✅ {explained}"), await self.certificates.ask_name(context, course)]

    # -- the certificate

    async def finish_pressed(self, context: Context) -> list[Reply]:
        """`learn:finish:<course>`: asks the name for the certificate of a course finished without one."""
        course = self.courses.get(context.pressed.arg)
        progress = await progress_of(context.session, context.identity.id, course.id) if course else None
        if course is None or progress is None or progress.finished_at is None:
            return await self._stale(context, course)
        if progress.certificate is not None:
            return await self.certificates.resend(context, course, progress)
        return [await self.certificates.ask_name(context, course)]

    async def name_pressed(self, context: Context) -> list[Reply]:
        """`learn:name:<course>`: the name the chat platform gives, to confirm."""
        return await self._check_name(context, self.courses.get(context.pressed.arg),
                                      await display_name(context) or "")

    async def sign_pressed(self, context: Context) -> list[Reply]:
        """`learn:sign:<course>`: the name confirmed (it is in the conversation): the certificate."""
        course = self.courses.get(context.pressed.arg)
        state = context.state
        name = state.data.get("name") if state is not None and state.flow == FLOW \
            and state.data.get("course") == context.pressed.arg else None
        if course is None or not isinstance(name, str):
            return await self._stale(context, course)
        progress = await progress_of(context.session, context.identity.id, course.id)
        if progress is None or progress.finished_at is None:
            return await self._stale(context, course)
        context.set_state(None)
        if progress.certificate is not None:
            return await self.certificates.resend(context, course, progress)
        return await self.certificates.issue(context, course, progress, name)

    async def certificate_pressed(self, context: Context) -> list[Reply]:
        """`learn:cert:<course>`: the certificate again (its link, and its PDF if it is kept)."""
        course = self.courses.get(context.pressed.arg)
        progress = await progress_of(context.session, context.identity.id, course.id) if course else None
        if course is None or progress is None or progress.certificate is None:
            return await self._stale(context, course)
        return await self.certificates.resend(context, course, progress)

    async def _check_name(self, context: Context, course: Course | None, name: str) -> list[Reply]:
        """A name given for the certificate: asked again if it is no name, else read back to confirm
        (a signed paper cannot be corrected)."""
        progress = await progress_of(context.session, context.identity.id, course.id) if course else None
        if course is None or progress is None or progress.finished_at is None:
            return await self._stale(context, course)
        if progress.certificate is not None:
            context.set_state(None)
            return await self.certificates.resend(context, course, progress)
        cleaned = " ".join(name.split())
        if not MIN_NAME <= len(cleaned) <= MAX_NAME or not _NAME.fullmatch(cleaned):
            invalid = context.t("skills.name_invalid") + "\n"
            return [await self.certificates.ask_name(context, course, invalid)]
        return [self.certificates.confirm_name(context, course, cleaned)]

    # -- the conversation: typed answers

    async def typed(self, context: Context) -> list[Reply] | None:
        """The `learn` state: buttons read it themselves; a name typed when one is asked; «hủy» stops;
        «tiếp» after something else shows the lesson again; anything else goes to the NLU (a question
        about something else is answered, the lesson waits)."""
        assert context.state is not None
        press = context.press
        if press is not None:
            if press.family != FAMILY:
                context.set_state(None)
            return None
        text = (context.incoming.text or "").strip()
        if context.incoming.kind != "text" or not text or text.startswith("/"):
            return None
        course = self.courses.get(str(context.state.data.get("course", "")))
        if context.state.data.get("awaiting") == "name":
            if answers.is_cancel(text, strict=True):
                return await self.stop(context)
            return await self._check_name(context, course, text)
        if answers.is_cancel(text):
            return await self.stop(context)
        if course is not None and fold(text).strip(" .!") in _NEXT_FOLDED:
            # «tiep» after a question about something else: the lesson again, where it was left.
            progress = await progress_of(context.session, context.identity.id, course.id)
            if progress is not None and progress.finished_at is None:
                return self._show(context, course, progress)
        return None

    async def stop(self, context: Context) -> list[Reply]:
        """`learn:stop`, «hủy»: the place is kept; the course resumes from it next time."""
        context.set_state(None)
        return [menu.menu_reply(context, "skills.stopped")]

    # -- the progress carried to another channel (a one-time code, for a day)

    async def carry_pressed(self, context: Context) -> list[Reply]:
        """`learn:carry`: a code to type on the other channel (`/hoc CODE`)."""
        code = f"{secrets.randbelow(10 ** CARRY_DIGITS):0{CARRY_DIGITS}d}"
        mine = context.identity.id
        await context.session.execute(delete(SkillCarryCode).where(SkillCarryCode.user_id == mine))
        context.session.add(SkillCarryCode(digest=self._carry_digest(context, code), user_id=mine,
                                           commune=context.services.commune.code,
                                           expires_at=utcnow() + CARRY_FOR))
        context.audit("skills.carry_code")
        return [Reply(context.t("skills.carry.code", code=f"{code[:4]} {code[4:]}", plain=code),
                      copy=((context.t("skills.carry.copy"), f"/hoc {code}"),))]

    def _carry_digest(self, context: Context, code: str) -> str:
        return context.services.hasher.digest(f"skills-carry|{code}")

    async def _carry_in(self, context: Context, code: str) -> list[Reply]:
        row = await context.session.get(SkillCarryCode, self._carry_digest(context, code)) \
            if re.fullmatch(rf"\d{{{CARRY_DIGITS}}}", code) else None
        if row is None or row.expires_at < utcnow() or row.user_id == context.identity.id \
                or row.commune != context.services.commune.code:
            context.audit("skills.carry", outcome="refused")
            return await self._list(context, context.t("skills.carry.unknown") + "\n")
        moved = await carry_progress(context.session, row.user_id, context.identity.id)
        await context.session.delete(row)
        context.audit("skills.carry", detail={"from": row.user_id, "courses": moved})
        return await self._list(context, context.t("skills.carry.done", count=moved) + "\n")

    # -- the hamlet, asked once, for the tutors of the villager's hamlet

    def _hamlets(self, context: Context) -> Hamlets:
        return Hamlets.from_commune(context.services.commune)

    def _ask_hamlet(self, context: Context, course: Course) -> Reply:
        context.set_state(None)
        buttons = [Button(hamlet.name, f"{FAMILY}:hamlet:{course.id}:{hamlet.id}")
                   for hamlet in self._hamlets(context)]
        buttons.append(Button(context.t("skills.button.no_hamlet"),
                              f"{FAMILY}:hamlet:{course.id}:{NO_HAMLET}",
                              means="skip"))
        return Reply(context.t("skills.ask_hamlet"), tuple(buttons))

    async def hamlet_pressed(self, context: Context) -> list[Reply]:
        """`learn:hamlet:<course>:<hamlet or ->`: remembered, then the course opens."""
        args = context.pressed.args
        course = self.courses.get(args[0]) if len(args) == 2 else None
        hamlet = args[1] if course is not None else None
        known = {h.id for h in self._hamlets(context)}
        if course is None or hamlet is None or (hamlet != NO_HAMLET and hamlet not in known):
            return await self._list(context, context.t("unknown_button") + "\n")
        await set_hamlet(context.session, context.identity.id, context.services.commune.code,
                         None if hamlet == NO_HAMLET else hamlet)
        return await self.open(context, course)

    async def unknown(self, context: Context) -> list[Reply]:
        return await self._list(context, context.t("unknown_button") + "\n")
