"""No overselling: 50 buyers confirming at once for the last 10 units get exactly 10 orders, through
the web chat API and directly against the stock table, on whichever database the tests run on."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from backends.payments.ledger import Payment
from backends.shop.catalogue import load_shop
from backends.shop.orders import Order, reserve, seed_stock, stock_of
from bots.server import ASSISTANT
from core.config import REPO_ROOT, Settings
from core.db import Database
from tests.support.chat import ChatSession, texts
from tests.support.shop import confirm_button, orders, stock

BUYERS = 50


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200,
                                       "web_sessions_burst": 200, "web_sessions_per_minute": 600})


async def test_fifty_reservations_for_ten_units(database: Database) -> None:
    shop = load_shop(REPO_ROOT / "data" / "communes" / "LB" / "products.yml")
    async with database.session() as session:
        await seed_stock(session, shop)
        assert await stock_of(session, "shiitake") == 10_000  # 10 kg

    async def one() -> bool:
        async with database.session() as session:
            return await reserve(session, "shiitake", 1_000)

    results = await asyncio.gather(*(one() for _ in range(BUYERS)))
    assert results.count(True) == 10
    async with database.session() as session:
        assert await stock_of(session, "shiitake") == 0
        assert not await reserve(session, "shiitake", 100)
        with pytest.raises(ValueError):
            await reserve(session, "shiitake", 0)


async def _to_summary(client: TestClient) -> tuple[ChatSession, str]:
    buyer = await ChatSession.open(client)
    await buyer.say("mua 1 cân nấm hương")
    await buyer.send({"location": {"lat": 21.675, "lon": 105.59}})
    await buyer.say("0912345678")
    return buyer, confirm_button(await buyer.press("shop:pay:cash"))


async def test_fifty_buyers_confirm_at_once_for_the_last_ten_kilos(client: TestClient) -> None:
    ready = [await _to_summary(client) for _ in range(BUYERS)]
    answers = await asyncio.gather(*(buyer.press(button) for buyer, button in ready))
    placed = [re.search(r"DH-\d{6}", texts(a)) for a in answers]
    won = [m.group(0) for m in placed if m]
    assert len(won) == 10 and len(set(won)) == 10
    lost = [texts(a) for a, m in zip(answers, placed, strict=True) if not m]
    assert len(lost) == 40 and all("hết hàng" in t or "chỉ còn" in t for t in lost), lost[:3]
    assert await stock(client, "shiitake") == 0
    made = await orders(client)
    assert sorted(o.code for o in made) == sorted(won)
    async with client.app[ASSISTANT].database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 10
        assert await session.scalar(select(func.sum(Order.quantity_milli))) == 10_000
