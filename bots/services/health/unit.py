"""Ask a doctor: emergencies (115 first, the station alerted), the consult queue answered by the
on-duty doctor, and appointments from the station's roster; late consults are escalated."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from bots.dashboard import commerce, providers
from bots.dialogue.base import Context
from bots.dialogue.service import (
    Buttons,
    Command,
    DeskButton,
    MenuEntry,
    Panel,
    Role,
    Service,
    Task,
    TaskEnvironment,
)
from bots.services.health import appointments
from bots.services.health.appointments import AppointmentDesk
from bots.services.health.desk import (
    COMPOSE_FLOW,
    FAMILY,
    FLOW,
    FORM,
    PUBLIC_FAMILY,
    HealthDesk,
    run_escalation,
)
from bots.services.health.holdings import HealthHoldings
from bots.services.kit import Kit
from core.messages import Reply
from core.roles import PUBLIC, only

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("backends.health.consults", "backends.health.appointments")


async def submitted(fallback: HealthDesk, context: Context, values: dict[str, Any]) -> list[Reply]:
    """A finished consult form goes to the desk of the turn's commune: the communes of a province share
    one `Forms` (its completions by name), but each has its own desk and roster."""
    desk = context.assembly.desk("health") if context.assembly is not None else fallback
    return await desk.submitted(context, values)


def service(kit: Kit) -> Service:
    # Appointments with a roster of the station's doctors; one clock with the consults (HealthDesk).
    booking = AppointmentDesk(kit.roster) if kit.roster is not None else None
    desk = HealthDesk(kit.forms, roster=kit.roster, appointments=booking)
    kit.forms.on_complete(FORM, functools.partial(submitted, desk))
    kit.forms.sealed.add(FORM)  # the consult's photo is health data: stored sealed
    doctor = only("doctor")

    async def escalate(environment: TaskEnvironment, stop: asyncio.Event) -> None:
        await run_escalation(environment.database, environment.services, stop, desk=desk)

    return Service(
        name="health",
        intents={"emergency": desk.emergency, "doctor_ask": desk.ask,
                 **({"doctor_appointment": booking.start} if booking is not None else {})},
        states={FLOW: desk.relay, COMPOSE_FLOW: desk.composing,
                **({appointments.FLOW: booking.typed} if booking is not None else {})},
        through_emergency=(FLOW,),  # the doctor reads the consult's message after its 115 answer
        commands=(Command("/queue", doctor, desk.queue), Command("/answer", doctor, desk.answer),
                  Command("/close", doctor, desk.close)),
        buttons=(Buttons(FAMILY, doctor, actions={
                     "open": desk.open_pressed, "alert": desk.alert_pressed, "queue": desk.queue,
                     "reply": desk.reply_pressed, "close": desk.close_pressed, "take": desk.take_pressed,
                     "alert-reply": desk.alert_reply_pressed, "today": desk.today_pressed,
                     "iam": desk.iam_pressed}, handler=desk.unknown),
                 # Any other action is read as the consent question's answer, as it always was.
                 Buttons(PUBLIC_FAMILY, PUBLIC, actions={"reply": desk.reply_doctor, "consent": desk.consent},
                         handler=desk.consent),
                 # An unknown action gets the menu's polite answer (its fallback).
                 *((Buttons(appointments.FAMILY, PUBLIC, actions={
                     "start": booking.start, "mine": booking.mine, "kind": booking.kind_pressed,
                     "more": booking.more_pressed, "pick": booking.pick_pressed, "book": booking.book_pressed,
                     "cancel": booking.cancel_pressed, "cancel-yes": booking.cancel_yes_pressed,
                     "video": booking.video_pressed}),) if booking is not None else ())),
        media={"location": desk.located},  # a location shared just after an emergency goes to the doctors
        menu=(MenuEntry("doctor_ask", 40), MenuEntry("doctor_appointment", 50), MenuEntry("emergency", 60)),
        roles=(Role("doctor"),),
        desk_buttons=(DeskButton("doctor", "help.doctor.button.queue", f"{FAMILY}:queue"),
                      DeskButton("doctor", "help.doctor.button.today", f"{FAMILY}:today")),
        tasks=(Task("consult-escalation", escalate),),
        figures=(Panel(20, providers.consults), Panel(70, commerce.appointments)),
        events={"health.emergency": "emergencies", "health.consult_open": "consults_opened",
                "health.consult_answer": "consult_answers", "health.consult_close": "consults_closed"},
        i18n=("health.", "appointments."),
        # Consults and appointments: still there to cancel and erase when the roster is gone.
        holdings=HealthHoldings(booking).declared(),
        desk=desk,
    )
