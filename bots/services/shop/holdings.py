"""What the shop keeps about a villager, declared for the account's /mydata (bots/services/account/):
the phone numbers given for delivery (the card), the orders with what was given for them (the export),
and the buyer's part of an erasure.

An order not yet delivered is cancelled: unpaid, its pending payments are cancelled (and withdrawn at
the provider once the erasure's turn has committed, outside the writer lock) and the stock is
released; paid, the refund rule is stated to the villager, who keeps the order code; the seller is told
either way. Every order then stays as a commercial record without the person, address, address code
or phone.

The same holds without a catalogue (the commune closed its shop): orders are still cancelled, told in
the order's own words (product id, unit), only the seller's notice needs the catalogue.
"""

from __future__ import annotations

import logging
from functools import partial

from sqlalchemy import select

from backends.payments import format_vnd, ledger
from backends.shop.catalogue import ShopCatalogue, format_milli
from backends.shop.orders import (
    SHIPPED,
    Order,
    cancel_for_erasure,
    deidentify,
    export_orders,
    undelivered_of,
    unseal,
)
from bots.dialogue.base import Context, Services
from bots.dialogue.service import Erased, Holdings
from bots.services.shop.notify import ReplyFor, order_fields, seller_accounts, tell_user
from core.messages import Reply
from core.models import utcnow
from core.pipeline import Finish, Turn

log = logging.getLogger(__name__)
# Orders come first in the card's phone line, the deletion warning and the farewell.
POSITION = 10


class SellerNotice(ReplyFor):
    """To the seller, in their language: the order, cancelled because the buyer erased their data,
    where the goods are, and the refund owed when it was paid."""

    def __call__(self, lang: str) -> Reply:
        t = self.services.catalogue.t
        order = self.order
        stock = t("shop.mydata.notify.goods_back" if order.shipped_at else "shop.mydata.notify.stock_back",
                  lang)
        refund = t("shop.mydata.notify.refund_seller", lang, code=order.code,
                   total=format_vnd(order.total_vnd)) if order.paid_at else ""
        fields = order_fields(self.services, self.shop, order, lang)
        return Reply(t(self.key, lang, stock=stock, refund=refund, **fields))


class ShopHoldings:
    """The shop's `Holdings`, with its catalogue when the commune runs one."""

    def __init__(self, shop: ShopCatalogue | None) -> None:
        self.shop = shop

    def declared(self) -> Holdings:
        return Holdings(position=POSITION, phones=self.phones, export={"orders": self.export},
                        open_items=self.open_items, erase=self.erase)

    async def phones(self, context: Context) -> list[tuple[str, str]]:
        """Each phone number given for a delivery (stored sealed), with the order's code."""
        query = select(Order).where(Order.user_id == context.identity.id).order_by(Order.id)
        given = []
        for order in await context.session.scalars(query):
            phone = unseal(context.services.cipher, order, "phone")
            if phone:
                given.append((phone, order.code))
        return given

    async def export(self, context: Context) -> list[dict[str, object]]:
        return await export_orders(context.session, context.services.cipher, context.identity.id)

    # -- the warning

    async def open_items(self, context: Context) -> list[str]:
        return [self._order_line(context, order)
                for order in await undelivered_of(context.session, context.identity.id)]

    def _order_words(self, context: Context, order: Order) -> dict[str, str]:
        if self.shop is not None:
            return order_fields(context.services, self.shop, order, context.lang)
        return {"code": order.code, "name": order.product_id, "quantity": format_milli(order.quantity_milli),
                "unit": order.unit, "total": format_vnd(order.total_vnd)}

    def _refund(self, context: Context, order: Order) -> str:
        if order.paid_at is None:
            return ""
        seller = self.shop.sellers.get(order.seller_id) if self.shop is not None else None
        key = "shop.mydata.refund.card" if order.payment_provider == "stripe" else "shop.mydata.refund.seller"
        return context.t(key, code=order.code, total=format_vnd(order.total_vnd),
                         seller=seller.name if seller else order.seller_id,
                         phone=seller.phone if seller else "")

    def _order_line(self, context: Context, order: Order) -> str:
        key = ("shop.mydata.open.order_shipped" if order.status == SHIPPED else
               "shop.mydata.open.order_paid" if order.paid_at else "shop.mydata.open.order_unpaid")
        return context.t(key, refund=self._refund(context, order), **self._order_words(context, order))

    # -- the erasure

    async def erase(self, context: Context) -> Erased:
        """Cancels each open order and tells its seller, then keeps every order without the person;
        the card payments still open are withdrawn at their provider after the commit."""
        session, user_id, now = context.session, context.identity.id, utcnow()
        cancelled: list[str] = []
        refunds: list[str] = []
        to_withdraw: list[ledger.Payment] = []
        for order in await undelivered_of(session, user_id):
            pending = await ledger.payments_of(session, order.code, ledger.PENDING)
            if not await cancel_for_erasure(session, order, now):
                continue
            await ledger.cancel_pending(session, order.code)
            to_withdraw.extend(pending)
            cancelled.append(order.code)
            if order.paid_at is not None:
                refunds.append(context.t("shop.mydata.done.refund", code=order.code,
                                         refund=self._refund(context, order)))
            if self.shop is not None:
                notice = SellerNotice(context.services, self.shop, order,
                                      "shop.mydata.notify.order_cancelled")
                for seller_id in await seller_accounts(session, order.seller_id):
                    await tell_user(context.services, session, seller_id, notice, f"shop-erased:{order.code}")
            context.audit("shop.cancel", subject=f"order:{order.code}",
                          detail={"reason": "erasure", "paid": order.paid_at is not None})
        await deidentify(session, user_id)  # the orders stay as commercial records, naming no one
        if to_withdraw:  # at the provider, once the erasure has committed: never under the writer lock
            context.turn.after_commit(partial(_committed_withdrawals, context.services, user_id,
                                              [payment.reference for payment in to_withdraw]))
        if not cancelled:
            return Erased()
        # The cancellations first, then what is owed for each paid one.
        done = [context.t("shop.mydata.done.orders", codes=", ".join(cancelled)), *refunds]
        return Erased(done=done)


async def _committed_withdrawals(services: Services, user_id: int, references: list[str]) -> Finish:
    """After the erasure's turn: the payments the ledger now holds cancelled are the ones to stop (an
    erasure that failed rolled its cancellations back, and its turn may still have committed)."""
    async def confirmed(turn: Turn) -> list[Reply]:
        rows = await turn.session.scalars(select(ledger.Payment).where(
            ledger.Payment.reference.in_(references), ledger.Payment.status == ledger.CANCELLED))
        payments = [(row.provider, row.reference, row.order_code) for row in rows]
        if payments:
            turn.after_commit(partial(_withdraw, services, turn, user_id, payments))
        return []

    return confirmed


async def _withdraw(services: Services, turn: Turn, user_id: int,
                    payments: list[tuple[str, str, str]]) -> None:
    """Card payments still open for the cancelled orders are stopped at the provider. One that took
    the money meanwhile arrives as `paid_after_cancel` and is refunded by hand (docs/operations.md)."""
    for provider, reference, order_code in payments:
        try:
            stopped = await services.payments.withdraw(provider, reference)
        except Exception:
            log.exception("payment %s of a cancelled order not withdrawn", reference)
            stopped = False
        turn.audit(f"user:{user_id}", "shop.withdraw", subject=f"order:{order_code}",
                   outcome="ok" if stopped else "not_withdrawn")
