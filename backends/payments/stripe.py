"""Card payments through Stripe: a PaymentIntent in VND per order, paid on our own payment page.

The official SDK speaks to any server given as its API base (Stripe, stripe-mock, localstripe). Its
``*_async`` methods run on an aiohttp session of their own, so nothing blocks the event loop. The
buyer gets a signed, expiring link to ``GET /pay/{token}`` (bots/pages/pay_page.py), which loads Stripe.js
and confirms the intent in the browser; Stripe then tells us by webhook (bots/hooks/stripe_webhook.py),
and only the webhook settles the payment in the ledger.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import stripe

from backends.payments.base import PaymentError, PaymentRequest, PaymentStart
from core.crypto import Hasher

log = logging.getLogger(__name__)
NAME = "stripe"
CURRENCY = "vnd"  # zero-decimal: amounts are whole đồng
PAY_LINK_LIFETIME = 3 * 24 * 3600
STRIPE_API_BASE = "https://api.stripe.com"
STRIPE_JS_URL = "https://js.stripe.com/v3/"
# Intent states in which the money is taken or on its way: too late to cancel.
TAKING = frozenset({"succeeded", "processing", "requires_capture"})
INTENT_ID = re.compile(r"pi_[A-Za-z0-9]{1,100}")
_REQUEST_TIMEOUT = 10.0  # a chat turn waits for it: keep it short


def stripe_js_url(api_base: str, configured: str | None = None) -> str:
    """Where the payment page loads Stripe.js from: the configured URL, Stripe's own for Stripe's API,
    else the fake one a local server (localstripe) serves at `<base>/js.stripe.com/v3/`."""
    if configured:
        return configured
    if api_base.rstrip("/") == STRIPE_API_BASE:
        return STRIPE_JS_URL
    return f"{api_base.rstrip('/')}/js.stripe.com/v3/"


def pay_link(hasher: Hasher, public_url: str, intent_id: str, lifetime: int = PAY_LINK_LIFETIME,
             now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + lifetime)
    signature = hasher.sign(f"pay:{intent_id}:{expires}")
    return f"{public_url.rstrip('/')}/pay/{intent_id}.{expires}.{signature}"


def intent_of_link(hasher: Hasher, token: str, now: float | None = None) -> str | None:
    """The PaymentIntent id a `/pay/{token}` link was signed for; None when forged or expired."""
    intent_id, _, rest = token.partition(".")
    expires, _, signature = rest.partition(".")
    # ASCII digits: "²".isdigit() is true, and int("²") an error.
    if not INTENT_ID.fullmatch(intent_id) or not (expires.isascii() and expires.isdigit()) or \
            len(expires) > 12:
        return None
    if int(expires) < (now if now is not None else time.time()):
        return None
    return intent_id if hasher.verify(f"pay:{intent_id}:{expires}", signature) else None


@dataclass(frozen=True, slots=True)
class IntentView:
    """What the payment page needs of an intent."""

    id: str
    status: str  # requires_payment_method, requires_action, processing, succeeded, canceled, …
    amount_vnd: int
    currency: str
    client_secret: str
    order_code: str


class StripePayments:
    """The `stripe` payment provider."""

    name = NAME
    remote = True  # an HTTP call of up to _REQUEST_TIMEOUT: never inside a chat turn's transaction

    def __init__(self, api_key: str, *, publishable_key: str, hasher: Hasher, public_url: str,
                 api_base: str = STRIPE_API_BASE, js_url: str | None = None,
                 link_lifetime: int = PAY_LINK_LIFETIME) -> None:
        self.publishable_key = publishable_key
        self.api_base = api_base.rstrip("/")
        self.js_url = stripe_js_url(api_base, js_url)
        self.hasher = hasher
        self.public_url = public_url
        self.link_lifetime = link_lifetime
        # Verified TLS against the SDK's CA bundle; the session itself opens on first use, in the loop.
        self._http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT))
        self.client = stripe.StripeClient(api_key, base_addresses={"api": self.api_base},
                                          http_client=self._http, max_network_retries=1)

    async def start(self, request: PaymentRequest) -> PaymentStart:
        if request.amount_vnd <= 0:
            raise PaymentError(NAME, "invalid", "amount must be positive")
        params: dict[str, Any] = {
            "amount": request.amount_vnd,
            "currency": CURRENCY,
            "payment_method_types": ["card"],
            # Stripe's `description` field is not accepted by localstripe; metadata is, everywhere.
            "metadata": {"order_code": request.order_code, "description": request.description[:500]},
        }
        options: dict[str, Any] = {"idempotency_key": f"xaso-{request.idempotency_key}"}
        try:
            intent = await self.client.v1.payment_intents.create_async(params, options)  # type: ignore[arg-type]
        except stripe.CardError as error:
            raise PaymentError(NAME, "declined", str(error.code or "")) from error
        except (stripe.InvalidRequestError, stripe.IdempotencyError) as error:
            raise PaymentError(NAME, "invalid", str(error.user_message or error)) from error
        except stripe.StripeError as error:
            log.warning("stripe could not start a payment for %s: %s", request.order_code, error)
            raise PaymentError(NAME, "unavailable", type(error).__name__) from error
        return PaymentStart(provider=NAME, reference=intent.id,
                            pay_url=pay_link(self.hasher, self.public_url, intent.id, self.link_lifetime))

    async def intent(self, intent_id: str) -> IntentView | None:
        """The intent as Stripe has it now; None when Stripe does not know it (or it is not in VND)."""
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(intent_id)
        except stripe.InvalidRequestError:
            return None
        except stripe.StripeError as error:
            raise PaymentError(NAME, "unavailable", type(error).__name__) from error
        if intent.currency != CURRENCY or not intent.client_secret:
            return None
        metadata = intent.metadata.to_dict() if intent.metadata is not None else {}
        return IntentView(id=intent.id, status=intent.status, amount_vnd=int(intent.amount),
                          currency=intent.currency, client_secret=intent.client_secret,
                          order_code=str(metadata.get("order_code", "")))

    async def cancel(self, reference: str) -> bool:
        """Cancel the intent at Stripe so that its page can no longer take money (the order was
        cancelled; call after `ledger.cancel_pending`). False when it could not be cancelled: already
        paid or cancelled, unknown, or Stripe unreachable (then the webhook reports a late payment)."""
        try:
            await self.client.v1.payment_intents.cancel_async(reference)
        except stripe.StripeError as error:
            log.warning("stripe intent %s not cancelled: %s", reference, error)
            return False
        return True

    async def withdraw(self, reference: str) -> bool:
        """For a cancelled order: cancel the intent; False only when Stripe has taken or is taking the
        money (its webhook will settle it). Stripe unreachable counts as withdrawn: the order is
        cancelled, our ledger no longer lets the payment page take a card, and a payment made anyway
        is flagged by the webhook (`paid_after_cancel`) for a refund."""
        if await self.cancel(reference):
            return True
        try:
            intent = await self.intent(reference)
        except PaymentError:
            return True
        return intent is None or intent.status not in TAKING

    async def refund(self, reference: str, amount_vnd: int, key: str) -> str | None:
        """Gives `amount_vnd` of a taken payment back to the card (Stripe's refund of the intent, under
        the idempotency key `key`: asked twice, refunded once); the refund's id, or None when Stripe
        refused it or could not be reached (the refund then stays owed, for staff to make)."""
        if amount_vnd <= 0:
            return None
        try:
            refund = await self.client.v1.refunds.create_async(
                {"payment_intent": reference, "amount": amount_vnd}, {"idempotency_key": f"xaso-{key}"})
        except stripe.StripeError as error:
            log.warning("stripe refund of %s VND on %s not made: %s", amount_vnd, reference, error)
            return None
        return str(refund.id)

    async def close(self) -> None:
        await self._http.close_async()
