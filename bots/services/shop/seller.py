"""The shop, sellers' side: `/orders`, `/ship CODE`, `/paid CODE` and the `seller:` buttons.

Core checks the role (core/roles.py: /orders /ship and the `seller` family for sellers, /paid for
sellers and staff); here each order is checked against the seller the account is linked to
(backends/shop/sellers.py), so a seller sees and moves only its own orders. Administrators and, for
/paid, staff act on any order of their commune. Every order is looked up within the commune of the
turn: another commune's code is "not found". Every action is audited; the buyer is told through the
outbox.
"""

from __future__ import annotations

from backends.payments import ledger
from backends.shop.catalogue import ShopCatalogue
from backends.shop.orders import DELIVERED, NEW, SHIPPED, Order, move, open_orders, order_by_code
from backends.shop.sellers import create_seller_invite, link_after_join, seller_of
from bots.dialogue.base import Context
from bots.services.shop.notify import (
    ReplyFor,
    delivery_fields,
    order_fields,
    seller_buttons,
    tell_user,
)
from core.messages import Button, Reply

FAMILY = "seller"
MANUAL_PROVIDERS = ("cash", "vietqr")  # confirmed by a person; card payments by the provider's webhook
_ANY = "*"


class SellerDesk:
    def __init__(self, shop: ShopCatalogue) -> None:
        self.shop = shop

    async def _scope(self, context: Context, *, staff_too: bool = False) -> str | None:
        """The seller id this account acts for; `_ANY` for an administrator (or staff, for /paid)
        without a link; None for a seller account not linked to any seller."""
        linked = await seller_of(context.session, context.identity.id)
        if linked is not None:
            return linked
        roles = context.identity.roles
        if "admin" in roles or (staff_too and "staff" in roles):
            return _ANY
        return None

    async def _own(self, context: Context, code: str, action: str, *,
                   staff_too: bool = False) -> Order | Reply:
        scope = await self._scope(context, staff_too=staff_too)
        if scope is None:
            context.audit(action, outcome="not_linked")
            return Reply(context.t("shop.seller.not_linked"))
        order = await order_by_code(context.session, code, context.services.commune.code) if code else None
        if order is None or (scope != _ANY and order.seller_id != scope):
            context.audit(action, subject=f"order:{code.upper()[:16]}", outcome="not_found")
            return Reply(context.t("shop.seller.not_found", code=code.upper()[:16] or "?"))
        return order

    def _buttons(self, context: Context, order: Order) -> tuple[Button, ...]:
        return tuple(Button(context.t(label, code=order.code), data) for label, data in seller_buttons(order))

    async def orders(self, context: Context) -> list[Reply]:
        scope = await self._scope(context)
        if scope is None:
            context.audit("shop.seller_orders", outcome="not_linked")
            return [Reply(context.t("shop.seller.not_linked"))]
        found = await open_orders(context.session, None if scope == _ANY else scope,
                                  context.services.commune.code)
        context.audit("shop.seller_orders", detail={"open": len(found)})
        if not found:
            return [Reply(context.t("shop.seller.no_orders"))]
        replies = [Reply(context.t("shop.seller.orders_head", count=len(found)))]
        for order in found:
            context.audit("shop.order_read", subject=f"order:{order.code}")
            fields = order_fields(context.services, self.shop, order, context.lang)
            fields |= delivery_fields(context.services, order, context.lang)
            text = context.t("shop.seller.order_line", **fields)
            replies.append(Reply(text, self._buttons(context, order)))
        return replies

    async def ship(self, context: Context) -> list[Reply]:
        code = context.args.split()[0] if context.args else ""
        if not code:
            return [Reply(context.t("shop.seller.usage.ship"))]
        return await self._move(context, code, (NEW,), SHIPPED)

    async def _move(self, context: Context, code: str, source: tuple[str, ...], target: str) -> list[Reply]:
        action = f"shop.{target}"
        found = await self._own(context, code, action)
        if isinstance(found, Reply):
            return [found]
        order = found
        if not await move(context.session, order, source, target):
            context.audit(action, subject=f"order:{order.code}", outcome="refused")
            status = context.t(f"shop.status.{order.status}")
            return [Reply(context.t("shop.seller.bad_move", code=order.code, status=status))]
        context.audit(action, subject=f"order:{order.code}")
        notice = "shop.notify.shipped" if target == SHIPPED else "shop.notify.delivered"
        await tell_user(context.services, context.session, order.user_id,
                        ReplyFor(context.services, self.shop, order, notice), f"shop-{target}:{order.code}")
        key = "shop.seller.shipped" if target == SHIPPED else "shop.seller.delivered"
        return [Reply(context.t(key, code=order.code), self._buttons(context, order))]

    async def paid(self, context: Context) -> list[Reply]:
        code = context.args.split()[0] if context.args else ""
        if not code:
            return [Reply(context.t("shop.seller.usage.paid"))]
        return await self._settle(context, code)

    async def _settle(self, context: Context, code: str) -> list[Reply]:
        found = await self._own(context, code, "shop.payment_confirm", staff_too=True)
        if isinstance(found, Reply):
            return [found]
        order = found
        pending = await ledger.payments_of(context.session, order.code, ledger.PENDING)
        manual = [p for p in pending if p.provider in MANUAL_PROVIDERS]
        if not manual:
            context.audit("shop.payment_confirm", subject=f"order:{order.code}", outcome="nothing_pending")
            key = "shop.seller.card_only" if pending else "shop.seller.nothing_to_settle"
            return [Reply(context.t(key, code=order.code))]
        settled = await ledger.settle(context.session, context.services.payments, manual[0].reference,
                                      confirmed_by=f"user:{context.identity.id}")
        if settled is None:
            context.audit("shop.payment_confirm", subject=f"order:{order.code}", outcome="already")
            return [Reply(context.t("shop.seller.nothing_to_settle", code=order.code))]
        context.audit("shop.payment_confirm", subject=f"order:{order.code}",
                      detail={"provider": settled.provider})
        await context.session.refresh(order)
        fields = order_fields(context.services, self.shop, order, context.lang)
        return [Reply(context.t("shop.seller.settled", code=order.code, total=fields["total"]),
                      self._buttons(context, order))]

    # -- the `seller:<action>:<CODE>` buttons (bots/services/shop/unit.py)

    async def ship_pressed(self, context: Context) -> list[Reply]:
        return await self._move(context, context.pressed.arg, (NEW,), SHIPPED)

    async def deliver_pressed(self, context: Context) -> list[Reply]:
        return await self._move(context, context.pressed.arg, (NEW, SHIPPED), DELIVERED)

    async def paid_pressed(self, context: Context) -> list[Reply]:
        return await self._settle(context, context.pressed.arg)

    @staticmethod
    async def unknown(context: Context) -> list[Reply]:
        return [Reply(context.t("unknown_button"))]

    # -- seller invites and /join

    async def invite(self, context: Context) -> list[Reply]:
        """`/invite seller ID` makes an invite tied to that seller (the account service's /invite asks)."""
        parts = context.args.split()
        seller = self.shop.sellers.get(parts[1]) if len(parts) > 1 else None
        if seller is None:
            return [Reply(context.t("shop.invite.usage", sellers=", ".join(self.shop.sellers)))]
        code = await create_seller_invite(context.session, context.services.hasher, seller.id,
                                          created_by=f"user:{context.identity.id}",
                                          commune=context.services.commune.code)  # the admin's
        context.audit("role.invite", detail={"role": "seller", "seller": seller.id})
        return [Reply(context.t("shop.invite.ok", seller=seller.name, code=code))]

    async def joined(self, context: Context) -> list[Reply]:
        """After `/join CODE`: a seller invite's code also links the account to its seller."""
        linked = await link_after_join(context.session, context.services.hasher, context.args,
                                       context.identity.id)
        if linked is None:
            return []
        context.audit("shop.seller_linked", detail={"seller": linked})
        seller = self.shop.sellers.get(linked)
        return [Reply(context.t("shop.join.linked", seller=seller.name if seller else linked))]
