"""Giving back what the rules refund of a cancelled booking's deposit.

A deposit paid by card is refunded through its provider (Stripe's refund of the intent) once the
cancellation's turn has committed, outside the writer lock, under an idempotency key of the booking (asked
twice, refunded once); the booking records it and the guest is told. If the provider refuses or cannot be
reached, the refund stays owed: the dashboard shows it in red for staff to make. A deposit paid by bank
transfer is given back by a person: the host's notice of the cancellation carries «💸 Đã hoàn cọc», which
records it and tells the guest.
"""

from __future__ import annotations

import functools
import logging

from backends.payments import Payments, format_vnd, ledger
from backends.tourism.bookings import CANCELLED, Booking, by_code, mark_refunded
from backends.tourism.places import Tourism
from bots.dialogue.base import Context
from bots.services.tourism.notices import tell_guest
from core.messages import Reply
from core.pipeline import Finish, Turn

log = logging.getLogger(__name__)


async def refund_by_card(context: Context, tourism: Tourism, booking: Booking) -> bool:
    """Schedules the card refund of what `booking` is owed; False when nothing is owed or the deposit was
    not paid through a provider that refunds (a person gives it back).

    Three steps, none holding the writer lock during the remote call: once this turn has committed, a
    short transaction checks that the cancellation stood (the booking is cancelled and still owed: a
    failed erasure rolls its cancellations back though its turn commits); then the provider refunds; then
    another short transaction records it and tells the guest. They run outside the conversation, whose
    user may have just been erased."""
    owed = booking.refund_vnd or 0
    if owed <= 0 or booking.refunded_at is not None:
        return False
    services = context.services
    taken = await ledger.payments_of(context.session, booking.code, ledger.SUCCEEDED)
    card = next((p for p in taken if services.payments.refunds(p.provider)), None)
    if card is None:
        return False
    code, provider, reference, actor = (
        booking.code,
        card.provider,
        card.reference,
        f"user:{context.identity.id}",
    )

    async def record(refunded: str, amount: int, turn: Turn) -> list[Reply]:
        booking = await by_code(turn.session, code)
        if booking is not None and await mark_refunded(turn.session, booking, refunded):
            turn.audit(
                actor,
                "tourism.refund",
                subject=f"booking:{code}",
                detail={"refund_vnd": amount, "provider": provider},
            )
            await tell_guest(
                services,
                turn.session,
                tourism,
                booking,
                "tourism.booking.refunded_card",
                "stay-refunded",
                refund=format_vnd(amount),
            )
        return []

    async def refund(amount: int) -> Finish | None:
        refunded = await services.payments.refund(provider, reference, amount, f"refund:{code}")
        if refunded is None:
            log.warning("the %s VND refund of booking %s was not made: it stays owed", amount, code)
            return None
        return functools.partial(record, refunded, amount)

    async def stood(turn: Turn) -> list[Reply]:
        booking = await by_code(turn.session, code)
        if (
            booking is not None
            and booking.status == CANCELLED
            and booking.refunded_at is None
            and (booking.refund_vnd or 0) > 0
        ):
            turn.after_commit(functools.partial(refund, booking.refund_vnd or 0))
        return []

    async def committed() -> Finish:
        return stood

    context.turn.after_commit(committed)
    return True


def withdraw_after_commit(context: Context, payments: list[tuple[str, str]]) -> None:
    """Once the cancellation has committed, the pending payments it cancelled in the ledger are stopped at
    their provider (a card's intent cancelled), outside the writer lock. The payment page already takes
    no card for them; one paid meanwhile arrives by webhook as money owed back, and staff are told."""
    if not payments:
        return
    payments_of_commune = context.services.payments

    async def step() -> None:
        await withdraw_all(payments_of_commune, payments)

    context.after_commit(step)


async def withdraw_all(payments: Payments, stopped: list[tuple[str, str]]) -> None:
    """Stops each (provider, reference) at its provider; call only once their cancellation has committed.
    A failure is logged: the ledger already refuses the payment page."""
    for provider, reference in stopped:
        try:
            await payments.withdraw(provider, reference)
        except Exception:
            log.exception("payment %s of a cancelled booking not withdrawn", reference)


class RefundDesk:
    """The host's «💸 Đã hoàn cọc» (`host:refunded:<code>`): a transfer's deposit given back by hand."""

    def __init__(self, tourism: Tourism) -> None:
        self.tourism = tourism

    async def refunded_pressed(self, context: Context, booking: Booking) -> list[Reply]:
        if not await mark_refunded(context.session, booking, f"user:{context.identity.id}"):
            context.audit("tourism.refund", subject=f"booking:{booking.code}", outcome="nothing_owed")
            return [Reply(context.t("tourism.host.nothing_owed", code=booking.code))]
        owed = format_vnd(booking.refund_vnd or 0)
        context.audit(
            "tourism.refund",
            subject=f"booking:{booking.code}",
            detail={"refund_vnd": booking.refund_vnd or 0, "provider": "by_hand"},
        )
        await tell_guest(
            context.services,
            context.session,
            self.tourism,
            booking,
            "tourism.booking.refunded_hand",
            "stay-refunded",
            refund=owed,
        )
        return [Reply(context.t("tourism.host.refunded", code=booking.code, refund=owed))]
