"""`POST /stripe/webhook`: Stripe's events about our PaymentIntents (SECURITY.md, Stripe row).

In order: an endpoint secret must be configured (else 401); the `Stripe-Signature` is checked on the
raw body before anything parses it (401, no detail, counted in `xaso_webhook_rejections`); the body
must be an event we can read (400). Then, in one transaction: the event id is recorded
(`ledger.first_delivery`, so a repeated delivery changes nothing), `payment_intent.succeeded` settles
the payment (`ledger.settle`, which calls the `on_paid` listeners of its order's kind in that same
transaction) and `payment_intent.payment_failed` tells the `on_failed` listeners. Anything else, or an
intent we never started, is acknowledged with 200 and changes nothing. Only our own failure (the
database is down) answers 503, so that Stripe delivers the event again later. The payment is settled
with the payments of its order's commune (a province's installation serves several; one endpoint
receives them all), so that its listeners speak for that commune.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select

from backends.payments import FailedEvent, Payments
from backends.payments.ledger import CANCELLED, PENDING, Payment, first_delivery, settle
from backends.payments.stripe import CURRENCY, INTENT_ID
from bots.assistant import Assistant
from bots.web_input import BadInput, parse_json
from bots.web_json import json_response, refusal
from core.security import verify_stripe_signature

log = logging.getLogger(__name__)
MAX_EVENT_BYTES = 256 * 1024
SUCCEEDED, FAILED = "payment_intent.succeeded", "payment_intent.payment_failed"
SOURCE = "stripe"
# Stripe's ids are about 30 characters; "stripe:<event id>" must fit Payment.confirmed_by (64).
MAX_EVENT_ID_CHARS = 64 - len(f"{SOURCE}:")


@dataclass(frozen=True, slots=True)
class IntentEvent:
    id: str
    type: str
    intent_id: str | None  # set for the two payment_intent events we act on
    amount_vnd: int | None
    currency: str
    failure_code: str


class StripeWebhook:
    def __init__(self, assistant: Assistant, clock: Callable[[], float] = time.time) -> None:
        self.assistant = assistant
        self.clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/stripe/webhook", self.receive)]

    def _refuse(self, reason: str, status: int) -> web.Response:
        self.assistant.metrics.webhook_rejections.labels(source=SOURCE, reason=reason).inc()
        return refusal(status)

    async def receive(self, request: web.Request) -> web.Response:
        secret = self.assistant.settings.stripe_webhook_secret
        if secret is None:
            return self._refuse("no_secret", 401)
        if (request.content_length or 0) > MAX_EVENT_BYTES:
            return self._refuse("too_large", 413)
        body = await request.read()
        if len(body) > MAX_EVENT_BYTES:
            return self._refuse("too_large", 413)
        if not verify_stripe_signature(request.headers.get("Stripe-Signature"), body,
                                       secret.get_secret_value(), self.clock()):
            return self._refuse("signature", 401)
        event = parse_event(body)
        if event is None:
            self.assistant.metrics.webhook_rejections.labels(source=SOURCE, reason="malformed").inc()
            return json_response({"error": "malformed"}, status=400)
        try:
            outcome = await self._handle(event)
        except Exception:
            log.exception("stripe event %s could not be handled; Stripe will deliver it again", event.id)
            self._count(event, "error")
            answer = json_response({"error": "unavailable"}, status=503)
            answer.headers["Retry-After"] = "60"
            return answer
        self._count(event, outcome)
        if outcome in ("settled", "paid_after_cancel", "amount_mismatch"):
            await self._audit(event, outcome)
        return json_response({"status": outcome})

    def _payments(self, payment: Payment | None) -> Payments:
        """The payments of the commune whose order (of any kind) the payment is for; the installation's
        own when the payment is unknown (or its commune no longer served)."""
        commune = payment.commune if payment is not None else None
        local = self.assistant.communes.get(commune) if commune else None
        return (local.services if local is not None else self.assistant.services).payments

    async def _handle(self, event: IntentEvent) -> str:
        async with self.assistant.database.session() as session:
            if not await first_delivery(session, event.id):
                return "duplicate"
            if event.intent_id is None:
                return "ignored"
            if event.currency != CURRENCY:
                log.warning("stripe event %s: intent %s in %r, not VND: ignored", event.id, event.intent_id,
                            event.currency)
                return "ignored"
            confirmed_by = f"stripe:{event.id}"
            payment = await session.scalar(select(Payment).where(Payment.reference == event.intent_id))
            payments = self._payments(payment)
            if event.type == SUCCEEDED:
                paid = await settle(session, payments, event.intent_id, confirmed_by=confirmed_by,
                                    amount_vnd=event.amount_vnd)
                if paid is not None:
                    return "settled"
                if payment is not None:  # as settle left it
                    await session.refresh(payment)
                if payment is not None and payment.status == CANCELLED:
                    log.error("stripe event %s: money received for intent %s of cancelled order %s; refund "
                              "it in the Stripe dashboard", event.id, event.intent_id, payment.order_code)
                    return "paid_after_cancel"
                if payment is not None and payment.status == PENDING:  # settle refused the amount
                    log.error("stripe event %s: intent %s of order %s paid %s VND, expected %s; not settled",
                              event.id, event.intent_id, payment.order_code, event.amount_vnd,
                              payment.amount_vnd)
                    return "amount_mismatch"
                return "ignored"
            if payment is None or payment.status != PENDING:
                return "ignored"
            await payments.notify_failed(session, FailedEvent(
                order_code=payment.order_code, provider=payment.provider, reference=payment.reference,
                reason=event.failure_code, reported_by=confirmed_by))
            return "failed"

    def _count(self, event: IntentEvent, outcome: str) -> None:
        kind = event.type if event.type in (SUCCEEDED, FAILED) else "other"
        self.assistant.metrics.stripe_events.labels(type=kind, outcome=outcome).inc()

    async def _audit(self, event: IntentEvent, outcome: str) -> None:
        try:
            await self.assistant.services.audit.record(SOURCE, f"shop.payment_{outcome}",
                                                       subject=event.intent_id, detail={"event": event.id})
            self.assistant.metrics.count_audited(f"shop.payment_{outcome}", "ok", None)
        except Exception:
            log.exception("audit entry for stripe event %s could not be written", event.id)


def parse_event(body: bytes) -> IntentEvent | None:
    """The parts of a Stripe event we use; None when the body is not a well-formed event."""
    try:
        payload = parse_json(body)  # text made storable: a lone surrogate or NUL becomes U+FFFD
    except BadInput:
        return None
    if not isinstance(payload, dict):
        return None
    event_id, kind, data = payload.get("id"), payload.get("type"), payload.get("data")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= MAX_EVENT_ID_CHARS and isinstance(kind, str)
            and isinstance(data, dict) and isinstance(data.get("object"), dict)):
        return None
    if kind not in (SUCCEEDED, FAILED):
        return IntentEvent(event_id, kind, None, None, "", "")
    intent: dict[str, Any] = data["object"]
    intent_id, currency = intent.get("id"), intent.get("currency")
    # Stripe sends `amount_received`; localstripe only `amount` (and sends the event once it succeeded).
    amount = intent.get("amount")
    if kind == SUCCEEDED:
        amount = intent.get("amount_received", amount)
    if not (isinstance(intent_id, str) and INTENT_ID.fullmatch(intent_id) and isinstance(currency, str)
            and isinstance(amount, int) and not isinstance(amount, bool) and amount >= 0):
        return None
    error = intent.get("last_payment_error")
    code = error.get("decline_code") or error.get("code") if isinstance(error, dict) else None
    return IntentEvent(event_id, kind, intent_id, amount, currency.lower(),
                       code[:64] if isinstance(code, str) else "")
