"""The shop through the real web chat API: browse, order in words, pay cash, the seller ships and
delivers and collects the cash, the buyer follows every step."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from backends.payments import ledger
from bots.server import ASSISTANT
from core.config import Settings
from tests.support.chat import ChatSession, button_data, texts
from tests.support.shop import confirm_button, order_until_summary, orders, pushed_with, seller_joins, stock


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def test_browse_categories_products_with_prices_and_photos(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    shown = await buyer.say("xã có bán đặc sản gì")
    assert "shop:cat:tea" in button_data(shown), texts(shown)
    cards = await buyer.press("shop:cat:tea")
    assert "Chè Tân Cương đặc biệt" in texts(cards) and "600.000 đ/kg" in texts(cards)
    assert "shop:buy:tea_tan_cuong" in button_data(cards)
    photo = next(r["image_url"] for r in cards if r["image_url"])
    response = await client.get(photo.split("8080", 1)[1])
    assert response.status == 200 and response.content_type == "image/png"
    assert (await response.read())[:8] == b"\x89PNG\r\n\x1a\n"
    assert (await client.get("/shop/photos/..%2Fcommune.yml")).status == 404


async def test_whole_purchase_cash_seller_ships_delivers_collects(client: TestClient) -> None:
    seller = await seller_joins(client, "htx_che_la_bang")
    buyer = await ChatSession.open(client)
    before = await stock(client, "tea_tan_cuong")
    summary = await order_until_summary(buyer, "mua 2 cân chè Tân Cương")
    assert "1.200.000 đ" in texts(summary) and "miễn phí" in texts(summary)  # free delivery in the commune
    assert "Xóm Kèm" in texts(summary) and "7PH7" in texts(summary)
    placed = await buyer.press(confirm_button(summary))
    code = re.search(r"DH-\d{6}", texts(placed)).group(0)  # type: ignore[union-attr]
    assert "tiền mặt" in texts(placed)
    assert await stock(client, "tea_tan_cuong") == before - 2000
    # the seller hears of it at once, with the delivery address and the buttons
    news = await pushed_with(client, seller, f"seller:ship:{code}")
    assert code in texts(news) and "0912345678" in texts(news) and f"seller:ship:{code}" in button_data(news)
    listed = await seller.say("/orders")
    assert code in texts(listed)
    assert "đang giao" in texts(await seller.say(f"/ship {code}"))
    assert "đang được giao" in texts(await pushed_with(client, buyer, "đang được giao"))
    assert "đã giao" in texts(await seller.press(f"seller:deliver:{code}"))
    assert "đã ghi nhận thanh toán" in texts(await seller.press(f"seller:paid:{code}")).lower()
    pushed = texts(await pushed_with(client, buyer, "đã giao xong", "đã được thanh toán"))
    assert "đã giao xong" in pushed and "đã được thanh toán" in pushed
    status = texts(await buyer.say(f"{code} đến đâu rồi"))
    assert "đã giao" in status and "đã thanh toán" in status
    # paid exactly once: a second confirmation changes nothing
    assert "không có khoản" in texts(await seller.press(f"seller:paid:{code}"))
    async with client.app[ASSISTANT].database.session() as session:
        payments = await ledger.payments_of(session, code)
    assert [p.status for p in payments] == ["succeeded"]
    (order,) = await orders(client)
    assert order.status == "delivered" and order.paid_at is not None and order.total_vnd == 1_200_000


async def test_my_orders_and_product_questions(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    assert "chưa có đơn" in texts(await buyer.say("đơn của tôi"))
    card = await buyer.say("giá chè tân cương bao nhiêu")
    assert "600.000 đ/kg" in texts(card) and "shop:buy:tea_tan_cuong" in button_data(card)
    assert card[0]["image_url"].endswith("/shop/photos/tea_tan_cuong.png")
    summary = await order_until_summary(buyer, "mua 1 hộp quà chè")
    placed = texts(await buyer.press(confirm_button(summary)))
    code = re.search(r"DH-\d{6}", placed).group(0)  # type: ignore[union-attr]
    mine = await buyer.say("đơn hàng của tôi đâu")
    assert code in texts(mine) and f"shop:view:{code}" in button_data(mine)
    assert "Không tìm thấy đơn DH-999999" in texts(await buyer.say("DH-999999 đến đâu rồi"))
    english = await ChatSession.open(client, language="en")
    assert "No order" in texts(await english.say(f"where is my order {code}"))
