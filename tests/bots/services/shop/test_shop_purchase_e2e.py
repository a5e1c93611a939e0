"""Whole purchases through the web chat API with the real payment providers configured as an
installation configures them (settings + commune.yml `payments:`): card through our Stripe provider
against localstripe (pay page, Stripe.js' confirmation through the SDK, the signed webhook delivered
by localstripe), VietQR with its real EMVCo payload and PNG, cash on delivery, and a cancellation
after a card payment was started."""

from __future__ import annotations

import asyncio
import binascii
import io
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy import select

from backends.payments import PaymentRequest, PaymentStart, ledger
from backends.payments.stripe import StripePayments
from backends.payments.vietqr import BankAccount, account_payload, purpose_of, render_png
from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.models import AuditEntry
from core.security import sign_stripe_payload
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, button_data, texts
from tests.support.localstripe import localstripe_url, register_webhook
from tests.support.shop import (
    BANK,
    confirm_button,
    order_until_summary,
    orders,
    pushed_with,
    seller_joins,
    stock,
)
from tests.support.stripe_payments import (
    API_KEY,
    GOOD_CARD,
    WEBHOOK_SECRET,
    buyer,
    every_provider,
    intent_event,
    pay_by_card,
    served_with_webhook,
)

__all__ = ["buyer", "localstripe_url"]  # fixtures, used by name below
TEA = "tea_tan_cuong"
SELLER = "htx_che_la_bang"
TOTAL = 1_200_000  # 2 kg at 600.000 đ, free delivery inside the commune
PATIENCE = 15.0


@pytest.fixture
def settings(settings: Settings, localstripe_url: str, tmp_path: Path) -> Settings:
    return every_provider(settings, localstripe_url, tmp_path)


@pytest.fixture
async def client(settings: Settings, database: Database, nlu_engine: NLUEngine,
                 localstripe_url: str) -> AsyncIterator[TestClient]:
    """The whole service with every provider, localstripe posting its events to our webhook."""
    async with served_with_webhook(settings, database, nlu_engine, localstripe_url) as test_client:
        yield test_client


@pytest.fixture
async def card(buyer: stripe.StripeClient) -> stripe.StripeClient:
    """The buyer's browser: what Stripe.js does on the payment page, through the SDK."""
    return buyer


def _code(replies: list[dict[str, Any]]) -> str:
    found = re.search(r"DH-\d{6}", texts(replies))
    assert found is not None, texts(replies)
    return found.group(0)


async def _payments(client: TestClient, code: str) -> list[tuple[str, str, str | None]]:
    async with client.app[ASSISTANT].database.session() as session:
        return [(p.provider, p.status, p.confirmed_by) for p in await ledger.payments_of(session, code)]


