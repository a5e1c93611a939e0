"""What the shop tells people through the outbox (buyers, sellers), and how an order reads.

Every notice is keyed so that a retry never sends it twice; nothing here is sent directly. A notice
about an order is made with its commune's services and catalogue, and goes to that commune's people.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.addresses.hamlets import Hamlets
from backends.payments import PaidEvent, PaidListener, format_vnd
from backends.shop.catalogue import ShopCatalogue, format_milli
from backends.shop.orders import CODE_PREFIX, Order, mark_paid, unseal
from backends.shop.sellers import SellerAccount, acting
from bots.dialogue.base import Services
from bots.dialogue.notify import notify
from core.identity import users_with_role
from core.messages import Button, Reply
from core.models import User
from core.timezones import VIETNAM


def moment(at: dt.datetime) -> str:
    return at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")


def payment_label(services: Services, provider: str, lang: str) -> str:
    key = f"shop.button.pay.{provider}"
    catalogue = services.catalogue
    if catalogue.has(key):
        return catalogue.t(key, lang)
    return catalogue.t("shop.pay.other", lang, provider=provider)


def order_fields(services: Services, shop: ShopCatalogue, order: Order, lang: str) -> dict[str, str]:
    """The order's words in `lang`, for any of the shop's templates (no personal data)."""
    product = shop.products.get(order.product_id)
    t = services.catalogue.t
    return {
        "code": order.code,
        "name": product.title(lang) if product else order.product_id,
        "quantity": format_milli(order.quantity_milli),
        "unit": shop.unit_name(order.unit, lang),
        "total": format_vnd(order.total_vnd),
        "payment": payment_label(services, order.payment_provider, lang),
        "paid": t("shop.paid_yes" if order.paid_at else "shop.paid_no", lang),
        "status": t(f"shop.status.{order.status}", lang),
        "at": moment(order.created_at),
        "commune": services.commune.name,
    }


def delivery_fields(services: Services, order: Order, lang: str) -> dict[str, str]:
    """Address, hamlet and phone, unsealed: only for the order's seller (the caller audits)."""
    cipher, t = services.cipher, services.catalogue.t
    address = unseal(cipher, order, "address") or ""
    code = unseal(cipher, order, "address_code")
    if code and code not in address:
        address = f"{address} ({code})" if address else code
    hamlet = Hamlets.from_commune(services.commune).get(order.hamlet_id or "")
    return {"address": address or "—", "hamlet": hamlet.name if hamlet else t("shop.outside_commune", lang),
            "phone": unseal(cipher, order, "phone") or "—"}


async def tell_user(services: Services, session: AsyncSession, user_id: int | None, reply_for: ReplyFor,
                    key: str) -> None:
    if user_id is None:
        return
    user = await session.get(User, user_id)
    if user is None:
        return
    await notify(session, services, user, reply_for, f"{key}:{user.id}")


class ReplyFor:
    """A notice made in the recipient's language."""

    def __init__(self, services: Services, shop: ShopCatalogue, order: Order, key: str, *,
                 delivery: bool = False, buttons: tuple[tuple[str, str], ...] = ()) -> None:
        self.services, self.shop, self.order, self.key = services, shop, order, key
        self.delivery, self.buttons = delivery, buttons

    def __call__(self, lang: str) -> Reply:
        fields = order_fields(self.services, self.shop, self.order, lang)
        if self.delivery:
            fields |= delivery_fields(self.services, self.order, lang)
        t = self.services.catalogue.t
        buttons = tuple(Button(t(label, lang, code=self.order.code), data) for label, data in self.buttons)
        return Reply(t(self.key, lang, **fields), buttons)


async def seller_accounts(session: AsyncSession, seller_id: str) -> list[int]:
    """Users linked to the seller who still hold the seller (or admin) role."""
    rows = await session.scalars(select(SellerAccount.user_id)
                                 .where(SellerAccount.seller_id == seller_id, acting())
                                 .order_by(SellerAccount.user_id))
    return list(rows)


def seller_buttons(order: Order) -> tuple[tuple[str, str], ...]:
    """What a seller can do next with the order, as (label key, button data)."""
    buttons: list[tuple[str, str]] = []
    if order.status == "new":
        buttons.append(("shop.seller.button.ship", f"seller:ship:{order.code}"))
    if order.status in ("new", "shipped"):
        buttons.append(("shop.seller.button.deliver", f"seller:deliver:{order.code}"))
    if order.paid_at is None and order.status != "cancelled":
        if order.payment_provider == "cash":
            buttons.append(("shop.seller.button.collect", f"seller:paid:{order.code}"))
        elif order.payment_provider == "vietqr":
            buttons.append(("shop.seller.button.paid", f"seller:paid:{order.code}"))
    return tuple(buttons)


async def tell_sellers(services: Services, session: AsyncSession, shop: ShopCatalogue, order: Order,
                       key: str, notice: str, *, delivery: bool = False, with_buttons: bool = False) -> int:
    """Tells the seller's accounts; returns how many there were (none: the seller has no chat account)."""
    reply_for = ReplyFor(services, shop, order, notice, delivery=delivery,
                         buttons=seller_buttons(order) if with_buttons else ())
    accounts = await seller_accounts(session, order.seller_id)
    for user_id in accounts:
        await tell_user(services, session, user_id, reply_for, key)
    return len(accounts)


async def tell_staff_for_seller(services: Services, session: AsyncSession, shop: ShopCatalogue,
                                order: Order, key: str) -> int:
    """A seller with no chat account hears of a new order from the commune's staff, who get the order
    with the seller's phone to call (and `/paid` once the money is in); returns how many were told."""
    seller = shop.sellers.get(order.seller_id)
    told = 0
    for user in await users_with_role(session, "staff", exclude=order.user_id, commune=services.commune.code):
        lang = user.language
        fields = order_fields(services, shop, order, lang) | delivery_fields(services, order, lang)
        text = services.catalogue.t("shop.notify.no_seller_account", lang,
                                    seller=seller.name if seller else order.seller_id,
                                    seller_phone=seller.phone if seller else "—", **fields)
        await notify(session, services, user, Reply(text), f"{key}:staff:{user.id}")
        told += 1
    return told


ORDERS = CODE_PREFIX  # the payments the shop hears of: its orders' (DH-…)

# A served commune's services and products (None: it runs no shop), by commune code.
CommuneShops = Mapping[str, tuple[Services, ShopCatalogue | None]]


def paid_listener(shops: CommuneShops) -> PaidListener:
    """The ledger's on_paid listener (the same on every commune's payments): the order is marked paid,
    its buyer and seller are told in the words of the order's own commune (its products, its name),
    all in the transaction that settled the payment. An order of a commune no longer served is told in
    the first one's (the installation's own)."""
    home = next(iter(shops.values()))

    async def paid(session: AsyncSession, event: PaidEvent) -> None:
        order = await mark_paid(session, event.order_code, event.paid_at)
        if order is None:
            return
        services, shop = shops.get(order.commune, home)
        if shop is None:  # its commune closed its shop: paid, with no product to name
            return
        await tell_user(services, session, order.user_id,
                        ReplyFor(services, shop, order, "shop.notify.paid_buyer"), f"shop-paid:{order.code}")
        await tell_sellers(services, session, shop, order, f"shop-paid-seller:{order.code}",
                           "shop.notify.paid_seller")

    return paid
