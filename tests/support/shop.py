"""Helpers for the shop's chat tests: sellers joining with a seller invite, a buyer walking through
an order, reading orders and stock from the database, and the repository's data with a bank account
for VietQR."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.shop.orders import Order, Stock
from backends.shop.sellers import create_seller_invite
from bots.server import ASSISTANT
from core.config import REPO_ROOT
from tests.support.chat import ChatSession, button_data, texts, wait_for_pushes

# Inside Xóm Kèm (data/commune.yml).
KEM = {"lat": 21.675, "lon": 105.59}
BANK = {"bank_bin": "970405", "account_number": "3100205123456", "account_name": "HTX Chè La Bằng",
        "bank_name": "Agribank", "city": "Thái Nguyên"}


async def seller_joins(client: TestClient, seller_id: str) -> ChatSession:
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        code = await create_seller_invite(session, assistant.services.hasher, seller_id, created_by="test")
    seller = await ChatSession.open(client)
    joined = texts(await seller.say(f"/join {code}"))
    assert "người bán" in joined.lower() and "/orders" in joined, joined
    return seller


async def order_until_summary(buyer: ChatSession, text: str, *, payment: str = "cash",
                              phone: str = "0912345678") -> list[dict[str, Any]]:
    """From a free-text order to the summary: location in Xóm Kèm, phone typed, payment chosen."""
    replies = await buyer.say(text)
    assert "request_location" in str(replies) and any(r["request_location"] for r in replies), texts(replies)
    replies = await buyer.send({"location": KEM})
    replies = replies["replies"]
    if any(r["request_phone"] for r in replies):
        replies = await buyer.say(phone)
    assert f"shop:pay:{payment}" in button_data(replies), texts(replies)
    summary = await buyer.press(f"shop:pay:{payment}")
    assert any(d.startswith("shop:confirm:") for d in button_data(summary)), texts(summary)
    return summary


async def order_honey(buyer: ChatSession, hamlet: str, payment: str = "cash",
                      offered: tuple[str, ...] = ("cash",)) -> tuple[str, str, list[dict[str, Any]]]:
    """«mua 2 can mat ong», every answer typed without diacritics, paid by `payment` (the ways to pay
    `offered` checked on the way); the order's code, what the buyer was shown, the last replies."""
    shown = await buyer.say("mua 2 can mat ong")
    assert any(reply["request_location"] for reply in shown), texts(shown)
    shown += await buyer.say(f"xom {hamlet}, nha so 5")
    shown += await buyer.say("0912345678")
    assert button_data(shown[-1:]) == [*(f"shop:pay:{name}" for name in offered), "shop:abort"], texts(shown)
    summary = await buyer.press(f"shop:pay:{payment}")
    confirm = next(data for data in button_data(summary) if data.startswith("shop:confirm:"))
    placed = await buyer.press(confirm)
    shown += summary + placed
    code = re.search(r"DH-\d{6}", texts(placed))
    assert code is not None, texts(placed)
    return code.group(0), texts(shown), placed


def confirm_button(replies: list[dict[str, Any]]) -> str:
    return next(d for d in button_data(replies) if d.startswith("shop:confirm:"))


async def orders(client: TestClient) -> list[Order]:
    async with client.app[ASSISTANT].database.session() as session:
        return list(await session.scalars(select(Order).order_by(Order.id)))


async def stock(client: TestClient, product_id: str) -> int:
    async with client.app[ASSISTANT].database.session() as session:
        return int(await session.scalar(select(Stock.stock_milli).where(Stock.product_id == product_id)) or 0)


async def pushed_with(client: TestClient, chat: ChatSession, *needles: str,
                      within: float = 15.0) -> list[dict[str, Any]]:
    """The chat's pushed messages once every needle is in them (text or button data), or as they are
    at the timeout. The server's own outbox sender may hold a row that a flush then skips (PostgreSQL,
    SKIP LOCKED), so one flush is not enough under load."""
    def ready(found: list[dict[str, Any]]) -> bool:
        seen = texts(found) + " ".join(button_data(found))
        return all(needle in seen for needle in needles)

    return await wait_for_pushes(client.app[ASSISTANT], chat, ready, within)


def data_dir_with_bank(tmp_path: Path) -> Path:
    """The repository's data with La Bằng's commune.yml `payments:` set to a bank account (nothing
    edited: the rest is linked)."""
    data = tmp_path / "data"
    data.mkdir()
    for entry in (REPO_ROOT / "data").iterdir():
        if entry.name != "communes":
            (data / entry.name).symlink_to(entry)
    source = REPO_ROOT / "data" / "communes" / "LB"
    own = data / "communes" / "LB"
    own.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name != "commune.yml":
            (own / entry.name).symlink_to(entry)
    commune = yaml.safe_load((source / "commune.yml").read_text(encoding="utf-8"))
    (own / "commune.yml").write_text(yaml.safe_dump({**commune, "payments": BANK}, allow_unicode=True),
                                     encoding="utf-8")
    return data
