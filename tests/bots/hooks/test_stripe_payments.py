"""Card payments end to end against localstripe: our provider starts a PaymentIntent, the buyer pays
it as Stripe.js would, localstripe signs and delivers `payment_intent.succeeded` to our
`POST /stripe/webhook` over real HTTP, and the ledger settles it exactly once. Also the refusals
(forged, mutated, stale, future, malformed) and the signed payment page."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import func, select

from backends.payments import PaymentError, PaymentRequest, PaymentStart
from backends.payments.configured import configured_payments
from backends.payments.ledger import PaymentEvent, cancel_pending, record
from backends.payments.stripe import StripePayments, pay_link
from bots.assistant import Assistant
from bots.server import create_app
from core.commune import Commune
from core.config import Settings
from core.crypto import Hasher
from core.db import Database
from core.models import AuditEntry
from core.security import sign_stripe_payload
from nlu.engine import NLUEngine
from tests.support.localstripe import localstripe_url
from tests.support.stripe_payments import (
    API_KEY,
    DECLINED_CARD,
    GOOD_CARD,
    PATIENCE,
    PUBLISHABLE_KEY,
    WEBHOOK_SECRET,
    Shop,
    buyer,
    intent_event,
    pay_by_card,
    shop,
    stripe_settings,
)

__all__ = ["buyer", "localstripe_url", "shop", "stripe_settings"]  # fixtures, used by name


async def until(condition: Any) -> None:
    async with asyncio.timeout(PATIENCE):
        while not condition():  # noqa: ASYNC110 (the listeners are plain callbacks)
            await asyncio.sleep(0.05)


async def test_card_payment_round_trip_settles_once(shop: Shop, buyer: stripe.StripeClient) -> None:
    start = await shop.order("DH-000101", 150_000)
    assert start.provider == "stripe" and start.reference.startswith("pi_") and start.status == "pending"
    intent = await buyer.v1.payment_intents.retrieve_async(start.reference)
    assert (intent.amount, intent.currency, intent.status) == (150_000, "vnd", "requires_payment_method")
    assert intent.metadata["order_code"] == "DH-000101"

    await pay_by_card(buyer, start.reference, GOOD_CARD)
    await shop.settled("DH-000101")
    (paid,) = shop.paid
    assert (paid.order_code, paid.provider, paid.reference, paid.amount_vnd) == (
        "DH-000101", "stripe", start.reference, 150_000)
    assert re.fullmatch(r"stripe:evt_\w+", paid.confirmed_by)
    assert await shop.status_of("DH-000101") == [(start.reference, "succeeded", paid.confirmed_by)]

    # Stripe delivers at least once: the same event again (validly signed) changes nothing…
    event_id = paid.confirmed_by.removeprefix("stripe:")
    replay = await shop.deliver(intent_event(event_id, start.reference, 150_000))
    assert (replay[0], json.loads(replay[1])) == (200, {"status": "duplicate"})
    # …and neither does another event about the same, already paid intent.
    status, text = await shop.deliver(intent_event("evt_another", start.reference, 150_000))
    assert (status, json.loads(text)) == (200, {"status": "ignored"})
    await asyncio.sleep(1.5)  # anything else localstripe might still send
    assert len(shop.paid) == 1 and shop.failed == []
    assert await shop.status_of("DH-000101") == [(start.reference, "succeeded", paid.confirmed_by)]

    async with shop.database.session() as session:
        audited = (await session.scalars(
            select(AuditEntry).where(AuditEntry.subject == start.reference))).all()
    assert [(entry.actor, entry.action, entry.detail) for entry in audited] == [
        ("stripe", "shop.payment_settled", {"event": event_id})]
    figures = (await (await shop.client.get("/metrics")).read()).decode()
    assert 'xaso_stripe_events_total{outcome="settled",type="payment_intent.succeeded"} 1.0' in figures
    assert 'xaso_stripe_events_total{outcome="duplicate",type="payment_intent.succeeded"} 1.0' in figures


async def test_a_declined_card_is_reported_and_the_payment_stays_open(shop: Shop,
                                                                      buyer: stripe.StripeClient) -> None:
    start = await shop.order("DH-000102", 80_000)
    with pytest.raises(stripe.CardError):
        await pay_by_card(buyer, start.reference, DECLINED_CARD)
    await until(lambda: len(shop.failed) == 1)
    (failed,) = shop.failed
    assert (failed.order_code, failed.reference) == ("DH-000102", start.reference)
    assert failed.reason == "card_declined"
    assert failed.reported_by.startswith("stripe:evt_")
    assert shop.paid == []
    assert await shop.status_of("DH-000102") == [(start.reference, "pending", None)]


async def test_refused_deliveries_change_nothing(shop: Shop) -> None:
    """Forged, mutated, stale or future signatures: 401 with no detail; malformed: 400; never a 5xx."""
    start = PaymentStart(provider="stripe", reference="pi_forgedtarget")
    async with shop.database.session() as session:
        await record(session, "DH-000103", 50_000, start)
    event = intent_event("evt_forged", start.reference, 50_000)
    raw = json.dumps(event).encode()
    now = int(time.time())
    good = sign_stripe_payload(raw, WEBHOOK_SECRET, now)
    refusals = [
        await shop.deliver(event, secret="whsec_guessed"),
        await shop.deliver(event, header=""),
        await shop.deliver(event, header=f"t={now},v1={'0' * 64}"),
        await shop.deliver(event, at=now - 301),
        await shop.deliver(event, at=now + 301),
        await shop.deliver(event, header=good.replace(f"t={now}", f"t={now + 1}")),
    ]
    for index in range(0, len(raw), 5):
        mutated = bytearray(raw)
        mutated[index] ^= 0x20
        refusals.append(await shop.deliver(event, body=bytes(mutated), header=good))
    assert all(refusal == (401, '{"error":"unauthorized"}') for refusal in refusals)  # no detail

    signed_garbage = [b"{not json", b"[]", b'{"id": "evt_x"}', json.dumps(
        intent_event("evt_" + "x" * 60, start.reference, 50_000)).encode(), json.dumps(
        intent_event("evt_bad", "not-an-intent", 1)).encode(), "\udcff".encode("utf-8", "surrogatepass")]
    for body in signed_garbage:
        status, text = await shop.deliver({}, body=body)
        assert (status, json.loads(text)) == (400, {"error": "malformed"})

    assert shop.paid == []
    assert await shop.status_of("DH-000103") == [(start.reference, "pending", None)]
    async with shop.database.session() as session:
        assert await session.scalar(select(func.count()).select_from(PaymentEvent)) == 0

    # A wrong amount or currency is acknowledged but settles nothing; the real event then settles it.
    status, text = await shop.deliver(intent_event("evt_cheap", start.reference, 5_000))
    assert (status, json.loads(text)) == (200, {"status": "amount_mismatch"})
    assert (await shop.deliver(intent_event("evt_usd", start.reference, 50_000, currency="usd")))[0] == 200
    assert shop.paid == []
    status, text = await shop.deliver(event)
    assert (status, json.loads(text)) == (200, {"status": "settled"})
    assert [paid.confirmed_by for paid in shop.paid] == ["stripe:evt_forged"]
    figures = (await (await shop.client.get("/metrics")).read()).decode()
    assert 'xaso_webhook_rejections_total{reason="signature",source="stripe"}' in figures


async def test_a_cancelled_order_cannot_be_paid_and_a_late_payment_is_flagged(
        shop: Shop, buyer: stripe.StripeClient) -> None:
    start = await shop.order("DH-000106", 60_000)
    async with shop.database.session() as session:
        assert await cancel_pending(session, "DH-000106") == 1
    assert await shop.stripe.cancel(start.reference) is True
    assert await shop.stripe.cancel(start.reference) is False  # already cancelled
    intent = await buyer.v1.payment_intents.retrieve_async(start.reference)
    assert intent.status == "canceled"
    assert start.pay_url is not None
    page = await shop.client.get(urlsplit(start.pay_url).path)
    text = await page.text()
    assert page.status == 200 and "đã bị huỷ" in text and "data-secret" not in text
    # Had the money come anyway (a race with the cancellation), it is flagged for a refund, not settled.
    status, answer = await shop.deliver(intent_event("evt_late", start.reference, 60_000))
    assert (status, json.loads(answer)) == (200, {"status": "paid_after_cancel"})
    assert shop.paid == []
    assert await shop.status_of("DH-000106") == [(start.reference, "cancelled", None)]


async def test_concurrent_deliveries_settle_once(shop: Shop) -> None:
    """The same event five times at once, and three other events for the same intent: one effect."""
    start = PaymentStart(provider="stripe", reference="pi_racedintent")
    async with shop.database.session() as session:
        await record(session, "DH-000107", 90_000, start)
    events = [intent_event("evt_race", start.reference, 90_000)] * 5 + [
        intent_event(f"evt_other{index}", start.reference, 90_000) for index in range(3)]
    answers = await asyncio.gather(*(shop.deliver(event) for event in events))
    outcomes = sorted(json.loads(text)["status"] for status, text in answers if status == 200)
    assert len(outcomes) == 8 and outcomes.count("settled") == 1
    assert outcomes.count("duplicate") == 4 and outcomes.count("ignored") == 3
    assert len(shop.paid) == 1
    assert [row[1] for row in await shop.status_of("DH-000107")] == ["succeeded"]


async def test_unknown_intents_and_other_events_are_acknowledged(shop: Shop) -> None:
    status, text = await shop.deliver(intent_event("evt_unknown", "pi_nobodystartedthis", 10_000))
    assert (status, json.loads(text)) == (200, {"status": "ignored"})
    status, text = await shop.deliver({"id": "evt_customer", "type": "customer.created",
                                       "data": {"object": {"id": "cus_1"}}})
    assert (status, json.loads(text)) == (200, {"status": "ignored"})
    assert shop.paid == []
    async with shop.database.session() as session:
        assert await session.scalar(select(func.count()).select_from(PaymentEvent)) == 2


async def test_no_webhook_secret_refuses_everything(client: TestClient) -> None:
    body = json.dumps(intent_event("evt_1", "pi_1", 1)).encode()
    answer = await client.post("/stripe/webhook", data=body, headers={
        "Stripe-Signature": sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()))})
    assert answer.status == 401 and await answer.json() == {"error": "unauthorized"}  # no detail


async def test_the_payment_page_is_signed_and_shows_the_order(shop: Shop, buyer: stripe.StripeClient,
                                                              localstripe_url: str) -> None:
    start = await shop.order("DH-000104", 275_000)
    assert start.pay_url is not None
    link = urlsplit(start.pay_url)
    assert f"{link.scheme}://{link.netloc}" == shop.assistant.settings.public_url
    answer = await shop.client.get(link.path)
    page = await answer.text()
    assert answer.status == 200
    assert "DH-000104" in page and "275.000 ₫" in page and "Thanh toán" in page
    assert f'src="{localstripe_url}/js.stripe.com/v3/"' in page and f'data-key="{PUBLISHABLE_KEY}"' in page
    intent = await buyer.v1.payment_intents.retrieve_async(start.reference)
    assert f'data-secret="{intent.client_secret}"' in page
    policy = answer.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None and f'<script nonce="{nonce.group(1)}">' in page
    assert "default-src 'none'" in policy and answer.headers["Cache-Control"] == "no-store"

    token = link.path.removeprefix("/pay/")
    intent_id, expires, signature = token.split(".")
    tampered = [
        f"{intent_id}.{expires}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
        f"{intent_id}.{int(expires) + 3600}.{signature}",
        f"pi_someoneelse.{expires}.{signature}",
        f"{intent_id}.{expires}", "nonsense", "pi_x.1.2",
    ]
    hasher = shop.assistant.services.hasher
    expired = pay_link(hasher, "http://x", intent_id, lifetime=-1)
    for path in [f"/pay/{bad}" for bad in tampered] + [urlsplit(expired).path]:
        refused = await shop.client.get(path)
        assert refused.status == 404, path
        assert intent.client_secret not in await refused.text()

    await pay_by_card(buyer, start.reference, GOOD_CARD)
    await shop.settled("DH-000104")
    after = await shop.client.get(link.path)
    paid_page = await after.text()
    assert after.status == 200 and "Đã thanh toán" in paid_page and "data-secret" not in paid_page


async def test_stripe_unreachable_is_a_polite_refusal(settings: Settings, database: Database,
                                                      nlu_engine: NLUEngine) -> None:
    offline = settings.model_copy(update={"stripe_api_key": SecretStr(API_KEY),
                                          "stripe_api_base": "http://127.0.0.1:9",
                                          "stripe_publishable_key": PUBLISHABLE_KEY})
    assistant = Assistant.build(offline, nlu=nlu_engine, database=database)
    async with TestClient(TestServer(create_app(assistant))) as client:
        provider = assistant.services.payments.get("stripe")
        assert isinstance(provider, StripePayments)
        with pytest.raises(PaymentError) as raised:
            await provider.start(PaymentRequest("DH-000105", 10_000, "chè", "order-DH-000105"))
        assert raised.value.reason == "unavailable"
        link = pay_link(assistant.services.hasher, offline.public_url, "pi_offline")
        answer = await client.get(urlsplit(link).path)
        assert answer.status == 200 and "tạm thời không liên lạc được" in await answer.text()


def test_providers_follow_the_configuration(settings: Settings) -> None:
    hasher = Hasher(b"k")
    bank = Commune.parse({"payments": {"bank_bin": "970405", "account_number": "3100205123456",
                                       "account_name": "HTX Che"}})
    assert configured_payments(settings, Commune(), hasher).names() == ["cash"]
    assert configured_payments(settings, bank, hasher).names() == ["vietqr", "cash"]
    keyed = settings.model_copy(update={"stripe_api_key": SecretStr(API_KEY)})
    assert configured_payments(keyed, Commune(), hasher).names() == ["cash"]  # no publishable key: no page
    full = keyed.model_copy(update={"stripe_publishable_key": PUBLISHABLE_KEY})
    assert configured_payments(full, bank, hasher).names() == ["vietqr", "stripe", "cash"]