async def _until_paid(client: TestClient, code: str) -> None:
    async with asyncio.timeout(PATIENCE):
        while [status for _, status, _ in await _payments(client, code)] != ["succeeded"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _deliver(client: TestClient, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """An event as Stripe would deliver it, signed now with the endpoint's secret."""
    raw = json.dumps(event).encode()
    answer = await client.post("/stripe/webhook", data=raw, headers={
        "Stripe-Signature": sign_stripe_payload(raw, WEBHOOK_SECRET, int(time.time())),
        "Content-Type": "application/json"})
    return answer.status, await answer.json()


def _tlv(text: str) -> dict[str, str]:
    fields, index = {}, 0
    while index < len(text):
        tag, size = text[index:index + 2], int(text[index + 2:index + 4])
        fields[tag] = text[index + 4:index + 4 + size]
        index += 4 + size
    return fields


def _count(replies: list[dict[str, Any]], needle: str) -> int:
    return texts(replies).count(needle)


async def _start_card_order(client: TestClient, buyer: ChatSession) -> tuple[str, str, str]:
    """Order → location → phone → card → confirm: the order code, the pay link and its intent id."""
    summary = await order_until_summary(buyer, "mua 2 cân chè Tân Cương", payment="stripe")
    assert "1.200.000 đ" in texts(summary) and "Thẻ ngân hàng" in texts(summary), texts(summary)
    placed = await buyer.press(confirm_button(summary))
    code = _code(placed)
    link = next((b["url"] for r in placed for b in r["buttons"] if b.get("url")), None)
    assert link is not None and "/pay/" in link, placed
    async with client.app[ASSISTANT].database.session() as session:
        (payment,) = await ledger.payments_of(session, code)
    assert payment.provider == "stripe" and payment.reference.startswith("pi_")
    assert link.split("/pay/", 1)[1].startswith(f"{payment.reference}.")
    return code, link, payment.reference


async def test_card_purchase_pays_once_through_localstripe_and_ships(
        client: TestClient, card: stripe.StripeClient) -> None:
    seller = await seller_joins(client, SELLER)
    buyer = await ChatSession.open(client)
    before = await stock(client, TEA)
    code, link, intent_id = await _start_card_order(client, buyer)
    assert await stock(client, TEA) == before - 2000
    intent = await card.v1.payment_intents.retrieve_async(intent_id)
    assert (intent.amount, intent.currency, intent.metadata["order_code"]) == (TOTAL, "vnd", code)
    news = await pushed_with(client, seller, code)
    assert code in texts(news) and f"seller:paid:{code}" not in button_data(news)  # card: no manual button

    page = await client.get(urlsplit(link).path)
    html = await page.text()
    assert page.status == 200 and code in html and "1.200.000 ₫" in html
    assert f'data-secret="{intent.client_secret}"' in html
    await pay_by_card(card, intent_id, GOOD_CARD)  # localstripe then posts payment_intent.succeeded
    await _until_paid(client, code)
    (provider, status, confirmed_by) = (await _payments(client, code))[0]
    assert (provider, status) == ("stripe", "succeeded")
    assert confirmed_by is not None and re.fullmatch(r"stripe:evt_\w+", confirmed_by)

    told = await pushed_with(client, buyer, f"Đơn {code} đã được thanh toán")
    assert _count(told, f"Đơn {code} đã được thanh toán") == 1
    seller_told = await pushed_with(client, seller, f"Đơn {code} đã được thanh toán")
    assert _count(seller_told, f"Đơn {code} đã được thanh toán") == 1
    listed = texts(await seller.say("/orders"))
    assert code in listed and "đã thanh toán" in listed and "chưa thanh toán" not in listed
    assert "Đã thanh toán" in await (await client.get(urlsplit(link).path)).text()

    # Stripe delivers at least once: the same event again, validly signed, changes nothing.
    (order,) = await orders(client)
    paid_at = order.paid_at
    assert paid_at is not None
    again = await _deliver(client, intent_event(confirmed_by.removeprefix("stripe:"), intent_id, TOTAL))
    assert again == (200, {"status": "duplicate"})
    await asyncio.sleep(0.5)
    assert _count(await pushed_with(client, buyer, "đã được thanh toán", within=1), "đã được thanh toán") == 1
    (order,) = await orders(client)
    assert order.paid_at == paid_at
    assert await _payments(client, code) == [("stripe", "succeeded", confirmed_by)]
    assert "không tự hủy" in texts(await buyer.press(f"shop:cancel:{code}"))
    assert "không có khoản" in texts(await seller.say(f"/paid {code}"))  # already paid: nothing to do

    assert "đang giao" in texts(await seller.say(f"/ship {code}"))
    assert "đang được giao" in texts(await pushed_with(client, buyer, "đang được giao"))
    assert "đã giao" in texts(await seller.press(f"seller:deliver:{code}"))
    assert "đã giao xong" in texts(await pushed_with(client, buyer, "đã giao xong"))
    (order,) = await orders(client)
    assert order.status == "delivered" and order.paid_at == paid_at
    status = texts(await buyer.say(f"{code} đến đâu rồi"))
    assert "đã giao" in status and "đã thanh toán" in status


async def test_vietqr_purchase_shows_the_qr_and_the_seller_confirms_once(client: TestClient) -> None:
    seller = await seller_joins(client, SELLER)
    buyer = await ChatSession.open(client)
    summary = await order_until_summary(buyer, "mua 2 cân chè Tân Cương", payment="vietqr")
    placed = await buyer.press(confirm_button(summary))
    code = _code(placed)
    qr = next(r for r in placed if r["image_url"])
    image = await client.get(urlsplit(qr["image_url"]).path + "?" + urlsplit(qr["image_url"]).query)
    png = await image.read()
    assert image.status == 200 and image.content_type == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).format == "PNG"
    # A person reads (and hears) the transfer in lines and copies them; the raw payload is for bank apps.
    text = qr["text"]
    assert "000201" not in text and "6304" not in text
    for line in ("Ngân hàng: Agribank", "Số tài khoản: 3100205123456", "Chủ tài khoản: HTX Chè La Bằng",
                 "Số tiền: 1.200.000 đ", f"Nội dung chuyển khoản: {code} thanh toan"):
        assert line in text, (line, text)
    copies = {item["value"] for item in qr["copy"]}
    assert copies == {"3100205123456", str(TOTAL), f"{code} thanh toan"}
    # The QR carries exactly the EMVCo payload of this account, amount and note.
    payload = account_payload(BankAccount(**BANK), TOTAL, purpose_of(code))
    assert png == render_png(payload)
    fields = _tlv(payload)
    assert fields["54"] == str(TOTAL) and fields["53"] == "704"
    assert code in _tlv(fields["62"])["08"]
    assert "3100205123456" in fields["38"] and "970405" in fields["38"]
    body = payload[:-4]
    assert f"{binascii.crc_hqx(body.encode(), 0xFFFF):04X}" == fields["63"]

    news = await pushed_with(client, seller, f"seller:paid:{code}")
    assert f"seller:paid:{code}" in button_data(news) and "Đã nhận chuyển khoản" in str(news)
    assert "Đã ghi nhận" in texts(await seller.press(f"seller:paid:{code}"))
    assert "không có khoản" in texts(await seller.press(f"seller:paid:{code}"))  # a second press
    assert "không có khoản" in texts(await seller.say(f"/paid {code}"))
    told = await pushed_with(client, buyer, f"Đơn {code} đã được thanh toán")
    assert _count(told, f"Đơn {code} đã được thanh toán") == 1
    assert [(p, s) for p, s, _ in await _payments(client, code)] == [("vietqr", "succeeded")]
    (order,) = await orders(client)
    assert order.paid_at is not None and order.status == "new"


async def test_cash_purchase_paid_on_delivery(client: TestClient) -> None:
    seller = await seller_joins(client, SELLER)
    buyer = await ChatSession.open(client)
    summary = await order_until_summary(buyer, "mua 2 cân chè Tân Cương", payment="cash")
    code = _code(await buyer.press(confirm_button(summary)))
    assert "đang giao" in texts(await seller.say(f"/ship {code}"))
    assert "đã giao" in texts(await seller.press(f"seller:deliver:{code}"))
    assert "Đã ghi nhận" in texts(await seller.say(f"/paid {code}"))
    paid = f"Đơn {code} đã được thanh toán"
    told = await pushed_with(client, buyer, "đang được giao", "đã giao xong", paid)
    assert _count(told, f"Đơn {code} đã được thanh toán") == 1 and "đã giao xong" in texts(told)
    assert [(p, s) for p, s, _ in await _payments(client, code)] == [("cash", "succeeded")]
    (order,) = await orders(client)
    assert order.status == "delivered" and order.paid_at is not None


async def test_cancelling_a_card_order_cancels_the_intent_and_a_late_payment_is_not_settled(
        client: TestClient, card: stripe.StripeClient) -> None:
    seller = await seller_joins(client, SELLER)
    buyer = await ChatSession.open(client)
    before = await stock(client, TEA)
    code, link, intent_id = await _start_card_order(client, buyer)
    assert "Đã hủy đơn" in texts(await buyer.press(f"shop:cancel:{code}"))
    assert await stock(client, TEA) == before
    intent = await card.v1.payment_intents.retrieve_async(intent_id)
    assert intent.status == "canceled"  # the page can no longer take money
    html = await (await client.get(urlsplit(link).path)).text()
    assert "đã bị huỷ" in html and "data-secret" not in html
    with pytest.raises(stripe.StripeError):
        await pay_by_card(card, intent_id, GOOD_CARD)
    assert await _payments(client, code) == [("stripe", "cancelled", None)]

    # Had the money come anyway (the buyer paid as the order was cancelled), it is flagged, not settled.
    late = await _deliver(client, intent_event("evt_late_after_cancel", intent_id, TOTAL))
    assert late == (200, {"status": "paid_after_cancel"})
    (order,) = await orders(client)
    assert order.status == "cancelled" and order.paid_at is None
    assert await _payments(client, code) == [("stripe", "cancelled", None)]
    assert await stock(client, TEA) == before
    async with client.app[ASSISTANT].database.session() as session:
        flagged = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "shop.payment_paid_after_cancel"))).all()
    assert [entry.subject for entry in flagged] == [intent_id]
    assert "hủy đơn" in texts(await pushed_with(client, seller, "hủy đơn"))
    pushed = texts(await pushed_with(client, buyer, "đã được thanh toán", within=1))
    assert "đã được thanh toán" not in pushed


