"""What a booking's guest, host and the commune's staff are told, in each one's language, through the
outbox: its words (`booking_fields`), the notices, and the ledger's listener for paid deposits.

A stay whose owner has no host account yet is the commune staff's to pass on: they get the host's notices
with the owner's phone and the host's buttons, and confirm, decline or say a deposit arrived once they
have called the owner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from backends.payments import PaidEvent, PaidListener, format_vnd
from backends.tourism.bookings import CANCELLED, CODE_PREFIX, Booking, mark_paid, unseal
from backends.tourism.hosts import hosts_of
from backends.tourism.places import Stay, Tourism
from bots.dialogue.base import Services
from bots.dialogue.notify import notify
from core.i18n import Catalogue, local
from core.identity import users_with_role
from core.messages import Button, Reply
from core.models import User

BOOKINGS = CODE_PREFIX  # the payments the bookings hear of: their deposits' (DP-…)
HOST_FAMILY, GUEST_FAMILY = "host", "stay"
def day_label(catalogue: Catalogue, day: dt.date, lang: str, short: bool = False) -> str:
    """ "Thứ Bảy 05/12/2026"; short, for a button: "T7 05/12"."""
    name = catalogue.t(f"weekday.short.{day.weekday()}" if short else f"weekday.{day.weekday()}", lang)
    return f"{name} {day:%d/%m}" + ("" if short else f"/{day.year}")


def stay_name(stay: Stay | None, booking: Booking, lang: str) -> str:
    return local(dict(stay.name), lang) if stay is not None else booking.stay_id


def booking_fields(services: Services, tourism: Tourism, booking: Booking, lang: str) -> dict[str, str]:
    """The booking's words in `lang` (no personal data)."""
    t = services.catalogue.t
    return {
        "code": booking.code,
        "stay": stay_name(tourism.stays.get(booking.stay_id), booking, lang),
        "checkin": day_label(services.catalogue, booking.checkin, lang),
        "checkout": day_label(services.catalogue, booking.checkout, lang),
        "nights": str(booking.nights),
        "guests": str(booking.guests),
        "total": format_vnd(booking.total_vnd),
        "deposit": format_vnd(booking.deposit_vnd),
        "status": t(f"tourism.booking.status.{booking.status}", lang),
        "paid": t(
            "tourism.booking.deposit_paid"
            if booking.paid_at
            else (
                "tourism.booking.deposit_none"
                if not booking.deposit_vnd
                else "tourism.booking.deposit_unpaid"
            ),
            lang,
        ),
        "checkin_time": tourism.rules.checkin,
        "checkout_time": tourism.rules.checkout,
        "commune": services.commune.name,
    }


def guest_contact(services: Services, booking: Booking) -> dict[str, str]:
    """What a host needs to reach the guest (only hosts and staff are told this)."""
    return {
        "name": unseal(services.cipher, booking, "name") or "—",
        "phone": unseal(services.cipher, booking, "phone") or "—",
    }


def host_buttons(services: Services, booking: Booking, lang: str) -> tuple[Button, ...]:
    """What a host may do with a booking now: confirm or decline it; say a transfer's deposit arrived."""
    t = services.catalogue.t
    if booking.status == "requested":
        return (
            Button(
                t("tourism.host.button.confirm", lang, code=booking.code),
                f"{HOST_FAMILY}:confirm:{booking.code}",
                means="yes",
            ),
            Button(
                t("tourism.host.button.decline", lang, code=booking.code),
                f"{HOST_FAMILY}:decline:{booking.code}",
            ),
        )
    if booking.status == "unpaid" and booking.provider == "vietqr":
        return (
            Button(
                t("tourism.host.button.received", lang, code=booking.code),
                f"{HOST_FAMILY}:received:{booking.code}",
            ),
        )
    if (
        booking.status == CANCELLED
        and booking.refund_vnd
        and booking.refunded_at is None
        and not by_card(services, booking)
    ):
        return (
            Button(
                t("tourism.host.button.refunded", lang, code=booking.code),
                f"{HOST_FAMILY}:refunded:{booking.code}",
            ),
        )
    return ()


