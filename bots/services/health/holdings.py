"""What the health service keeps about a villager, declared for the account's /mydata
(bots/services/account/): consults and emergency alerts and appointments (the export), and the
patient's part of an erasure.

- An upcoming appointment is cancelled and its reminder withdrawn (`cancel_booking`, as when the
  villager cancels it); the doctors are told the place is free.
- An open consult ends with the account; the doctors who had it are told.
The rows themselves go with the account (the database cascades them with the user).

Without appointments configured (no roster) the bookings still made are cancelled all the same, named
by their code, and nobody is told.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from backends.health.appointments import Appointment, upcoming_of
from backends.health.consults import CLOSED, Consult
from backends.health.mydata import health_records
from bots.dialogue.base import Context
from bots.dialogue.notify import notify
from bots.dialogue.service import Erased, Holdings
from bots.services.health.appointments import AppointmentDesk, cancel_booking
from core.models import User, utcnow

# After the orders, before the dossiers, in the deletion warning and the farewell.
POSITION = 20


class HealthHoldings:
    """The health service's `Holdings`, with the appointments desk when the commune runs one."""

    def __init__(self, booking: AppointmentDesk | None) -> None:
        self.booking = booking

    def declared(self) -> Holdings:
        return Holdings(position=POSITION, export={"health": self.export}, open_items=self.open_items,
                        erase=self.erase)

    def _now(self) -> dt.datetime:
        return self.booking.clock() if self.booking is not None else utcnow()  # the bookings' clock

    async def export(self, context: Context) -> dict[str, object]:
        return await health_records(context.session, context.services.cipher, context.identity.id)

    async def _upcoming(self, context: Context, now: dt.datetime) -> list[Appointment]:
        return await upcoming_of(context.session, context.identity.id, now)

    @staticmethod
    async def _open_consults(context: Context) -> list[Consult]:
        query = select(Consult).where(Consult.user_id == context.identity.id, Consult.status != CLOSED)
        return list(await context.session.scalars(query.order_by(Consult.id)))

    # -- the warning

    async def open_items(self, context: Context) -> list[str]:
        appointments = await self._upcoming(context, self._now())
        return [*(self._appointment_line(context, a) for a in appointments),
                *(self._consult_line(context, c) for c in await self._open_consults(context))]

    def _appointment_line(self, context: Context, appointment: Appointment) -> str:
        desk = self.booking
        line = desk.describe(context, appointment).removeprefix("• ") if desk else appointment.code
        return context.t("appointments.mydata.open.appointment", line=line)

    @staticmethod
    def _consult_line(context: Context, consult: Consult) -> str:
        return context.t("health.mydata.open.consult", id=consult.id,
                         status=context.t(f"health.status.{consult.status}"))

    # -- the erasure

    async def erase(self, context: Context) -> Erased:
        now = self._now()
        appointments = await self._upcoming(context, now)
        consults = await self._open_consults(context)
        return Erased(done=[*await self._cancel_appointments(context, appointments, now),
                            *await self._end_consults(context, consults)])

    async def _cancel_appointments(self, context: Context, appointments: list[Appointment],
                                   now: dt.datetime) -> list[str]:
        cancelled = []
        for appointment in appointments:
            if not await cancel_booking(context, appointment, now):
                continue
            cancelled.append(appointment.code)
            if self.booking is not None:
                await self.booking.tell_station(context, appointment,
                                                "appointments.mydata.notify.appointment_cancelled")
        if not cancelled:
            return []
        return [context.t("appointments.mydata.done.appointments", codes=", ".join(cancelled))]

    @staticmethod
    async def _end_consults(context: Context, consults: list[Consult]) -> list[str]:
        """The doctors who were told of each consult (or answered it) hear that it ended; the rows go
        with the account."""
        for consult in consults:
            told = {int(n) for n in consult.notified.split(",") if n.isdigit()}
            told |= {consult.doctor_id} if consult.doctor_id else set()
            for doctor_id in sorted(told - {context.identity.id}):
                doctor = await context.session.get(User, doctor_id)
                if doctor is None:
                    continue
                await notify(context.session, context.services, doctor, "health.mydata.notify.consult_ended",
                             f"consult-erased:{consult.id}:{doctor.id}", id=consult.id)
        if not consults:
            return []
        return [context.t("health.mydata.done.consults", ids=", ".join(f"#{c.id}" for c in consults))]
