"""Homestay hosts (role `host`, invited like sellers: `/invite host <stay id>`, then `/join`): `/bookings`
lists their stays' coming bookings, each with what they may do now: confirm or decline one whose deposit is
paid, or say a transfer's deposit arrived (which settles it in the ledger as the webhook would a card's).
The commune's staff do the same, from the notices they get, for a stay whose owner is not on xaso. A code
of a booking of another stay reads as one that does not exist. And the tasks of every commune's bookings:
unpaid holds that ran out are released, and guests and hosts are reminded the day before.
"""

from __future__ import annotations

import datetime as dt

from backends.payments import ledger
from backends.tourism.bookings import (
    CANCELLED,
    CONFIRMED,
    EXPIRED,
    HOST,
    REQUESTED,
    STARTING,
    UNPAID,
    Booking,
    arriving_on,
    by_code,
    cancel,
    claim_reminder,
    expired_holds,
    move,
    of_stays,
)
from backends.tourism.hosts import create_host_invite, hosts_of, link_after_join, stays_of
from backends.tourism.places import Tourism
from bots.dialogue.base import Context, Services
from bots.dialogue.service import TaskEnvironment, TaskRun, periodic
from bots.services.tourism.notices import (
    HOST_FAMILY,
    booking_fields,
    guest_contact,
    host_buttons,
    tell_guest,
    tell_hosts,
)
from bots.services.tourism.refunds import RefundDesk, refund_by_card, withdraw_all
from core.db import Database
from core.i18n import local
from core.messages import Button, Reply
from core.models import utcnow
from core.timezones import VIETNAM

FAMILY = HOST_FAMILY
STAFF = frozenset({"staff", "admin"})  # who act for a stay's owner not on xaso
REMIND_HOUR = 8  # the day before check-in, in Vietnam
INTERVAL = 300.0