def by_card(services: Services, booking: Booking) -> bool:
    """Whether the booking's deposit went through a provider that gives money back itself (a card)."""
    return services.payments.refunds(booking.provider or "")


async def tell_guest(
    services: Services,
    session: AsyncSession,
    tourism: Tourism,
    booking: Booking,
    template: str,
    key: str,
    *,
    buttons: bool = False,
    **extra: str,
) -> None:
    if booking.user_id is None:
        return
    user = await session.get(User, booking.user_id)
    if user is None:
        return

    def reply(lang: str) -> Reply:
        fields = booking_fields(services, tourism, booking, lang)
        mine = (
            (Button(services.catalogue.t("tourism.booking.button.mine", lang), f"{GUEST_FAMILY}:mine"),)
            if buttons
            else ()
        )
        return Reply(services.catalogue.t(template, lang, **fields, **extra), mine)

    await notify(session, services, user, reply, f"{key}:{booking.code}:{user.id}")


async def tell_hosts(
    services: Services,
    session: AsyncSession,
    tourism: Tourism,
    booking: Booking,
    template: str,
    key: str,
    **extra: str,
) -> int:
    """The stay's hosts are told (with the guest's contact and the buttons of what they may do now); when
    it has none on xaso, the commune's staff, with the owner's phone to call. How many were told."""
    stay = tourism.stays.get(booking.stay_id)
    hosts = await hosts_of(session, booking.commune, booking.stay_id)
    relayed = not hosts
    people = hosts or await users_with_role(session, "staff", "admin", commune=booking.commune)
    for person in people:

        def reply(lang: str, relayed: bool = relayed) -> Reply:
            t = services.catalogue.t
            text = t(
                template,
                lang,
                **booking_fields(services, tourism, booking, lang),
                **guest_contact(services, booking),
                **extra,
            )
            if relayed:  # staff act for the owner, after calling them
                text = t("tourism.host.relay", lang, owner_phone=stay.phone if stay else "—") + "\n" + text
            return Reply(text, host_buttons(services, booking, lang))

        await notify(session, services, person, reply, f"{key}:{booking.code}:{person.id}")
    return len(people)


# A served commune's services and tourism data, by commune code.
CommuneTourism = Mapping[str, tuple[Services, Tourism]]


def paid_listener(communes: CommuneTourism) -> PaidListener:
    """The ledger's listener for deposits (on every commune's payments): the booking is marked paid, its
    guest and hosts are told in its own commune's words, in the transaction that settled it. A deposit
    paid for a booking cancelled meanwhile (its hold ran out) is recorded as owed back, and staff told."""
    home = next(iter(communes.values()))

    async def paid(session: AsyncSession, event: PaidEvent) -> None:
        booking = await mark_paid(session, event.order_code, event.paid_at)
        if booking is None:
            return
        services, tourism = communes.get(booking.commune, home)
        if booking.status == CANCELLED:
            booking.refund_vnd = booking.deposit_vnd
            await session.flush()
            for person in await users_with_role(session, "staff", "admin", commune=booking.commune):
                await notify(
                    session,
                    services,
                    person,
                    "tourism.booking.paid_after_cancel",
                    f"stay-paid-cancelled:{booking.code}:{person.id}",
                    code=booking.code,
                    amount=format_vnd(booking.deposit_vnd),
                )
            await tell_guest(
                services,
                session,
                tourism,
                booking,
                "tourism.booking.paid_after_cancel_guest",
                "stay-paid-cancelled",
            )
            return
        await tell_guest(
            services, session, tourism, booking, "tourism.booking.paid_guest", "stay-paid", buttons=True
        )
        await tell_hosts(services, session, tourism, booking, "tourism.host.new", "stay-new")

    return paid
