"""The shop and the villager's own data: address codes from a shared location (sealed at rest),
/mydata exporting orders, erasure keeping the order as a commercial record without address or phone;
`xaso invite seller --seller ID` run for real."""

from __future__ import annotations

import json
import re

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text

from backends.addresses.store import AddressCode
from backends.shop.sellers import SellerAccount
from bots.server import ASSISTANT
from core.config import Settings
from core.crypto import Hasher
from core.db import Database
from core.identity import redeem_invite, resolve_user
from tests.support.chat import ChatSession, button_data, texts
from tests.support.cli import SECRET, Xaso, explain
from tests.support.shop import confirm_button, order_until_summary, orders


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def test_address_code_from_a_shared_location(client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    asked = await villager.say("mã địa chỉ của tôi là gì")
    assert any(r["request_location"] for r in asked) and "Gửi vị trí" in texts(asked)
    answer = texts((await villager.send({"location": {"lat": 21.6615, "lon": 105.59}}))["replies"])
    assert "7PH7MH6R+J2" in answer and "Xóm Kèm" in answer
    assert "7PH7MH6R+J2" in texts(await villager.say("ma dia chi cua toi"))
    outside = texts((await villager.send({"location": {"lat": 21.0285, "lon": 105.8542}}))["replies"])
    assert "7PH7222" not in outside and "ngoài các xóm" in outside
    async with database.session() as session:
        sealed = (await session.execute(text("SELECT code_enc FROM address_codes"))).scalar_one()
    assert "7PH" not in sealed  # stored sealed
    # the saved code is offered when ordering
    await villager.send({"location": {"lat": 21.6615, "lon": 105.59}})
    offered = await villager.say("mua 1 cân chè búp")
    assert "shop:saved" in button_data(offered)
    assert "request_phone" in str(await villager.press("shop:saved"))


async def test_mydata_exports_orders_and_erasure_keeps_the_record(client: TestClient,
                                                                  database: Database) -> None:
    buyer = await ChatSession.open(client)
    summary = await order_until_summary(buyer, "mua 1 cân chè búp")
    code = re.search(r"DH-\d{6}", texts(await buyer.press(confirm_button(summary)))).group(0)  # type: ignore[union-attr]
    async with database.session() as session:
        row = (await session.execute(text("SELECT address_code_enc, phone_enc FROM shop_orders"))).one()
    assert "7PH7" not in row[0] and "0912345678" not in row[1]  # sealed at rest
    (export,) = await buyer.press("mydata:export")
    document = json.loads(await (await client.get(export["document_url"].split("8080", 1)[1])).read())
    (mine,) = document["orders"]
    assert mine["code"] == code and mine["phone"] == "0912345678" and mine["address_code"].startswith("7PH7")
    assert document["address_code"]["hamlet_id"] == "kem"
    await buyer.press("mydata:delete-confirm")
    (order,) = await orders(client)
    assert order.code == code and order.total_vnd == 350_000 and order.user_id is None
    assert order.address_enc is None and order.address_code_enc is None and order.phone_enc is None
    async with database.session() as session:
        assert (await session.execute(select(AddressCode))).first() is None


async def test_cli_invite_seller_ties_the_invite_to_a_seller(tmp_path, database: Database) -> None:  # type: ignore[no-untyped-def]
    xaso = Xaso.make(tmp_path, database.url, tmp_path / "var")
    refused = xaso("invite", "seller", "--seller", "nobody")
    assert refused.returncode == 2 and "htx_che_la_bang" in refused.stderr
    assert xaso("invite", "staff", "--seller", "htx_che_la_bang").returncode == 2
    done = xaso("invite", "seller", "--seller", "htx_che_la_bang")
    assert done.returncode == 0, explain(done)
    code = done.stdout.rstrip("\n").split("\n")[-1]
    assert "HTX Chè La Bằng" in done.stdout and not re.search(r"\s", code)
    hasher = Hasher(SECRET.encode())
    async with database.session() as session:
        user = await resolve_user(session, "web", "seller-1")
        assert (await redeem_invite(session, hasher, code, user.id)).role == "seller"
    from backends.shop.sellers import link_after_join

    async with database.session() as session:
        assert await link_after_join(session, hasher, code, user.id) == "htx_che_la_bang"
        assert await link_after_join(session, hasher, code, user.id) is None  # used once
    async with database.session() as session:
        account = await session.get(SellerAccount, user.id)
    assert account is not None and account.seller_id == "htx_che_la_bang"


async def test_stock_is_seeded_once_and_not_reset_on_restart(client: TestClient) -> None:
    from backends.shop.orders import seed_stock, stock_of

    assistant = client.app[ASSISTANT]
    shop = assistant.kit.products
    async with assistant.database.session() as session:
        assert await stock_of(session, "honey") == 20_000
        await session.execute(text("UPDATE shop_stock SET stock_milli = 1500 WHERE product_id = 'honey'"))
    async with assistant.database.session() as session:
        assert await seed_stock(session, shop) == 0
        assert await stock_of(session, "honey") == 1500
