"""The shop, buyer's side after ordering: how to pay (a QR image, a card link, cash), following an order
by code or "my orders", and cancelling one that is still new and unpaid (pending payment cancelled
and withdrawn at its provider, stock released, seller told; refused when the provider has already
taken the money, whose event then settles the order)."""

from __future__ import annotations

from backends.payments import PaymentStart, format_vnd, ledger
from backends.shop.catalogue import ShopCatalogue
from backends.shop.orders import CANCELLED, NEW, Order, move, order_by_code, orders_of_user, release
from bots.dialogue.base import Context
from bots.dialogue.paying import payment_reply
from bots.services.shop.notify import order_fields, tell_sellers
from core.messages import Button, Reply

FAMILY = "shop"


class _PaidMeanwhile(Exception):
    pass


class BuyerOrders:
    def __init__(self, shop: ShopCatalogue) -> None:
        self.shop = shop

    async def payment_reply(self, context: Context, order: Order, start: PaymentStart) -> Reply:
        cancel = Button(context.t("shop.button.cancel_order", code=order.code),
                        f"{FAMILY}:cancel:{order.code}")
        if start.status == "succeeded":  # the paid notice is on its way through the outbox too
            return Reply(context.t("shop.notify.paid_buyer",
                                   **order_fields(context.services, self.shop, order, context.lang)))
        shown = await payment_reply(context, "shop", order.code, order.total_vnd, start, (cancel,),
                                    f"{FAMILY}:view:{order.code}")
        if shown is not None:
            return shown
        total = format_vnd(order.total_vnd)
        if start.provider == "cash":
            return Reply(context.t("shop.pay.cash", total=total), (cancel,))
        return Reply(context.t("shop.pay.pending", total=total), (cancel,))

    async def status(self, context: Context) -> list[Reply]:
        entities = context.parse.entities if context.parse else ()
        code = next((e.value for e in entities if e.entity == "order_code"), None)
        if code is None:
            return await self.my_orders(context)
        return await self.show(context, code)

    async def show(self, context: Context, code: str) -> list[Reply]:
        order = await order_by_code(context.session, code, context.services.commune.code)
        if order is None or order.user_id != context.identity.id:
            return [Reply(context.t("shop.order_not_found", code=code.upper()[:16]),
                          (Button(context.t("shop.button.mine"), f"{FAMILY}:mine"),))]
        fields = order_fields(context.services, self.shop, order, context.lang)
        buttons = () if order.status != NEW or order.paid_at else (
            Button(context.t("shop.button.cancel_order", code=order.code), f"{FAMILY}:cancel:{order.code}"),)
        return [Reply(context.t("shop.order_view", **fields), buttons)]

    async def my_orders(self, context: Context) -> list[Reply]:
        orders = await orders_of_user(context.session, context.identity.id, context.services.commune.code)
        if not orders:
            return [Reply(context.t("shop.no_orders"),
                          (Button(context.t("shop.button.categories"), f"{FAMILY}:browse"),))]
        lines = [context.t("shop.order_view", **order_fields(context.services, self.shop, o, context.lang))
                 for o in orders]
        buttons = tuple(Button(context.t("shop.button.view", code=o.code), f"{FAMILY}:view:{o.code}")
                        for o in orders)
        return [Reply(context.t("shop.my_orders") + "\n\n" + "\n\n".join(lines), buttons)]

    async def cancel_order(self, context: Context, code: str) -> list[Reply]:
        order = await order_by_code(context.session, code, context.services.commune.code)
        if order is None or order.user_id != context.identity.id:
            return [Reply(context.t("shop.order_not_found", code=code.upper()[:16]))]
        seller = self.shop.sellers.get(order.seller_id)
        contact = {"seller": seller.name if seller else order.seller_id,
                   "phone": seller.phone if seller else ""}
        session = context.session
        try:
            async with session.begin_nested():
                moved = order.paid_at is None and await move(session, order, (NEW,), CANCELLED, unpaid=True)
                if moved:
                    pending = await ledger.payments_of(session, order.code, ledger.PENDING)
                    await ledger.cancel_pending(session, order.code)
                    for payment in pending:  # a card page must take no more money
                        if not await context.services.payments.withdraw(payment.provider, payment.reference):
                            raise _PaidMeanwhile
                    # After the remote call: the stock row stays locked (PostgreSQL) only briefly.
                    await release(session, order.product_id, order.quantity_milli)
        except _PaidMeanwhile:  # paid at the provider, its event not here yet: the order stands
            await session.refresh(order)
            context.audit("shop.cancel", subject=f"order:{order.code}", outcome="paid_at_provider")
            return [Reply(context.t("shop.cannot_cancel_paid", code=order.code, **contact))]
        if order.paid_at is not None:  # paid before, or just now by a racing settlement
            return [Reply(context.t("shop.cannot_cancel_paid", code=order.code, **contact))]
        if not moved:
            status = context.t(f"shop.status.{order.status}")
            return [Reply(context.t("shop.cannot_cancel", code=order.code, status=status, **contact))]
        context.audit("shop.cancel", subject=f"order:{order.code}")
        await tell_sellers(context.services, context.session, self.shop, order,
                           f"shop-cancelled:{order.code}", "shop.notify.cancelled_seller")
        return [Reply(context.t("shop.cancelled", code=order.code))]
