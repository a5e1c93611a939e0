"""What homestay bookings keep about a guest, declared for the account's /mydata: their bookings (the
export, with the name and phone they gave), the coming ones listed in the deletion warning, and on
erasure those coming bookings cancelled (nights freed, pending deposits cancelled in the ledger so that
no payment page takes money, hosts told, a paid deposit owed back by the rules) and every booking kept as
a record without name or phone."""

from __future__ import annotations

from typing import Any

from backends.payments import format_vnd, ledger
from backends.tourism.bookings import ERASED, HOLDING, cancel, deidentify, exported, of_user
from backends.tourism.places import Tourism
from bots.dialogue.base import Context
from bots.dialogue.service import Erased, Holdings
from bots.services.tourism.notices import booking_fields, tell_hosts
from bots.services.tourism.refunds import refund_by_card
from core.models import utcnow
from core.timezones import VIETNAM

POSITION = 70


def holdings(tourism: Tourism) -> Holdings:
    def today():  # type: ignore[no-untyped-def]
        return utcnow().astimezone(VIETNAM).date()

    async def coming(context: Context) -> list[Any]:
        bookings = await of_user(context.session, context.identity.id, limit=100)
        return [b for b in bookings if b.status in HOLDING and b.checkout >= today()]

    async def export(context: Context) -> list[dict[str, object]]:
        bookings = await of_user(context.session, context.identity.id, limit=1000)
        return [exported(context.services.cipher, booking) for booking in reversed(bookings)]

    async def open_items(context: Context) -> list[str]:
        return [context.t("tourism.mydata.open", **booking_fields(context.services, tourism, b, context.lang))
                for b in await coming(context)]

    async def erase(context: Context) -> Erased:
        session = context.session
        done: list[str] = []
        for booking in await coming(context):
            percent = tourism.rules.refund_percent((booking.checkin - today()).days)
            refund = booking.deposit_vnd * percent // 100 if booking.paid_at else None
            if not await cancel(session, booking, HOLDING, ERASED, refund_vnd=refund):
                continue
            await ledger.cancel_pending(session, booking.code)
            await refund_by_card(context, tourism, booking)
            await tell_hosts(context.services, session, tourism, booking, "tourism.host.cancelled",
                             "stay-erased", refund=format_vnd(refund or 0))
            context.audit("tourism.booking_cancel", subject=f"booking:{booking.code}",
                          detail={"by": ERASED, "refund_vnd": refund or 0})
            done.append(context.t("tourism.mydata.done", code=booking.code, refund=format_vnd(refund or 0)))
        await deidentify(session, context.identity.id)
        return Erased(done=done)

    return Holdings(position=POSITION, export={"stay_bookings": export}, open_items=open_items, erase=erase)
