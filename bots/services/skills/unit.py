"""Digital skills: a villager takes short courses of data/lessons/ in chat (intent `learn_skills`,
`/hoc`, the menu), answers each lesson's quiz and receives a certificate signed with the commune's key;
the community digital technology team (role `tutor`) follows their hamlet's learners (`/learners`) and
sends a course to a villager they help. The dashboard shows courses started and finished, learners by
hamlet and each question's pass rate."""

from __future__ import annotations

from bots.dashboard.skills import skills_section
from bots.dialogue.service import Buttons, Command, DeskButton, MenuEntry, Panel, Role, Service, Task
from bots.services.kit import Kit
from bots.services.skills import holdings
from bots.services.skills.certificate import FAMILY, FLOW, CertificateDesk
from bots.services.skills.course import LearnDesk
from bots.services.skills.tips import daily_tips
from bots.services.skills.tutor import FAMILY as TUTOR_FAMILY
from bots.services.skills.tutor import TutorDesk
from core.roles import PUBLIC, only

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("backends.skills.store",)


def service(kit: Kit) -> Service:
    desk, tutor = LearnDesk(kit.courses, CertificateDesk()), TutorDesk(kit.courses)
    return Service(
        name="skills",
        intents={"learn_skills": desk.start},
        states={FLOW: desk.typed},
        commands=(Command("/hoc", PUBLIC, desk.start), Command("/learn", PUBLIC, desk.start),
                  Command("/learners", only("tutor"), tutor.command)),
        # The villager's own progress: every action checks the place the button names against theirs.
        buttons=(Buttons(FAMILY, PUBLIC, actions={
                     "list": desk.list_pressed, "course": desk.course_pressed, "next": desk.next_pressed,
                     "ans": desk.answer_pressed, "stop": desk.stop, "again": desk.again_pressed,
                     "hamlet": desk.hamlet_pressed, "finish": desk.finish_pressed, "name": desk.name_pressed,
                     "sign": desk.sign_pressed, "carry": desk.carry_pressed,
                     "cert": desk.certificate_pressed}, handler=desk.unknown),
                 Buttons(TUTOR_FAMILY, only("tutor"), actions={
                     "hamlet": tutor.hamlet_pressed, "hamlets": tutor.change_pressed,
                     "send": tutor.send_pressed, "course": tutor.course_pressed}, handler=tutor.unknown)),
        menu=(MenuEntry("learn_skills", 128),),
        roles=(Role("tutor"),),
        desk_buttons=(DeskButton("tutor", "help.tutor.button.learners", f"{TUTOR_FAMILY}:hamlets"),),
        tasks=(Task("skills-daily-tip", daily_tips(kit.courses)),),
        figures=(Panel(80, skills_section(kit.courses)),),
        events={"skills.lesson_done": "lessons_done", "skills.course_done": "courses_done",
                "skills.certificate": "certificates", "skills.tips": "tips_sent"},
        i18n=("skills.", "skills_tutor."),
        holdings=holdings.HOLDINGS,
        # A villager who sends a blocked link is offered the course on scams.
        link_refused=tuple(("skills.button.scam_course", f"{FAMILY}:course:{course.id}")
                           for course in filter(None, (kit.courses.offered_for("scam_link"),))),
        desk=desk,
    )
