"""Orders and stock at rest.

Stock is one row per product in thousandths of its unit. Reserving is one conditional UPDATE
(`… SET stock = stock − q WHERE stock ≥ q`) whose row count says whether it worked, so concurrent
buyers never oversell, on SQLite and PostgreSQL alike. An order is written with its reservation,
its code and its payment in the caller's one transaction. Addresses and phones are sealed with the
field cipher; erasing a buyer keeps the commercial record and drops them (``deidentify``).

Each order is its commune's (``commune``): what a villager, seller or staff member reads or moves is
looked up within their commune, so another commune's order code reads as one that does not exist.
Product ids are distinct across a province's communes, so the stock table needs no commune.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, Integer, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backends.shop.catalogue import MILLI, ShopCatalogue
from core.counters import next_number
from core.crypto import FieldCipher
from core.db import dialect_of, upsert
from core.models import Base, UTCDateTime, commune_column, utcnow

NEW, SHIPPED, DELIVERED, CANCELLED = "new", "shipped", "delivered", "cancelled"
# An order whose payment a remote provider (Stripe) is starting, after the order's turn committed: it
# becomes NEW once the payment is recorded, or CANCELLED (stock released) when it could not be started.
# Sellers do not see it yet; one left behind by a process that died is cancelled by the shop's task.
STARTING = "starting"
OPEN_STATUSES = (NEW, SHIPPED)
UNDELIVERED = (STARTING, *OPEN_STATUSES)  # still the buyer's to cancel or erase
CODE_PREFIX = "DH"


class Stock(Base):
    __tablename__ = "shop_stock"

    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stock_milli: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(Base):
    __tablename__ = "shop_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune: Mapped[str] = commune_column()
    code: Mapped[str] = mapped_column(String(16), unique=True)
    # One confirmation of one summary makes at most one order (a double press, a retry).
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    product_id: Mapped[str] = mapped_column(String(64))
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    quantity_milli: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(16))
    unit_price_vnd: Mapped[int] = mapped_column(Integer)
    subtotal_vnd: Mapped[int] = mapped_column(Integer)
    shipping_vnd: Mapped[int] = mapped_column(Integer)
    total_vnd: Mapped[int] = mapped_column(Integer)
    payment_provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=NEW, index=True)
    hamlet_id: Mapped[str | None] = mapped_column(String(32))
    address_enc: Mapped[str | None] = mapped_column(Text)
    address_code_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    shipped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# -- stock

async def seed_stock(session: AsyncSession, catalogue: ShopCatalogue) -> int:
    """Rows for products not yet in the table (first start, a product added); never resets one."""
    insert = upsert(dialect_of(session))
    added = 0
    for product in catalogue.products.values():
        result = await session.execute(
            insert(Stock).values(product_id=product.id, stock_milli=int(product.stock * MILLI),
                                 updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["product_id"])
        )
        added += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return added


async def stock_of(session: AsyncSession, product_id: str) -> int:
    return int(await session.scalar(select(Stock.stock_milli).where(Stock.product_id == product_id)) or 0)


async def reserve(session: AsyncSession, product_id: str, milli: int) -> bool:
    """Takes `milli` from the stock if that much is left; False (and nothing changed) otherwise."""
    if milli <= 0:
        raise ValueError("reserve a positive amount")
    result = await session.execute(
        update(Stock).where(Stock.product_id == product_id, Stock.stock_milli >= milli)
        .values(stock_milli=Stock.stock_milli - milli, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def release(session: AsyncSession, product_id: str, milli: int) -> None:
    await session.execute(
        update(Stock).where(Stock.product_id == product_id)
        .values(stock_milli=Stock.stock_milli + milli, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


# -- orders

@dataclass(frozen=True, slots=True)
class Delivery:
    """Where to deliver: typed text and/or a plus code, the hamlet (None outside the commune)."""

    address: str
    address_code: str | None
    hamlet_id: str | None
    phone: str | None


def _seal(cipher: FieldCipher, value: str | None, field: str, code: str) -> str | None:
    return cipher.encrypt(value, f"shop_orders.{field}:{code}") if value else None


def unseal(cipher: FieldCipher, order: Order, field: str) -> str | None:
    token = getattr(order, f"{field}_enc")
    return cipher.decrypt(token, f"shop_orders.{field}:{order.code}") if token else None


async def next_code(session: AsyncSession) -> str:
    return f"{CODE_PREFIX}-{await next_number(session, CODE_PREFIX):06d}"


async def create_order(session: AsyncSession, cipher: FieldCipher, *, code: str, request_key: str,
                       user_id: int, product_id: str, seller_id: str, quantity_milli: int, unit: str,
                       unit_price: int, subtotal: int, shipping: int, provider: str,
                       delivery: Delivery, status: str = NEW, commune: str | None = None) -> Order:
    """The order of `commune` (None: the installation's own, as the column's default has it)."""
    order = Order(
        code=code, request_key=request_key, user_id=user_id, product_id=product_id, seller_id=seller_id,
        quantity_milli=quantity_milli, unit=unit, unit_price_vnd=unit_price, subtotal_vnd=subtotal,
        shipping_vnd=shipping, total_vnd=subtotal + shipping, payment_provider=provider, status=status,
        hamlet_id=delivery.hamlet_id, address_enc=_seal(cipher, delivery.address, "address", code),
        address_code_enc=_seal(cipher, delivery.address_code, "address_code", code),
        phone_enc=_seal(cipher, delivery.phone, "phone", code),
    )
    if commune is not None:  # else the column's server default
        order.commune = commune
    session.add(order)
    await session.flush()
    return order


async def order_by_code(session: AsyncSession, code: str, commune: str | None = None) -> Order | None:
    """The order with that code; with `commune`, only if it is that commune's (None otherwise)."""
    query = select(Order).where(Order.code == code.strip().upper())
    if commune is not None:
        query = query.where(Order.commune == commune)
    return await session.scalar(query)


