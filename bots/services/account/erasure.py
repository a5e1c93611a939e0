"""Erasing one's own data (/mydata → 🗑): first a warning that lists what is still open and what will
happen to each, then, once confirmed, the erasure, all of it in the turn's transaction (a savepoint:
if any step fails nothing is erased or cancelled, and the villager is told so politely).

- An order not yet delivered is cancelled: unpaid, its pending payments are cancelled (and withdrawn
  at the provider) and the stock is released; paid, the refund rule is stated to the villager, who
  keeps the order code; the seller is told either way. The order stays as a commercial record.
- An upcoming appointment is cancelled and its reminder withdrawn (bots/services/health/appointments.py
  `cancel_booking`); the doctors are told the place is free.
- An open consult ends with the account; the doctors who had it are told.
- Dossiers stay with their code, procedure, history and signed result (backends/onestop/mydata.py);
  the declared values and papers go, the history records it, and for a dossier still in progress the
  staff are told it cannot go on.
Then the account itself is deleted (the database cascades to what hangs on it).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backends.health.appointments import Appointment, upcoming_of
from backends.health.consults import CLOSED, Consult
from backends.onestop.catalogue import FORM_PREFIX
from backends.onestop.mydata import dossiers_of
from backends.onestop.mydata import forget_user as forget_dossiers
from backends.onestop.store import Dossier, record_event
from backends.reports.store import forget_user as forget_reports
from backends.shop.catalogue import ShopCatalogue, format_milli, format_vnd
from backends.shop.orders import SHIPPED, Order, cancel_for_erasure, deidentify, undelivered_of
from backends.shop.payments import ledger
from bots.dialogue.base import Context
from bots.dialogue.notify import notify
from bots.services.health.appointments import AppointmentDesk, cancel_booking
from bots.services.shop.notify import ReplyFor, order_fields, seller_accounts, tell_user
from core.i18n import local
from core.identity import users_with_role
from core.messages import Button, Reply
from core.models import OutboxMessage, User, utcnow

log = logging.getLogger(__name__)
FINISHED_DOSSIERS = ("rejected", "delivered")
IN_PROGRESS_DOSSIERS = ("received", "processing", "needs_info")
STAFF_FAMILY = "dossier-admin"  # bots/services/dossiers/notify.py: staff-only, checked in core
HISTORY_LANG = "vi"  # a dossier's history is the commune's record, written in its language


@dataclass(frozen=True)
class OpenItems:
    orders: list[Order]
    appointments: list[Appointment]
    consults: list[Consult]
    dossiers: list[Dossier]  # not finished: in progress, or approved and not yet handed over

    def __bool__(self) -> bool:
        return bool(self.orders or self.appointments or self.consults or self.dossiers)


class SellerNotice(ReplyFor):
    """To the seller, in their language: the order, cancelled because the buyer erased their data,
    where the goods are, and the refund owed when it was paid."""

    def __call__(self, lang: str) -> Reply:
        t = self.services.catalogue.t
        order = self.order
        stock = t("mydata.notify.goods_back" if order.shipped_at else "mydata.notify.stock_back", lang)
        refund = t("mydata.notify.refund_seller", lang, code=order.code,
                   total=format_vnd(order.total_vnd)) if order.paid_at else ""
        fields = order_fields(self.services, self.shop, order, lang)
        return Reply(t("mydata.notify.order_cancelled", lang, stock=stock, refund=refund, **fields))


async def _hold_account(session: AsyncSession, user_id: int) -> None:
    """A write first: the account row is locked until the turn ends (PostgreSQL), and on SQLite the
    turn's transaction takes the write lock before the savepoint. A savepoint opened before any write
    would start a read transaction there, which cannot become a writer once another connection (an
    outbox sender) has written meanwhile."""
    await session.execute(update(User).where(User.id == user_id).values(last_seen_at=utcnow())
                          .execution_options(synchronize_session=False))


def _forget_identity(context: Context) -> None:
    """The account is gone: nothing may be stored for it after this turn (its state went with it), and
    what the turn still writes, the farewell pushed through the outbox on Telegram or Zalo, names no
    one (a row naming the deleted user would break its foreign key and undo the whole erasure)."""
    context.extras["user_deleted"] = True
    context.next_state, context.state_changed = None, False
    context.turn.identity = None


class Erasure:
    """The two steps of the deletion, with the shop's catalogue and the appointments desk when the
    commune runs them."""

    def __init__(self, shop: ShopCatalogue | None, appointments: AppointmentDesk | None) -> None:
        self.shop = shop
        self.appointments = appointments

    def _shop(self) -> ShopCatalogue | None:
        return self.shop

    def _appointments(self) -> AppointmentDesk | None:
        return self.appointments

    def _now(self) -> dt.datetime:
        return self.appointments.clock() if self.appointments is not None else utcnow()  # the bookings' clock

    async def open_items(self, context: Context) -> OpenItems:
        session, user_id = context.session, context.identity.id
        consults = await session.scalars(select(Consult).where(Consult.user_id == user_id,
                                                               Consult.status != CLOSED).order_by(Consult.id))
        dossiers = [d for d in await dossiers_of(session, user_id) if d.status not in FINISHED_DOSSIERS]
        upcoming = await upcoming_of(session, user_id, self._now())
        return OpenItems(await undelivered_of(session, user_id), upcoming, list(consults), dossiers)

    # -- the warning

    async def ask(self, context: Context) -> list[Reply]:
        text = context.t("mydata.delete_confirm")
        items = await self.open_items(context)
        if items:
            lines = [*(self._order_line(context, o) for o in items.orders),
                     *(self._appointment_line(context, a) for a in items.appointments),
                     *(self._consult_line(context, c) for c in items.consults),
                     *(self._dossier_line(context, d) for d in items.dossiers)]
            text = context.t("mydata.delete_open", lines="\n".join(lines)) + "\n\n" + text
        return [Reply(text, (
            Button(context.t("mydata.button.delete_yes"), "mydata:delete-confirm", means="yes"),
            Button(context.t("mydata.button.keep"), "mydata:keep", means="no"),
        ))]

    def _order_words(self, context: Context, order: Order) -> dict[str, str]:
        shop = self._shop()
        if shop is not None:
            return order_fields(context.services, shop, order, context.lang)
        return {"code": order.code, "name": order.product_id, "quantity": format_milli(order.quantity_milli),
                "unit": order.unit, "total": format_vnd(order.total_vnd)}

    def _refund(self, context: Context, order: Order) -> str:
        if order.paid_at is None:
            return ""
        shop = self._shop()
        seller = shop.sellers.get(order.seller_id) if shop is not None else None
        key = "mydata.refund.card" if order.payment_provider == "stripe" else "mydata.refund.seller"
        return context.t(key, code=order.code, total=format_vnd(order.total_vnd),
                         seller=seller.name if seller else order.seller_id,
                         phone=seller.phone if seller else "")

    def _order_line(self, context: Context, order: Order) -> str:
        key = ("mydata.open.order_shipped" if order.status == SHIPPED else
               "mydata.open.order_paid" if order.paid_at else "mydata.open.order_unpaid")
        return context.t(key, refund=self._refund(context, order), **self._order_words(context, order))

    def _appointment_line(self, context: Context, appointment: Appointment) -> str:
        desk = self._appointments()
        line = desk.describe(context, appointment).removeprefix("• ") if desk else appointment.code
        return context.t("mydata.open.appointment", line=line)

    @staticmethod
    def _consult_line(context: Context, consult: Consult) -> str:
        return context.t("mydata.open.consult", id=consult.id,
                         status=context.t(f"health.status.{consult.status}"))

    def _dossier_line(self, context: Context, dossier: Dossier) -> str:
        key = "mydata.open.dossier" if dossier.status in IN_PROGRESS_DOSSIERS else "mydata.open.dossier_kept"
        return context.t(key, code=dossier.code, procedure=self._procedure(context, dossier, context.lang),
                         status=context.t(f"dossier.status.{dossier.status}"))

    @staticmethod
    def _procedure(context: Context, dossier: Dossier, lang: str) -> str:
        spec = context.services.forms.specs.get(FORM_PREFIX + dossier.procedure_id)
        return local(spec.title, lang) if spec is not None else dossier.procedure_id

    # -- the erasure

    async def erase(self, context: Context) -> list[Reply]:
        user_id = context.identity.id
        noted = len(context.turn.audit_notes)
        await _hold_account(context.session, user_id)
        try:
            async with context.session.begin_nested():
                done, pending = await self._erase(context)
        except Exception:
            log.exception("erasing user %s failed: nothing was erased", user_id)
            del context.turn.audit_notes[noted:]  # what was undone is not recorded as done
            context.audit("mydata.delete", subject=f"user:{user_id}", outcome="error")
            return [Reply(context.t("mydata.delete_failed"), (
                Button(context.t("mydata.button.retry"), "mydata:delete"),))]
        farewell = Reply("\n\n".join([context.t("mydata.deleted"), *done]))
        await self._withdraw(context, pending)
        _forget_identity(context)
        return [farewell]

    async def _erase(self, context: Context) -> tuple[list[str], list[ledger.Payment]]:
        items = await self.open_items(context)
        now = self._now()
        done: list[str] = []
        pending = await self._cancel_orders(context, items.orders, now, done)
        await self._cancel_appointments(context, items.appointments, now, done)
        await self._end_consults(context, items.consults, done)
        await self._forget_dossiers(context, now, done)
        await self._forget_account(context)
        return done, pending

    async def _cancel_orders(self, context: Context, orders: list[Order], now: dt.datetime,
                             done: list[str]) -> list[ledger.Payment]:
        """Cancels each order; returns the payments to withdraw at their providers afterwards."""
        session, shop = context.session, self._shop()
        cancelled: list[str] = []
        to_withdraw: list[ledger.Payment] = []
        for order in orders:
            pending = [p for p in await ledger.payments_of(session, order.code) if p.status == ledger.PENDING]
            if not await cancel_for_erasure(session, order, now):
                continue
            await ledger.cancel_pending(session, order.code)
            to_withdraw.extend(pending)
            cancelled.append(order.code)
            if order.paid_at is not None:
                refund = self._refund(context, order)
                done.append(context.t("mydata.done.refund", code=order.code, refund=refund))
            if shop is not None:
                notice = SellerNotice(context.services, shop, order, "mydata.notify.order_cancelled")
                for seller_id in await seller_accounts(session, order.seller_id):
                    await tell_user(context.services, session, seller_id, notice, f"shop-erased:{order.code}")
            context.audit("shop.cancel", subject=f"order:{order.code}",
                          detail={"reason": "erasure", "paid": order.paid_at is not None})
        if cancelled:
            done.insert(0, context.t("mydata.done.orders", codes=", ".join(cancelled)))
        return to_withdraw

    async def _cancel_appointments(self, context: Context, appointments: list[Appointment], now: dt.datetime,
                                   done: list[str]) -> None:
        desk = self._appointments()
        cancelled = []
        for appointment in appointments:
            if not await cancel_booking(context, appointment, now):
                continue
            cancelled.append(appointment.code)
            if desk is not None:
                await desk.tell_station(context, appointment, "mydata.notify.appointment_cancelled")
        if cancelled:
            done.append(context.t("mydata.done.appointments", codes=", ".join(cancelled)))

    async def _end_consults(self, context: Context, consults: list[Consult], done: list[str]) -> None:
        """The doctors who were told of each consult (or answered it) hear that it ended; the rows go
        with the account."""
        for consult in consults:
            told = {int(n) for n in consult.notified.split(",") if n.isdigit()}
            told |= {consult.doctor_id} if consult.doctor_id else set()
            for doctor_id in sorted(told - {context.identity.id}):
                doctor = await context.session.get(User, doctor_id)
                if doctor is None:
                    continue
                await notify(context.session, context.services, doctor, "mydata.notify.consult_ended",
                             f"consult-erased:{consult.id}:{doctor.id}", id=consult.id)
        if consults:
            done.append(context.t("mydata.done.consults", ids=", ".join(f"#{c.id}" for c in consults)))

    async def _forget_dossiers(self, context: Context, now: dt.datetime, done: list[str]) -> None:
        session, user_id = context.session, context.identity.id
        dossiers = await dossiers_of(session, user_id)
        if not dossiers:
            return
        forgotten = await forget_dossiers(session, context.services.cipher, user_id)
        note = context.services.catalogue.t("mydata.history_note", HISTORY_LANG)
        for dossier in dossiers:
            await record_event(session, dossier, dossier.status, actor=f"user:{user_id}", at=now, note=note)
            if dossier.status in IN_PROGRESS_DOSSIERS:
                await self._tell_staff(context, dossier)
        context.audit("mydata.dossiers_forgotten", subject=f"user:{user_id}",
                      detail={"dossiers": forgotten.dossiers, "papers": forgotten.papers})
        done.append(context.t("mydata.done.dossiers", codes=", ".join(d.code for d in dossiers)))

    async def _tell_staff(self, context: Context, dossier: Dossier) -> None:
        """The one-stop staff learn that a dossier in progress lost its declared values and papers."""
        t = context.services.catalogue.t
        for official in await users_with_role(context.session, "staff", exclude=context.identity.id):
            lang = official.language
            text = t("mydata.notify.dossier_erased", lang, code=dossier.code,
                     procedure=self._procedure(context, dossier, lang),
                     status=t(f"dossier.status.{dossier.status}", lang))
            button = Button(t("dossier_staff.button.open", lang), f"{STAFF_FAMILY}:open:{dossier.code}")
            await notify(context.session, context.services, official, Reply(text, (button,)),
                         f"dossier-erased:{dossier.code}:{official.id}")

    async def _forget_account(self, context: Context) -> None:
        """Orders and reports stay without the person, messages already sent to them without their
        words; the database cascades the rest (roles, sessions, consents, files, state, inbox, address
        code, consults, appointments) with the user row."""
        session, user_id = context.session, context.identity.id
        await deidentify(session, user_id)
        mine = OutboxMessage.user_id == user_id
        await session.execute(delete(OutboxMessage).where(mine, OutboxMessage.status != "sent"))
        # What was sent keeps its key (a retry must never send it again) but not its words or address.
        await session.execute(update(OutboxMessage).where(mine).values(chat_id="-", payload={}, user_id=None)
                              .execution_options(synchronize_session=False))
        reports = await forget_reports(session, user_id)
        user = await session.get(User, user_id)
        if user is not None:
            await session.delete(user)
        await session.flush()
        detail: dict[str, Any] = {"reports": reports} if reports else {}
        context.audit("mydata.delete", subject=f"user:{user_id}", detail=detail or None)

    async def _withdraw(self, context: Context, payments: list[ledger.Payment]) -> None:
        """Card payments still open for the cancelled orders are stopped at the provider. One that took
        the money meanwhile arrives as `paid_after_cancel` and is refunded by hand (docs/operations.md)."""
        for payment in payments:
            try:
                stopped = await context.services.payments.withdraw(payment.provider, payment.reference)
            except Exception:
                log.exception("payment %s of a cancelled order not withdrawn", payment.reference)
                stopped = False
            context.audit("shop.withdraw", subject=f"order:{payment.order_code}",
                          outcome="ok" if stopped else "not_withdrawn")