async def test_a_card_paid_before_the_cancellation_keeps_the_order(
        client: TestClient, card: stripe.StripeClient) -> None:
    """The buyer paid on the page but the webhook has not come yet: cancelling is refused, the order
    stays and is settled when the event arrives."""
    await register_webhook(str(client.app[ASSISTANT].settings.stripe_api_base),
                           "http://127.0.0.1:9/nowhere", WEBHOOK_SECRET)  # the event is late
    buyer = await ChatSession.open(client)
    before = await stock(client, TEA)
    code, _, intent_id = await _start_card_order(client, buyer)
    await pay_by_card(card, intent_id, GOOD_CARD)
    refused = texts(await buyer.press(f"shop:cancel:{code}"))
    assert "đã thanh toán" in refused and "Đã hủy" not in refused
    assert await stock(client, TEA) == before - 2000
    assert await _payments(client, code) == [("stripe", "pending", None)]
    settled = await _deliver(client, intent_event("evt_late_success", intent_id, TOTAL))
    assert settled == (200, {"status": "settled"})
    (order,) = await orders(client)
    assert order.status == "new" and order.paid_at is not None


async def test_a_slow_stripe_call_holds_no_lock_and_the_order_waits_as_starting(
        client: TestClient, card: stripe.StripeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stripe takes its time: the order is STARTING, no seller is told, another villager buying the same
    tea is answered meanwhile; then the real intent is made at localstripe and the buyer gets its link."""
    provider = client.app[ASSISTANT].services.payments.get("stripe")
    assert isinstance(provider, StripePayments)
    entered, release = asyncio.Event(), asyncio.Event()
    real_start = provider.start

    async def slow_start(request: PaymentRequest) -> PaymentStart:
        entered.set()
        await release.wait()
        return await real_start(request)

    monkeypatch.setattr(provider, "start", slow_start)
    seller = await seller_joins(client, SELLER)
    buyer, other = await ChatSession.open(client), await ChatSession.open(client)
    before = await stock(client, TEA)
    summary = await order_until_summary(buyer, "mua 2 cân chè Tân Cương", payment="stripe")
    other_summary = await order_until_summary(other, "mua 2 cân chè Tân Cương", payment="cash")
    placing = asyncio.create_task(buyer.press(confirm_button(summary)))
    async with asyncio.timeout(PATIENCE):
        await entered.wait()
        other_code = _code(await other.press(confirm_button(other_summary)))
    assert not placing.done() and await stock(client, TEA) == before - 4000
    statuses = {order.code: order.status for order in await orders(client)}
    assert statuses == {"DH-000001": "starting", other_code: "new"}
    release.set()
    async with asyncio.timeout(PATIENCE):
        placed = await placing
    code = _code(placed)
    link = next(b["url"] for r in placed for b in r["buttons"] if b.get("url"))
    (payment,) = [p for p in await _payments(client, code)]
    assert code == "DH-000001" and payment[:2] == ("stripe", "pending")
    async with client.app[ASSISTANT].database.session() as session:
        (row,) = await ledger.payments_of(session, code)
    intent = await card.v1.payment_intents.retrieve_async(row.reference)
    assert (intent.amount, intent.metadata["order_code"]) == (TOTAL, code)
    assert link.split("/pay/", 1)[1].startswith(f"{row.reference}.")
    assert {order.code: order.status for order in await orders(client)}[code] == "new"
    news = texts(await pushed_with(client, seller, f"Đơn mới {code}", f"Đơn mới {other_code}"))
    assert news.count(f"Đơn mới {code}") == 1


async def test_stripe_unreachable_after_the_commit_cancels_the_order_and_cash_works(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = client.app[ASSISTANT].services.payments.get("stripe")
    assert isinstance(provider, StripePayments)
    offline = stripe.StripeClient(API_KEY, base_addresses={"api": "http://127.0.0.1:9"},
                                  http_client=provider._http, max_network_retries=0)
    monkeypatch.setattr(provider, "client", offline)
    seller = await seller_joins(client, SELLER)
    buyer = await ChatSession.open(client)
    before = await stock(client, TEA)
    summary = await order_until_summary(buyer, "mua 2 cân chè Tân Cương", payment="stripe")
    answer = await buyer.press(confirm_button(summary))
    assert "trục trặc" in texts(answer) and "shop:pay:cash" in button_data(answer), texts(answer)
    assert "shop:pay:stripe" in button_data(answer)  # every way is offered again
    (order,) = await orders(client)
    assert order.status == "cancelled" and await stock(client, TEA) == before
    assert await _payments(client, order.code) == []
    placed = await buyer.press(confirm_button(await buyer.press("shop:pay:cash")))
    code = _code(placed)
    assert code == "DH-000002" and "tiền mặt" in texts(placed)
    assert await stock(client, TEA) == before - 2000
    assert [(p, s) for p, s, _ in await _payments(client, code)] == [("cash", "pending")]
    news = texts(await pushed_with(client, seller, f"Đơn mới {code}"))
    assert "DH-000001" not in news


async def test_erasing_a_buyer_withdraws_the_open_card_payment_after_the_commit(
        client: TestClient, card: stripe.StripeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assistant = client.app[ASSISTANT]
    provider = assistant.services.payments.get("stripe")
    assert isinstance(provider, StripePayments)
    real_cancel, locked = provider.cancel, []

    async def cancel(reference: str) -> bool:  # SQLite's writer lock is free while Stripe is called
        serial = assistant.pipeline._serial
        locked.append(isinstance(serial, asyncio.Lock) and serial.locked())
        return await real_cancel(reference)

    monkeypatch.setattr(provider, "cancel", cancel)
    buyer = await ChatSession.open(client)
    before = await stock(client, TEA)
    code, _, intent_id = await _start_card_order(client, buyer)
    assert code in texts(await buyer.press("mydata:delete"))  # the warning names the open order
    farewell = texts(await buyer.press("mydata:delete-confirm"))
    assert code in farewell, farewell
    assert (await card.v1.payment_intents.retrieve_async(intent_id)).status == "canceled"
    assert locked == [False]
    assert await _payments(client, code) == [("stripe", "cancelled", None)]
    (order,) = await orders(client)
    assert order.status == "cancelled" and order.user_id is None and await stock(client, TEA) == before
    async with client.app[ASSISTANT].database.session() as session:
        withdrawn = (await session.scalars(select(AuditEntry)
                                           .where(AuditEntry.action == "shop.withdraw"))).all()
    assert [(entry.subject, entry.outcome) for entry in withdrawn] == [(f"order:{code}", "ok")]


def test_the_card_provider_is_the_real_one(settings: Settings) -> None:
    from backends.payments.configured import configured_payments
    from core.commune import Commune
    from core.crypto import Hasher

    commune = Commune.load(settings.data_dir / "communes" / "LB" / "commune.yml", "LB")
    payments = configured_payments(settings, commune, Hasher(b"k"))
    assert payments.names() == ["vietqr", "stripe", "cash"]
    assert isinstance(payments.get("stripe"), StripePayments)


async def test_a_cancelled_order_shows_no_card_field_while_stripe_was_not_told(
        client: TestClient, card: stripe.StripeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = client.app[ASSISTANT].services.payments.get("stripe")
    assert isinstance(provider, StripePayments)

    async def unreachable(reference: str) -> bool:
        return False

    monkeypatch.setattr(provider, "cancel", unreachable)
    buyer = await ChatSession.open(client)
    code, link, intent_id = await _start_card_order(client, buyer)
    assert "Đã hủy đơn" in texts(await buyer.press(f"shop:cancel:{code}"))
    assert (await card.v1.payment_intents.retrieve_async(intent_id)).status == "requires_payment_method"
    html = await (await client.get(urlsplit(link).path)).text()
    assert "đã bị huỷ" in html and "data-secret" not in html