async def orders_of_user(session: AsyncSession, user_id: int, commune: str, limit: int = 10) -> list[Order]:
    rows = await session.scalars(select(Order).where(Order.user_id == user_id, Order.commune == commune)
                                 .order_by(Order.id.desc()).limit(limit))
    return list(rows)


async def open_orders(session: AsyncSession, seller_id: str | None, commune: str,
                      limit: int = 20) -> list[Order]:
    """The commune's orders still to ship or deliver, oldest first; every seller's when `seller_id`
    is None."""
    query = select(Order).where(Order.status.in_(OPEN_STATUSES), Order.commune == commune)
    if seller_id is not None:
        query = query.where(Order.seller_id == seller_id)
    return list(await session.scalars(query.order_by(Order.id).limit(limit)))


async def move(session: AsyncSession, order: Order, source: tuple[str, ...], target: str,
               now: dt.datetime | None = None, *, unpaid: bool = False) -> bool:
    """A conditional status change: True if this call made it (the order was in `source`, and with
    `unpaid` not paid meanwhile: a cancellation racing a settlement loses to it)."""
    now = now or utcnow()
    stamps = {SHIPPED: "shipped_at", DELIVERED: "delivered_at", CANCELLED: "cancelled_at"}
    values: dict[str, object] = {"status": target}
    if target in stamps:
        values[stamps[target]] = now
    query = update(Order).where(Order.id == order.id, Order.status.in_(source))
    if unpaid:
        query = query.where(Order.paid_at.is_(None))
    result = await session.execute(query.values(**values).execution_options(synchronize_session=False))
    await session.refresh(order)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    return True


async def starting_since(session: AsyncSession, before: dt.datetime, commune: str,
                         limit: int = 50) -> list[Order]:
    """The commune's orders whose payment has been starting since before `before`: the process of
    their turn died, or its step failed, before the payment was recorded."""
    query = select(Order).where(Order.status == STARTING, Order.created_at < before, Order.commune == commune)
    return list(await session.scalars(query.order_by(Order.id).limit(limit)))


async def mark_paid(session: AsyncSession, code: str, paid_at: dt.datetime) -> Order | None:
    """Records the payment on the order (once); None when the order is unknown."""
    order = await order_by_code(session, code)
    if order is None:
        return None
    if order.paid_at is None:
        order.paid_at = paid_at
        await session.flush()
    return order


async def undelivered_of(session: AsyncSession, user_id: int) -> list[Order]:
    """The buyer's orders still to ship or deliver (or whose payment is starting), oldest first."""
    query = select(Order).where(Order.user_id == user_id, Order.status.in_(UNDELIVERED))
    rows = await session.scalars(query.order_by(Order.id))
    return list(rows)


async def cancel_for_erasure(session: AsyncSession, order: Order, now: dt.datetime) -> bool:
    """Cancels an undelivered order of a buyer who erases their data, paid or not (the caller states
    the refund and tells the seller). What was not shipped goes back to the stock; what is on its way
    comes back to the seller, who restocks it by hand. False when the order was no longer open."""
    shipped = order.status == SHIPPED
    if not await move(session, order, UNDELIVERED, CANCELLED, now):
        return False
    if not shipped:
        await release(session, order.product_id, order.quantity_milli)
    return True


async def deidentify(session: AsyncSession, user_id: int) -> int:
    """A buyer erased: their orders stay as commercial records without address, code or phone."""
    result = await session.execute(
        update(Order).where(Order.user_id == user_id)
        .values(user_id=None, address_enc=None, address_code_enc=None, phone_enc=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def export_orders(session: AsyncSession, cipher: FieldCipher, user_id: int) -> list[dict[str, object]]:
    """The buyer's orders for /mydata, with what they gave for delivery."""
    rows = await session.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.id))
    return [{"code": o.code, "product": o.product_id, "quantity": o.quantity_milli / MILLI, "unit": o.unit,
             "total_vnd": o.total_vnd, "payment": o.payment_provider, "status": o.status,
             "paid_at": o.paid_at.isoformat() if o.paid_at else None, "created_at": o.created_at.isoformat(),
             "address": unseal(cipher, o, "address"), "address_code": unseal(cipher, o, "address_code"),
             "hamlet": o.hamlet_id, "phone": unseal(cipher, o, "phone")} for o in rows]
