"""The payment protocol, its typed results, and the registry of configured providers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

PaymentStatus = Literal["pending", "succeeded"]


def format_vnd(amount: int) -> str:
    """1200000 → "1.200.000 đ", as Vietnamese write money."""
    return f"{amount:,}".replace(",", ".") + " đ"


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    # The order of any kind, by its code: "DH-NNNNNN" (shop), "DP-NNNNNN" (a homestay deposit); also
    # what a bank transfer's purpose carries.
    order_code: str
    amount_vnd: int  # whole đồng: VND has no minor unit
    description: str
    idempotency_key: str  # the same order never starts two payments at the provider


@dataclass(frozen=True, slots=True)
class Transfer:
    """A bank transfer as a person reads it and types it into a banking app."""

    bank_name: str
    account_number: str
    account_name: str
    amount_vnd: int
    note: str  # the transfer's content: the seller finds the order by it
    deeplink: str | None = None  # opens a banking app with all of it filled in, where configured


@dataclass(frozen=True, slots=True)
class PaymentStart:
    """What the buyer is shown to pay: a link, a QR, or only instructions (cash)."""

    provider: str
    reference: str  # the provider's id for this payment; unique across the ledger
    status: PaymentStatus = "pending"
    pay_url: str | None = None
    qr_png: bytes | None = None
    qr_payload: str | None = None  # for bank apps only: never shown or read to a person
    transfer: Transfer | None = None


class PaymentError(Exception):
    """A provider could not start a payment; ``reason`` is one of the literal values."""

    def __init__(self, provider: str, reason: Literal["unavailable", "declined", "invalid"],
                 detail: str = "") -> None:
        super().__init__(f"{provider}: {reason} {detail}".strip())
        self.provider = provider
        self.reason = reason
        self.detail = detail


class PaymentProvider(Protocol):
    name: str
    # Whether `start` calls a remote service (Stripe): it is then run after the order's turn has
    # committed, never while the database's writer lock is held (bots/services/shop/desk.py).
    remote: bool

    async def start(self, request: PaymentRequest) -> PaymentStart: ...


@dataclass(frozen=True, slots=True)
class PaidEvent:
    order_code: str
    provider: str
    reference: str
    amount_vnd: int
    paid_at: dt.datetime
    confirmed_by: str  # "stripe:evt_…", "user:12" for a staff or seller confirmation


# Called once per settled payment, inside the transaction that settles it.
PaidListener = Callable[[AsyncSession, PaidEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FailedEvent:
    """A payment attempt the provider refused (a declined card). The payment stays pending: the buyer
    may try again on the same page, or choose another way to pay."""

    order_code: str
    provider: str
    reference: str
    reason: str  # the provider's short code, e.g. "card_declined"; "" when not given
    reported_by: str  # "stripe:evt_…"


# Called once per failed attempt (per provider event), inside the transaction that records it.
FailedListener = Callable[[AsyncSession, FailedEvent], Awaitable[None]]


class CashOnDelivery:
    """Nothing to pay now: the seller collects the money and confirms it on delivery."""

    name = "cash"
    remote = False

    async def start(self, request: PaymentRequest) -> PaymentStart:
        return PaymentStart(provider=self.name, reference=f"cash:{request.order_code}")


class Payments:
    """The providers this installation offers, in the order buyers see them, and the paid listeners."""

    def __init__(self, providers: Iterable[PaymentProvider] = ()) -> None:
        self._providers: dict[str, PaymentProvider] = {}
        self._listeners: list[tuple[str, PaidListener]] = []
        self._failed_listeners: list[tuple[str, FailedListener]] = []
        for provider in providers:
            self.add(provider)

    def add(self, provider: PaymentProvider) -> None:
        self._providers[provider.name] = provider

    def names(self) -> list[str]:
        return list(self._providers)

    def get(self, name: str) -> PaymentProvider | None:
        return self._providers.get(name)

    def on_paid(self, listener: PaidListener, orders: str = "") -> None:
        """`listener` hears the settled payments of the orders whose code starts with `orders` and a
        dash ("DH": the shop's); every order's with ""."""
        self._listeners.append((orders, listener))

    async def notify_paid(self, session: AsyncSession, event: PaidEvent) -> None:
        for orders, listener in self._listeners:
            if _of(event.order_code, orders):
                await listener(session, event)

    def on_failed(self, listener: FailedListener, orders: str = "") -> None:
        self._failed_listeners.append((orders, listener))

    async def notify_failed(self, session: AsyncSession, event: FailedEvent) -> None:
        for orders, listener in self._failed_listeners:
            if _of(event.order_code, orders):
                await listener(session, event)

    async def withdraw(self, provider: str, reference: str) -> bool:
        """Stop a started payment at its provider (its order is being cancelled) so that it can take no
        money; False when the provider has already taken or is taking it. Providers that take nothing
        on their own (cash, a bank transfer) have nothing to stop."""
        withdraw = getattr(self._providers.get(provider), "withdraw", None)
        return True if withdraw is None else bool(await withdraw(reference))

    def refunds(self, provider: str) -> bool:
        """Whether `provider` gives money back itself (a card); a bank transfer or cash is given back by
        a person."""
        return getattr(self._providers.get(provider), "refund", None) is not None

    async def refund(self, provider: str, reference: str, amount_vnd: int, key: str) -> str | None:
        """Gives money of a taken payment back through its provider: the refund's reference, or None when
        the provider cannot (see `refunds`) or did not."""
        refund = getattr(self._providers.get(provider), "refund", None)
        return None if refund is None else await refund(reference, amount_vnd, key)

    async def close(self) -> None:
        """Release what providers hold open (Stripe's HTTP session)."""
        for provider in self._providers.values():
            closer = getattr(provider, "close", None)
            if closer is not None:
                await closer()


def _of(order_code: str, prefix: str) -> bool:
    return not prefix or order_code.upper().startswith(f"{prefix}-")
