"""A card order on Telegram, whose answers are pushed through the outbox: the payment is started after
the order's turn has committed, and its answer (order placed, pay link) reaches the outbox under the
confirming message's next keys; a failed start is answered there too, and the buyer pays in cash."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.payments import PaymentError, PaymentRequest, PaymentStart
from bots.server import ASSISTANT
from core.models import OutboxMessage
from tests.support.fake_telegram import FakeTelegram
from tests.support.shop import KEM
from tests.support.telegram import fake, message_update, post, tg

__all__ = ["fake", "tg"]  # fixtures, used by name


class Card:
    name = "stripe"
    remote = True

    def __init__(self) -> None:
        self.failing = True

    async def start(self, request: PaymentRequest) -> PaymentStart:
        if self.failing:
            raise PaymentError(self.name, "unavailable", "card network down")
        return PaymentStart(provider=self.name, reference=f"pi_{request.order_code}",
                            pay_url=f"http://127.0.0.1:8080/pay/pi_{request.order_code}")


async def send(client: TestClient, fake: FakeTelegram, *needles: str, **content: Any) -> str:
    """Posts a message, then the text of what was sent for it once every needle is in it."""
    before = len(fake.sent())
    await post(client, message_update(**content))
    async with asyncio.timeout(15):
        while True:
            sent = "\n".join(str(call.params.get("text", "")) for call in fake.sent()[before:])
            if all(needle in sent for needle in needles):
                return sent
            await asyncio.sleep(0.05)


async def test_a_card_order_is_answered_through_the_outbox_after_its_payment_started(
        tg: TestClient, fake: FakeTelegram) -> None:
    card = Card()
    tg.app[ASSISTANT].services.payments.add(card)
    await send(tg, fake, "Giao tới đâu", text="mua 1 cân chè búp")
    await send(tg, fake, "điện thoại", location={"latitude": KEM["lat"], "longitude": KEM["lon"]})
    await send(tg, fake, "thanh toán bằng cách nào", text="0912345678")
    await send(tg, fake, "Đặt hàng", text="thẻ ngân hàng")
    failed = await send(tg, fake, "trục trặc", "thanh toán bằng cách nào", text="đặt hàng")
    assert "DH-" not in failed
    card.failing = False
    await send(tg, fake, "Đặt hàng", text="thẻ ngân hàng")  # the draft asks again how to pay
    placed = await send(tg, fake, "DH-000002", "/pay/pi_DH-000002", text="đặt hàng")
    assert re.search(r"Thanh toán .* bằng thẻ", placed), placed
    async with tg.app[ASSISTANT].database.session() as session:
        keys = list(await session.scalars(select(OutboxMessage.key).order_by(OutboxMessage.id)))
    # Each confirmation's turn answered nothing itself: its step's replies took its first keys.
    confirming = [key for key in keys if key.rsplit(":", 1)[0] == keys[-1].rsplit(":", 1)[0]]
    assert [key.rsplit(":", 1)[1] for key in confirming] == ["0", "1"]