class HostDesk:
    def __init__(self, tourism: Tourism) -> None:
        self.tourism = tourism

    async def bookings(self, context: Context) -> list[Reply]:
        stays = await stays_of(context.session, context.identity.id, context.services.commune.code)
        if not stays:
            return [Reply(context.t("tourism.host.no_stays"))]
        today = utcnow().astimezone(VIETNAM).date()
        coming = await of_stays(context.session, context.services.commune.code, stays, today)
        names = ", ".join(
            local(dict(self.tourism.stays[s].name), context.lang) if s in self.tourism.stays else s
            for s in stays
        )
        if not coming:
            return [Reply(context.t("tourism.host.none", stays=names))]
        replies = [Reply(context.t("tourism.host.list", stays=names, count=len(coming)))]
        for booking in coming:
            replies.append(self._line(context, booking))
        return replies

    def _line(self, context: Context, booking: Booking) -> Reply:
        fields = booking_fields(context.services, self.tourism, booking, context.lang)
        text = context.t("tourism.host.line", **fields, **guest_contact(context.services, booking))
        return Reply(text, host_buttons(context.services, booking, context.lang))

    async def _hosted(self, context: Context, any_stay_for_staff: bool = False) -> Booking | None:
        """The booking the pressed button names, if it is of a stay this host hosts; for the commune's
        staff, of a stay that has no host on xaso (they act for its owner, whom they call), or of any
        stay with `any_stay_for_staff` (a transfer reaches the commune's account: staff see it arrive)."""
        commune = context.services.commune.code
        booking = await by_code(context.session, context.pressed.arg[:16], commune)
        if booking is None:
            return None
        if booking.stay_id in await stays_of(context.session, context.identity.id, commune):
            return booking
        if context.identity.has_any(STAFF) and (
            any_stay_for_staff or not await hosts_of(context.session, commune, booking.stay_id)
        ):
            return booking
        return None

    def _not_found(self, context: Context, action: str) -> list[Reply]:
        context.audit(action, subject=f"booking:{context.pressed.arg[:16]}", outcome="not_found")
        return [Reply(context.t("tourism.host.not_found", code=context.pressed.arg[:16].upper()))]

    async def confirm_pressed(self, context: Context) -> list[Reply]:
        booking = await self._hosted(context)
        if booking is None:
            return self._not_found(context, "tourism.host_confirm")
        if not await move(
            context.session,
            booking,
            (REQUESTED,),
            CONFIRMED,
            confirmed_at=utcnow(),
            confirmed_by=context.identity.id,
        ):
            context.audit("tourism.host_confirm", subject=f"booking:{booking.code}", outcome="refused")
            return [self._bad_state(context, booking)]
        context.audit("tourism.host_confirm", subject=f"booking:{booking.code}")
        await tell_guest(
            context.services,
            context.session,
            self.tourism,
            booking,
            "tourism.booking.confirmed_guest",
            "stay-confirmed",
            buttons=True,
        )
        return [
            Reply(
                context.t(
                    "tourism.host.confirmed", code=booking.code, **guest_contact(context.services, booking)
                )
            )
        ]

    async def decline_pressed(self, context: Context) -> list[Reply]:
        """The host cannot take the guests: the booking is cancelled, its nights freed; a paid deposit is
        owed back whole."""
        booking = await self._hosted(context)
        if booking is None:
            return self._not_found(context, "tourism.host_decline")
        refund = booking.deposit_vnd if booking.paid_at else None
        if not await cancel(context.session, booking, (UNPAID, REQUESTED), HOST, refund_vnd=refund):
            context.audit("tourism.host_decline", subject=f"booking:{booking.code}", outcome="refused")
            return [self._bad_state(context, booking)]
        await ledger.cancel_pending(context.session, booking.code)
        context.audit(
            "tourism.host_decline", subject=f"booking:{booking.code}", detail={"refund_vnd": refund or 0}
        )
        await tell_guest(
            context.services,
            context.session,
            self.tourism,
            booking,
            "tourism.booking.declined_guest",
            "stay-declined",
            buttons=True,
        )
        carded = await refund_by_card(context, self.tourism, booking)
        key = (
            "tourism.host.declined_refund_card"
            if carded
            else "tourism.host.declined_refund"
            if refund
            else "tourism.host.declined"
        )
        return [
            Reply(
                context.t(
                    key,
                    code=booking.code,
                    **guest_contact(context.services, booking),
                    deposit=booking_fields(context.services, self.tourism, booking, context.lang)["deposit"],
                )
            )
        ]

    async def received_pressed(self, context: Context) -> list[Reply]:
        """A transfer's deposit arrived: its pending VietQR payment is settled (the ledger tells the
        booking: REQUESTED, guest told), then the host may confirm."""
        booking = await self._hosted(context, any_stay_for_staff=True)
        if booking is None:
            return self._not_found(context, "tourism.deposit_confirm")
        pending = await ledger.payments_of(context.session, booking.code, ledger.PENDING)
        pending = [payment for payment in pending if payment.provider == "vietqr"]
        settled = (
            await ledger.settle(
                context.session,
                context.services.payments,
                pending[0].reference,
                confirmed_by=f"user:{context.identity.id}",
            )
            if pending
            else None
        )
        if settled is None:
            context.audit(
                "tourism.deposit_confirm", subject=f"booking:{booking.code}", outcome="nothing_pending"
            )
            return [self._bad_state(context, booking)]
        context.audit("tourism.deposit_confirm", subject=f"booking:{booking.code}")
        await context.session.refresh(booking)
        return [self._line(context, booking)]

    def _bad_state(self, context: Context, booking: Booking) -> Reply:
        return Reply(
            context.t(
                "tourism.host.bad_state",
                code=booking.code,
                status=context.t(f"tourism.booking.status.{booking.status}"),
            )
        )

    async def refunded_pressed(self, context: Context) -> list[Reply]:
        """«💸 Đã hoàn cọc»: the deposit of a cancelled booking given back by hand (a transfer)."""
        booking = await self._hosted(context)
        if booking is None:
            return self._not_found(context, "tourism.refund")
        return await RefundDesk(self.tourism).refunded_pressed(context, booking)

    async def list_pressed(self, context: Context) -> list[Reply]:
        return await self.bookings(context)

    async def unknown(self, context: Context) -> list[Reply]:
        return [Reply(context.t("unknown_button"))]

    # -- host invites and /join

    async def invite(self, context: Context) -> list[Reply]:
        """`/invite host STAY_ID`: an invite tied to that stay (the account service's /invite asks)."""
        parts = context.args.split()
        stay = self.tourism.stays.get(parts[1]) if len(parts) > 1 else None
        if stay is None:
            return [Reply(context.t("tourism.invite.usage", stays=", ".join(self.tourism.stays) or "—"))]
        code = await create_host_invite(
            context.session,
            context.services.hasher,
            stay.id,
            created_by=f"user:{context.identity.id}",
            commune=context.services.commune.code,
        )
        context.audit("role.invite", detail={"role": "host", "stay": stay.id})
        return [Reply(context.t("tourism.invite.ok", stay=local(dict(stay.name), context.lang), code=code))]

    async def joined(self, context: Context) -> list[Reply]:
        linked = await link_after_join(
            context.session, context.services.hasher, context.args, context.identity.id
        )
        if linked is None:
            return []
        context.audit("tourism.host_linked", detail={"stay": linked})
        stay = self.tourism.stays.get(linked)
        return [
            Reply(
                context.t(
                    "tourism.join.linked", stay=local(dict(stay.name), context.lang) if stay else linked
                ),
                (Button(context.t("tourism.host.button.bookings"), f"{FAMILY}:list"),),
            )
        ]


