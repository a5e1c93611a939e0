"""How the order flow meets the payment providers (tests/support fakes shaped like `pay`'s Stripe and
VietQR): every offered provider is a button, each kind of start is rendered (QR image with payload,
card link, cash), a failing local provider leaves no order, a settlement by any path marks the order
paid once and tells buyer and seller; cancelling releases the stock and the pending payment. A remote
provider (card) is called after the order's turn has committed: a slow one stalls no one, a failing
one cancels the order and the buyer pays another way, and an order it left starting is cancelled."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from backends.payments import PaymentError, PaymentRequest, PaymentStart, Transfer, ledger
from backends.shop.orders import CANCELLED, NEW, STARTING
from bots.server import ASSISTANT
from bots.services.shop.stuck import STUCK_AFTER, cancel_stuck
from core.config import Settings
from core.models import utcnow
from tests.support.chat import ChatSession, button_data, texts
from tests.support.shop import confirm_button, order_until_summary, orders, pushed_with, seller_joins, stock


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (33, 33), 1).save(out, "PNG")
    return out.getvalue()


class FakeVietQR:
    name = "vietqr"
    remote = False

    async def start(self, request: PaymentRequest) -> PaymentStart:
        payload = f"00020101021238570010A000000727{request.amount_vnd}62{request.order_code}6304ABCD"
        transfer = Transfer("Agribank", "3100205123456", "HTX CHE LA BANG", request.amount_vnd,
                            f"{request.order_code} thanh toan")
        return PaymentStart(provider=self.name, reference=f"vietqr:{request.order_code}", qr_png=_png(),
                            qr_payload=payload, transfer=transfer)


class FakeStripe:
    name = "stripe"
    remote = True  # started after the order's turn has committed

    def __init__(self) -> None:
        self.requests: list[PaymentRequest] = []

    async def start(self, request: PaymentRequest) -> PaymentStart:
        self.requests.append(request)
        return PaymentStart(provider=self.name, reference=f"pi_{request.order_code}",
                            pay_url=f"http://127.0.0.1:8080/pay/{request.order_code}")


class Instant:
    name = "instant"
    remote = True

    async def start(self, request: PaymentRequest) -> PaymentStart:
        return PaymentStart(provider=self.name, reference=f"instant:{request.order_code}", status="succeeded")


class Broken:
    name = "broken"
    remote = False  # refused inside the turn: nothing of the order stays

    async def start(self, request: PaymentRequest) -> PaymentStart:
        raise PaymentError(self.name, "unavailable", "bank down")


class Slow:
    """A card provider whose call takes its time: it answers once the test lets it."""

    name = "slow"
    remote = True

    def __init__(self, fail: bool = False) -> None:
        self.entered, self.release = asyncio.Event(), asyncio.Event()
        self.fail = fail

    async def start(self, request: PaymentRequest) -> PaymentStart:
        self.entered.set()
        await self.release.wait()
        if self.fail:
            raise PaymentError(self.name, "unavailable", "card network down")
        return PaymentStart(provider=self.name, reference=f"slow_{request.order_code}",
                            pay_url=f"http://127.0.0.1:8080/pay/slow_{request.order_code}")


class BrokenCard:
    name = "brokencard"
    remote = True

    async def start(self, request: PaymentRequest) -> PaymentStart:
        raise PaymentError(self.name, "unavailable", "card network down")


@pytest.fixture
def stripe(client: TestClient) -> FakeStripe:
    payments = client.app[ASSISTANT].services.payments
    fake = FakeStripe()
    for provider in (FakeVietQR(), fake, Broken(), Instant()):
        payments.add(provider)
    return fake


async def _place(buyer: ChatSession, text: str, payment: str) -> tuple[str, list[dict]]:  # type: ignore[type-arg]
    placed = await buyer.press(confirm_button(await order_until_summary(buyer, text, payment=payment)))
    return re.search(r"DH-\d{6}", texts(placed)).group(0), placed  # type: ignore[union-attr]


async def test_every_provider_is_offered(client: TestClient, stripe: FakeStripe) -> None:
    buyer = await ChatSession.open(client)
    await buyer.say("mua 1 cân chè búp")
    await buyer.send({"location": {"lat": 21.675, "lon": 105.59}})
    offered = await buyer.say("0912345678")
    wanted = {"shop:pay:cash", "shop:pay:vietqr", "shop:pay:stripe", "shop:pay:broken"}
    assert wanted <= set(button_data(offered))
    assert "Chuyển khoản (VietQR)" in str(offered) and "Thẻ ngân hàng" in str(offered)


async def test_vietqr_shows_the_qr_image_and_the_transfer(client: TestClient, stripe: FakeStripe) -> None:
    seller = await seller_joins(client, "htx_che_la_bang")
    buyer = await ChatSession.open(client)
    code, placed = await _place(buyer, "mua 1 cân chè búp", "vietqr")
    qr = next(r for r in placed if r["image_url"])
    assert code in qr["text"] and "Số tài khoản: 3100205123456" in qr["text"] and "350.000 đ" in qr["text"]
    assert "00020101" not in qr["text"]  # the payload is in the QR, for bank apps; never read to a person
    image = await client.get(qr["image_url"].split("8080", 1)[1])
    assert image.status == 200 and (await image.read()) == _png()
    assert f"seller:paid:{code}" in button_data(await pushed_with(client, seller, f"seller:paid:{code}"))
    assert "Đã ghi nhận" in texts(await seller.press(f"seller:paid:{code}"))
    assert "đã được thanh toán" in texts(await pushed_with(client, buyer, "đã được thanh toán"))


async def test_card_link_and_webhook_settlement_once(client: TestClient, stripe: FakeStripe) -> None:
    seller = await seller_joins(client, "htx_che_la_bang")
    buyer = await ChatSession.open(client)
    code, placed = await _place(buyer, "mua 1 cân chè búp", "stripe")
    assert f"/pay/{code}" in texts(placed)
    link = next(b for r in placed for b in r["buttons"] if b.get("url"))
    assert link["url"] == f"http://127.0.0.1:8080/pay/{code}" and link["data"] == f"shop:view:{code}"
    (request,) = stripe.requests
    assert request.amount_vnd == 350_000 and request.idempotency_key.startswith(f"order:{code}:")
    # a seller cannot confirm a card payment by hand
    assert "thanh toán bằng thẻ" in texts(await seller.press(f"seller:paid:{code}"))
    assistant = client.app[ASSISTANT]
    for _ in range(2):  # what pay's webhook does, delivered twice: one effect
        async with assistant.database.session() as session:
            await ledger.settle(session, assistant.services.payments, f"pi_{code}",
                                confirmed_by="stripe:evt_1", amount_vnd=350_000)
    assert texts(await pushed_with(client, buyer, "đã được thanh toán")).count("đã được thanh toán") == 1
    paid = f"Đơn {code} đã được thanh toán"
    assert texts(await pushed_with(client, seller, paid)).count(paid) == 1
    (order,) = await orders(client)
    assert order.paid_at is not None
    assert "đã thanh toán" in texts(await buyer.say(f"{code} đến đâu rồi"))
    assert "không tự hủy" in texts(await buyer.press(f"shop:cancel:{code}"))


async def test_a_failing_provider_leaves_no_order_and_asks_again(client: TestClient,
                                                                 stripe: FakeStripe) -> None:
    buyer = await ChatSession.open(client)
    before = await stock(client, "tea_bup")
    summary = await order_until_summary(buyer, "mua 1 cân chè búp", payment="broken")
    answer = await buyer.press(confirm_button(summary))
    assert "trục trặc" in texts(answer) and "shop:pay:cash" in button_data(answer)
    assert await orders(client) == [] and await stock(client, "tea_bup") == before
    again = await buyer.press("shop:pay:cash")
    placed = await buyer.press(confirm_button(again))
    assert re.search(r"DH-000001", texts(placed))  # the failed attempt used no code


async def test_a_slow_card_payment_is_started_after_the_commit_and_stalls_no_one(client: TestClient) -> None:
    """While the card provider takes its time, the order waits as STARTING with its stock reserved and
    no seller told, and another villager orders the same product and is answered at once."""
    slow = Slow()
    client.app[ASSISTANT].services.payments.add(slow)
    seller = await seller_joins(client, "htx_che_la_bang")
    before = await stock(client, "tea_bup")
    buyer, other = await ChatSession.open(client), await ChatSession.open(client)
    summary = await order_until_summary(buyer, "mua 1 cân chè búp", payment="slow")
    other_summary = await order_until_summary(other, "mua 2 cân chè búp", payment="cash")
    placing = asyncio.create_task(buyer.press(confirm_button(summary)))
    async with asyncio.timeout(15):
        await slow.entered.wait()
        (starting,) = await orders(client)
        assert starting.status == STARTING and await stock(client, "tea_bup") == before - 1000
        other_placed = await other.press(confirm_button(other_summary))  # the writer lock is free
    assert "DH-000002" in texts(other_placed) and not placing.done()
    assert await stock(client, "tea_bup") == before - 3000
    slow.release.set()
    async with asyncio.timeout(15):
        placed = await placing
    assert "DH-000001" in texts(placed) and "/pay/slow_DH-000001" in texts(placed)
    assert [(o.code, o.status) for o in await orders(client)] == [("DH-000001", NEW), ("DH-000002", NEW)]
    async with client.app[ASSISTANT].database.session() as session:
        assert [p.reference for p in await ledger.payments_of(session, "DH-000001")] == ["slow_DH-000001"]
    news = texts(await pushed_with(client, seller, "DH-000001", "DH-000002"))
    assert news.count("Đơn mới DH-000001") == 1 and news.count("Đơn mới DH-000002") == 1


async def test_a_card_payment_failing_after_the_commit_cancels_the_order_and_offers_cash(
        client: TestClient) -> None:
    client.app[ASSISTANT].services.payments.add(BrokenCard())
    seller = await seller_joins(client, "htx_che_la_bang")
    buyer = await ChatSession.open(client)
    before = await stock(client, "tea_bup")
    summary = await order_until_summary(buyer, "mua 1 cân chè búp", payment="brokencard")
    answer = await buyer.press(confirm_button(summary))
    assert "trục trặc" in texts(answer) and "shop:pay:cash" in button_data(answer), texts(answer)
    (order,) = await orders(client)
    assert order.status == CANCELLED and await stock(client, "tea_bup") == before
    async with client.app[ASSISTANT].database.session() as session:
        assert await ledger.payments_of(session, order.code) == []
    # The draft is back at its payment step: typing the choice works as tapping it.
    again = await buyer.say("tiền mặt")
    placed = await buyer.press(confirm_button(again))
    assert "DH-000002" in texts(placed) and "tiền mặt" in texts(placed), texts(placed)
    assert await stock(client, "tea_bup") == before - 1000
    news = texts(await pushed_with(client, seller, "DH-000002"))
    assert "DH-000002" in news and "DH-000001" not in news  # a seller hears only of orders that stand
    assert "đã hủy" in texts(await buyer.say("DH-000001 đến đâu rồi"))


async def test_an_order_left_starting_is_cancelled_by_the_shop_task(client: TestClient) -> None:
    """Its step never finished (the process died): the task cancels it well after any provider's
    timeout, the stock goes back and the buyer is told; a start finishing after that records nothing
    that could take money."""
    slow = Slow()
    assistant = client.app[ASSISTANT]
    assistant.services.payments.add(slow)
    seller = await seller_joins(client, "htx_che_la_bang")
    buyer = await ChatSession.open(client)
    before = await stock(client, "tea_bup")
    summary = await order_until_summary(buyer, "mua 1 cân chè búp", payment="slow")
    placing = asyncio.create_task(buyer.press(confirm_button(summary)))
    async with asyncio.timeout(15):
        await slow.entered.wait()
    shop = assistant.kit.products
    assert await cancel_stuck(assistant.database, assistant.services, shop) == []  # not late yet
    later = utcnow() + STUCK_AFTER + dt.timedelta(seconds=1)
    assert await cancel_stuck(assistant.database, assistant.services, shop, now=later) == ["DH-000001"]
    (order,) = await orders(client)
    assert order.status == CANCELLED and await stock(client, "tea_bup") == before
    told = texts(await pushed_with(client, buyer, "chưa đặt được"))
    assert "DH-000001" in told and "chưa bị trừ tiền" in told
    slow.release.set()
    async with asyncio.timeout(15):
        assert await placing == []
    async with assistant.database.session() as session:
        assert [p.status for p in await ledger.payments_of(session, "DH-000001")] == ["cancelled"]
    assert (await orders(client))[0].status == CANCELLED and await stock(client, "tea_bup") == before
    assert "DH-000001" not in texts(await pushed_with(client, seller, "DH-000001", within=1))


async def test_a_payment_succeeding_at_start_is_settled_with_the_order(client: TestClient,
                                                                       stripe: FakeStripe) -> None:
    buyer = await ChatSession.open(client)
    code, placed = await _place(buyer, "mua 1 cân chè búp", "instant")
    assert "đã được thanh toán" in texts(placed)
    (order,) = await orders(client)
    assert order.paid_at is not None
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        assert [p.status for p in await ledger.payments_of(session, code)] == ["succeeded"]


async def test_buyer_cancels_releases_stock_and_payment(client: TestClient) -> None:
    seller = await seller_joins(client, "htx_che_la_bang")
    buyer = await ChatSession.open(client)
    before = await stock(client, "tea_bup")
    code, placed = await _place(buyer, "mua 2 cân chè búp", "cash")
    assert f"shop:cancel:{code}" in button_data(placed)
    assert await stock(client, "tea_bup") == before - 2000
    assert "Đã hủy đơn" in texts(await buyer.press(f"shop:cancel:{code}"))
    assert await stock(client, "tea_bup") == before
    assert "không hủy được" in texts(await buyer.press(f"shop:cancel:{code}"))
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        assert [p.status for p in await ledger.payments_of(session, code)] == ["cancelled"]
    assert "hủy đơn" in texts(await pushed_with(client, seller, "hủy đơn"))
    assert "không có khoản" in texts(await seller.press(f"seller:paid:{code}"))
    # someone else's order cannot be cancelled or read
    other = await ChatSession.open(client)
    assert "Không tìm thấy" in texts(await other.press(f"shop:cancel:{code}"))
    assert "Không tìm thấy" in texts(await other.say(f"{code} đến đâu rồi"))


async def test_double_confirmation_makes_one_order(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    summary = await order_until_summary(buyer, "mua 1 cân chè búp")
    button = confirm_button(summary)
    await buyer.press(button)
    again = await buyer.press(button)
    assert "không còn" in texts(again)
    assert len(await orders(client)) == 1


def test_link_buttons_survive_json_and_render_as_telegram_url_buttons() -> None:
    from bots.telegram.render import inline_keyboard
    from core.messages import Button, Reply

    pay_button = Button("Pay", "shop:view:DH-000001", url="https://pay.example/x")
    reply = Reply("pay", (pay_button, Button("No", "n")))
    shown = reply.to_json()
    assert shown["buttons"] == [{"label": "Pay", "data": "shop:view:DH-000001", "url": "https://pay.example/x"},
                                {"label": "No", "data": "n"}]
    assert Reply.from_json(shown) == reply
    keyboard = inline_keyboard([("Pay", "https://pay.example/x"), ("No", "n~tag")])
    (pay,), (no,) = keyboard.inline_keyboard
    assert pay.url == "https://pay.example/x" and pay.callback_data is None and no.callback_data == "n~tag"
