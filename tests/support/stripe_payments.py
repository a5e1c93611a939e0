"""Card payments through our Stripe provider against localstripe (tests/support/localstripe.py): the
settings, the real app with its payment listeners recorded, the buyer's side through the SDK, and
`payment_intent` events. `stripe_settings`, `shop` and `buyer` are fixtures: a test module uses them by
importing them, with `localstripe_url`. `every_provider` and `served_with_webhook` serve the end-to-end
tests that pay in chat (the shop's, the homestay deposits')."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import stripe
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from backends.payments import FailedEvent, PaidEvent, PaymentRequest, PaymentStart
from backends.payments.ledger import payments_of, record
from backends.payments.stripe import StripePayments
from bots.assistant import Assistant
from bots.server import ASSISTANT, create_app
from core.config import Settings
from core.db import Database
from core.security import sign_stripe_payload
from nlu.engine import NLUEngine
from tests.support.localstripe import register_webhook

WEBHOOK_SECRET = "whsec_xaso_test_endpoint_secret"
API_KEY, PUBLISHABLE_KEY = "sk_test_xaso", "pk_test_xaso"
PATIENCE = 15.0
GOOD_CARD, DECLINED_CARD = "4242424242424242", "4000000000000341"


@dataclass
class Shop:
    client: TestClient
    assistant: Assistant
    database: Database
    paid: list[PaidEvent] = field(default_factory=list)
    failed: list[FailedEvent] = field(default_factory=list)

    @property
    def stripe(self) -> StripePayments:
        provider = self.assistant.services.payments.get("stripe")
        assert isinstance(provider, StripePayments)
        return provider

    async def order(self, code: str, amount_vnd: int) -> PaymentStart:
        """What the order flow does: start the payment, then record it in the ledger."""
        start = await self.stripe.start(PaymentRequest(order_code=code, amount_vnd=amount_vnd,
                                                       description="2 cân chè Tân Cương",
                                                       idempotency_key=f"order-{code}"))
        async with self.database.session() as session:
            await record(session, code, amount_vnd, start)
        return start

    async def status_of(self, code: str) -> list[tuple[str, str, str | None]]:
        async with self.database.session() as session:
            return [(row.reference, row.status, row.confirmed_by) for row in await payments_of(session, code)]

    async def settled(self, code: str) -> None:
        """Until the webhook's transaction has committed (the listeners run just before it does)."""
        async with asyncio.timeout(PATIENCE):
            while [status for _, status, _ in await self.status_of(code)] != ["succeeded"]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    async def deliver(self, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, at: int | None = None,
                      header: str | None = None, body: bytes | None = None) -> tuple[int, str]:
        raw = body if body is not None else json.dumps(event).encode()
        signature = header if header is not None else sign_stripe_payload(raw, secret, at or int(time.time()))
        answer = await self.client.post("/stripe/webhook", data=raw, headers={
            "Stripe-Signature": signature, "Content-Type": "application/json"})
        return answer.status, await answer.text()


def intent_event(event_id: str, intent_id: str, amount: int, kind: str = "payment_intent.succeeded",
                 currency: str = "vnd") -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": kind, "created": int(time.time()),
            "data": {"object": {"id": intent_id, "object": "payment_intent", "amount": amount,
                                "amount_received": amount, "currency": currency, "status": "succeeded"}}}


def every_provider(settings: Settings, localstripe_url: str, tmp_path: Path) -> Settings:
    """VietQR to the commune's bank account, cards at localstripe (and cash); rate limits a test's pace
    does not reach."""
    from tests.support.shop import data_dir_with_bank

    return settings.model_copy(update={
        "rate_limit_burst": 400, "rate_limit_per_minute": 1200, "data_dir": data_dir_with_bank(tmp_path),
        "stripe_api_key": SecretStr(API_KEY), "stripe_api_base": localstripe_url,
        "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET), "stripe_publishable_key": PUBLISHABLE_KEY})


@asynccontextmanager
async def served_with_webhook(settings: Settings, database: Database, nlu_engine: NLUEngine,
                              localstripe_url: str) -> AsyncIterator[TestClient]:
    """The whole service, localstripe posting its events to our webhook, signed with the settings' secret."""
    secret = settings.stripe_webhook_secret
    assert secret is not None, "the webhook refuses every event without its secret"
    assistant = Assistant.build(settings, nlu=nlu_engine, database=database)
    async with TestClient(TestServer(create_app(assistant))) as client:
        url = str(client.make_url("/stripe/webhook"))
        await register_webhook(localstripe_url, url, secret.get_secret_value())
        yield client


@pytest.fixture
def stripe_settings(settings: Settings, localstripe_url: str) -> Settings:
    return settings.model_copy(update={
        "stripe_api_key": SecretStr(API_KEY), "stripe_api_base": localstripe_url,
        "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET), "stripe_publishable_key": PUBLISHABLE_KEY})


@pytest.fixture
async def shop(stripe_settings: Settings, database: Database, nlu_engine: NLUEngine,
               localstripe_url: str) -> AsyncIterator[Shop]:
    async with served_with_webhook(stripe_settings, database, nlu_engine, localstripe_url) as client:
        assistant = client.app[ASSISTANT]
        found = Shop(client, assistant, database)

        async def on_paid(session: Any, event: PaidEvent) -> None:
            found.paid.append(event)

        async def on_failed(session: Any, event: FailedEvent) -> None:
            found.failed.append(event)

        assistant.services.payments.on_paid(on_paid)
        assistant.services.payments.on_failed(on_failed)
        yield found


@pytest.fixture
async def buyer(localstripe_url: str) -> AsyncIterator[stripe.StripeClient]:
    """The buyer's side: what Stripe.js does in the browser, through the SDK."""
    http = stripe.AIOHTTPClient()
    yield stripe.StripeClient(API_KEY, base_addresses={"api": localstripe_url}, http_client=http)
    await http.close_async()


async def pay_by_card(buyer: stripe.StripeClient, intent_id: str, number: str) -> None:
    method = await buyer.v1.payment_methods.create_async({"type": "card", "card": {
        "number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    await buyer.v1.payment_intents.update_async(intent_id, {"payment_method": method.id})
    await buyer.v1.payment_intents.confirm_async(intent_id)