# -- the commune's booking tasks


async def release_expired(
    database: Database, services: Services, tourism: Tourism, now: dt.datetime | None = None
) -> int:
    """Unpaid bookings whose hold ran out (and card payments stuck starting) are cancelled, their nights
    freed, their pending payments cancelled in the ledger and, once that has committed, withdrawn at the
    provider; guests told. How many."""
    now = now or utcnow()
    code = services.commune.code
    released = 0
    stopped: list[tuple[str, str]] = []
    async with database.session() as session:
        for booking in await expired_holds(session, code, now):
            pending = await ledger.payments_of(session, booking.code, ledger.PENDING)
            if not await cancel(session, booking, (UNPAID, STARTING), EXPIRED, now=now):
                continue
            await ledger.cancel_pending(session, booking.code)
            stopped += [(payment.provider, payment.reference) for payment in pending]
            await tell_guest(
                services,
                session,
                tourism,
                booking,
                "tourism.booking.expired_guest",
                "stay-expired",
                buttons=True,
            )
            released += 1
    await withdraw_all(services.payments, stopped)  # once committed, outside the writer lock
    if released:
        await services.audit.record(
            "system", "tourism.holds_released", subject=f"commune:{code}", detail={"bookings": released}
        )
    return released


async def send_reminders(
    database: Database, services: Services, tourism: Tourism, now: dt.datetime | None = None
) -> int:
    """From `REMIND_HOUR` the day before check-in, the guest and the hosts of each standing booking are
    reminded, once (the booking's reminder is claimed in the transaction that queues it)."""
    moment = (now or utcnow()).astimezone(VIETNAM)
    if moment.hour < REMIND_HOUR:
        return 0
    sent = 0
    async with database.session() as session:
        for booking in await arriving_on(
            session, services.commune.code, moment.date() + dt.timedelta(days=1)
        ):
            if booking.status == CANCELLED or not await claim_reminder(session, booking, moment):
                continue
            await tell_guest(
                services, session, tourism, booking, "tourism.booking.reminder_guest", "stay-remind"
            )
            await tell_hosts(services, session, tourism, booking, "tourism.host.reminder", "stay-remind")
            sent += 1
    return sent


def booking_tasks(tourism: Tourism) -> TaskRun:
    async def work(environment: TaskEnvironment) -> None:
        if not tourism.stays:
            return
        await release_expired(environment.database, environment.services, tourism)
        await send_reminders(environment.database, environment.services, tourism)

    return periodic(work, failing="homestay holds were not released or reminders not sent", interval=INTERVAL)
