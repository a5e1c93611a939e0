"""The shop of a province's installation (XASO_COMMUNES=LB,SM): each commune has its own catalogue,
orders, sellers and staff. A villager orders their commune's products (typed without diacritics); a
seller, an administrator or a staff member of Sảng Mộc lists and moves Sảng Mộc's orders only, and an
order code of La Bằng reads as one that does not exist, by command and by button; a settled payment
is told in the order's commune's words, whichever commune's payments settled it; each commune's
background task cancels its own orders only."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import stripe
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from backends.payments import PaymentStart, ledger
from backends.shop.catalogue import MILLI
from backends.shop.orders import STARTING, Delivery, Order, Stock, create_order
from backends.shop.sellers import create_seller_invite
from bots.assistant import Assistant
from bots.server import ASSISTANT
from bots.services.shop.stuck import STUCK_AFTER, cancel_stuck
from core.config import REPO_ROOT, Settings
from core.db import Database
from core.identity import create_invite
from core.models import utcnow
from core.security import sign_stripe_payload
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, pushed_now, texts
from tests.support.communes import PROVINCE, villager_in
from tests.support.localstripe import localstripe_url
from tests.support.shop import BANK, data_dir_with_bank, order_honey, pushed_with
from tests.support.stripe_payments import (
    API_KEY,
    GOOD_CARD,
    PUBLISHABLE_KEY,
    pay_by_card,
    served_with_webhook,
)

__all__ = ["localstripe_url"]  # the session fixture, used by name below

WEBHOOK_SECRET = "whsec_test_communes"
SM_HONEY, LB_HONEY = "Mật ong rừng Sảng Mộc", "Mật ong rừng nguyên chất"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={**PROVINCE, "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET)})


def _assistant(client: TestClient) -> Assistant:
    return client.app[ASSISTANT]


async def joins(client: TestClient, commune: str, role: str, seller: str | None = None) -> ChatSession:
    """Someone of `commune` joining with an invite for it (a seller invite tied to `seller`)."""
    assistant = _assistant(client)
    async with assistant.database.session() as session:
        if seller is not None:
            code = await create_seller_invite(session, assistant.services.hasher, seller, created_by="test",
                                              commune=commune)
        else:
            code = await create_invite(session, assistant.services.hasher, role, created_by="test",
                                       commune=commune)
    chat = await villager_in(client, commune)
    await chat.say(f"/join {code}")
    return chat


async def orders_by_code(client: TestClient) -> dict[str, Order]:
    async with _assistant(client).database.session() as session:
        return {order.code: order for order in await session.scalars(select(Order))}


async def test_each_villager_orders_their_own_communes_products(client: TestClient) -> None:
    lb_staff = await joins(client, "LB", "staff")
    sm_staff = await joins(client, "SM", "staff")
    lb_buyer, sm_buyer = await villager_in(client, "LB"), await villager_in(client, "SM")

    lb_code, lb_shown, _ = await order_honey(lb_buyer, "kem")
    sm_code, sm_shown, _ = await order_honey(sm_buyer, "lang muoi")
    # Each saw its own commune's honey, price, hamlet and free delivery rule, never the other's.
    assert SM_HONEY in sm_shown and "450.000 đ" in sm_shown and "900.000 đ" in sm_shown
    assert "Xóm Làng Mười" in sm_shown and "miễn phí" in sm_shown.lower()
    assert LB_HONEY not in sm_shown and "400.000 đ" not in sm_shown and "Xóm Kèm" not in sm_shown
    assert LB_HONEY in lb_shown and "800.000 đ" in lb_shown and "Xóm Kèm" in lb_shown
    assert SM_HONEY not in lb_shown and "450.000 đ" not in lb_shown
    browse = texts(await sm_buyer.press("shop:browse"))
    assert "Xã Sảng Mộc" in browse and "La Bằng" not in browse
    stored = await orders_by_code(client)
    assert {(o.code, o.commune, o.product_id, o.seller_id) for o in stored.values()} == {
        (lb_code, "LB", "honey", "tht_mat_ong_rung_van"),
        (sm_code, "SM", "sm_honey_forest", "htx_mat_ong_sang_moc")}
    # Neither seller is on xaso: each commune's staff alone hear of its order.
    sm_told, lb_told = texts(await pushed_now(client, sm_staff)), texts(await pushed_now(client, lb_staff))
    assert sm_code in sm_told and SM_HONEY in sm_told and lb_code not in sm_told
    assert lb_code in lb_told and LB_HONEY in lb_told and sm_code not in lb_told
    # Another commune's product id, on a button or typed, is as unknown as one that does not exist.
    unknown = texts(await sm_buyer.press("shop:buy:khong_co"))
    assert texts(await sm_buyer.press("shop:buy:honey")) == unknown and LB_HONEY not in unknown
    picked = texts(await sm_buyer.press("shop:pick:honey_longan"))
    assert picked == texts(await sm_buyer.press("shop:pick:khong")) and "nhãn" not in picked
    typed = texts(await sm_buyer.say("mua tea_bup"))
    assert "chưa bán «mua tea_bup»" in typed and "Chè" not in typed and "350.000" not in typed
    # Every commune's products have their stock (each commune's on_start ran).
    async with _assistant(client).database.session() as session:
        seeded = dict((await session.execute(select(Stock.product_id, Stock.stock_milli))).all())
    assert {"sm_honey_forest", "sm_honey_bottle", "sm_rice_bao_thai", "sm_rice_nep",
            "sm_bamboo_shoots", "honey", "tea_bup"} <= set(seeded)
    lb_products = _assistant(client).communes["LB"].kit.products
    assert lb_products is not None
    assert seeded["sm_honey_forest"] == 28_000  # 30 kg, 2 sold
    assert seeded["honey"] == int(lb_products.products["honey"].stock * MILLI) - 2_000


async def test_sellers_admins_staff_and_buyers_act_only_in_their_commune(client: TestClient) -> None:
    lb_buyer, sm_buyer = await villager_in(client, "LB"), await villager_in(client, "SM")
    lb_code, _, _ = await order_honey(lb_buyer, "kem")
    sm_code, _, _ = await order_honey(sm_buyer, "lang muoi")
    sm_seller = await joins(client, "SM", "seller", seller="htx_mat_ong_sang_moc")
    lb_seller = await joins(client, "LB", "seller", seller="tht_mat_ong_rung_van")
    sm_admin = await joins(client, "SM", "admin")
    sm_staff = await joins(client, "SM", "staff")

    for chat, own, other in ((sm_seller, sm_code, lb_code), (sm_admin, sm_code, lb_code),
                             (lb_seller, lb_code, sm_code)):
        listed = texts(await chat.say("/orders"))
        assert own in listed and other not in listed, listed
        assert "📋 1 đơn đang chờ" in listed, listed  # exactly its own
    # La Bằng's code from Sảng Mộc: "not found", by command and by button, for every role.
    not_found = f"Không có đơn {lb_code}"
    assert not_found in texts(await sm_seller.say(f"/ship {lb_code}"))
    assert not_found in texts(await sm_admin.say(f"/ship {lb_code}"))
    for action in ("ship", "deliver", "paid"):
        assert not_found in texts(await sm_seller.press(f"seller:{action}:{lb_code}")), action
        assert not_found in texts(await sm_admin.press(f"seller:{action}:{lb_code}")), action
    assert not_found in texts(await sm_staff.say(f"/paid {lb_code}"))
    # Their own commune's order moves as before.
    assert "đang giao" in texts(await sm_seller.say(f"/ship {sm_code}"))
    assert sm_code in texts(await sm_staff.say(f"/paid {sm_code}"))
    stored = await orders_by_code(client)
    assert (stored[lb_code].status, stored[lb_code].paid_at) == ("new", None)
    assert stored[sm_code].status == "shipped" and stored[sm_code].paid_at is not None

    # A La Bằng buyer who moves to Sảng Mộc finds their La Bằng order no more.
    assert lb_code in texts(await lb_buyer.say(f"{lb_code} den dau roi"))
    await lb_buyer.say("/xa")
    assert "Xã Sảng Mộc" in texts(await lb_buyer.press("commune:set:SM"))
    gone = texts(await lb_buyer.say(f"{lb_code} den dau roi"))
    assert f"Không tìm thấy đơn {lb_code}" in gone and LB_HONEY not in gone
    assert f"Không tìm thấy đơn {lb_code}" in texts(await lb_buyer.press(f"shop:view:{lb_code}"))
    assert f"Không tìm thấy đơn {lb_code}" in texts(await lb_buyer.press(f"shop:cancel:{lb_code}"))
    mine = texts(await lb_buyer.press("shop:mine"))
    assert lb_code not in mine
    assert (await orders_by_code(client))[lb_code].status == "new"  # not cancelled from Sảng Mộc


def _succeeded(event_id: str, intent_id: str, amount: int) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
                       "created": int(time.time()), "data": {"object": {
                           "id": intent_id, "object": "payment_intent", "amount": amount,
                           "amount_received": amount, "currency": "vnd", "status": "succeeded"}}}).encode()


async def test_a_paid_notice_names_the_orders_commune_and_product(client: TestClient) -> None:
    assistant = _assistant(client)
    lb_buyer, sm_buyer = await villager_in(client, "LB"), await villager_in(client, "SM")
    sm_seller = await joins(client, "SM", "seller", seller="htx_mat_ong_sang_moc")
    sm_code, _, _ = await order_honey(sm_buyer, "lang muoi")
    lb_code, _, _ = await order_honey(lb_buyer, "kem")
    seen = len(await pushed_now(client, sm_buyer))
    # Settled with the home commune's (La Bằng's) payments: still told in Sảng Mộc's words.
    async with assistant.database.session() as session:
        assert await ledger.settle(session, assistant.services.payments, f"cash:{sm_code}",
                                   confirmed_by="test") is not None
    told = texts(await pushed_now(client, sm_buyer, seen))
    assert f"Đơn {sm_code} đã được thanh toán" in told and SM_HONEY in told and "Xã Sảng Mộc" in told
    assert "La Bằng" not in told and LB_HONEY not in told
    seller_told = texts(await pushed_now(client, sm_seller))
    assert f"Đơn {sm_code} đã được thanh toán" in seller_told and SM_HONEY in seller_told
    assert lb_code not in seller_told

    # A card payment of a Sảng Mộc order, settled by Stripe's webhook (one endpoint for every commune).
    second, _, _ = await order_honey(sm_buyer, "lang muoi")
    total = (await orders_by_code(client))[second].total_vnd
    async with assistant.database.session() as session:
        await ledger.record(session, second, total, PaymentStart(provider="stripe", reference="pi_smtest1"),
                            "SM")
    seen = len(await pushed_now(client, sm_buyer))
    body = _succeeded("evt_smtest1", "pi_smtest1", total)
    answer = await client.post("/stripe/webhook", data=body, headers={
        "Stripe-Signature": sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time())),
        "Content-Type": "application/json"})
    assert answer.status == 200 and (await answer.json()) == {"status": "settled"}
    told = texts(await pushed_now(client, sm_buyer, seen))
    assert f"Đơn {second} đã được thanh toán" in told and SM_HONEY in told and "Xã Sảng Mộc" in told
    assert "La Bằng" not in told
    assert texts(await pushed_now(client, lb_buyer)).count("đã được thanh toán") == 0


async def test_each_communes_task_cancels_only_its_own_stuck_orders(client: TestClient) -> None:
    assistant = _assistant(client)
    sm, lb = assistant.communes["SM"], assistant.communes["LB"]
    async with assistant.database.session() as session:
        for code, commune, product, seller in (
                ("DH-900001", "LB", "honey", "tht_mat_ong_rung_van"),
                ("DH-900002", "SM", "sm_honey_forest", "htx_mat_ong_sang_moc")):
            await create_order(session, assistant.services.cipher, code=code, request_key=code, user_id=None,
                               product_id=product, seller_id=seller, quantity_milli=1000, unit="kg",
                               unit_price=1, subtotal=1, shipping=0, provider="stripe",
                               delivery=Delivery("", None, None, None), status=STARTING, commune=commune)
    later = utcnow() + STUCK_AFTER + dt.timedelta(minutes=1)
    assert sm.kit.products is not None and lb.kit.products is not None
    assert await cancel_stuck(assistant.database, sm.services, sm.kit.products, now=later) == ["DH-900002"]
    stored = await orders_by_code(client)
    assert (stored["DH-900001"].status, stored["DH-900002"].status) == (STARTING, "cancelled")
    assert await cancel_stuck(assistant.database, lb.services, lb.kit.products, now=later) == ["DH-900001"]


@pytest.fixture
def card_settings(settings: Settings, localstripe_url: str, tmp_path: Path) -> Settings:
    """Cards through localstripe for both communes; a bank account (VietQR) for La Bằng only."""
    data = data_dir_with_bank(tmp_path)
    (data / "communes" / "SM").symlink_to(REPO_ROOT / "data" / "communes" / "SM")
    return settings.model_copy(update={"data_dir": data, "stripe_api_key": SecretStr(API_KEY),
                                       "stripe_api_base": localstripe_url,
                                       "stripe_publishable_key": PUBLISHABLE_KEY})


@pytest.fixture
async def card_client(card_settings: Settings, database: Database, nlu_engine: NLUEngine,
                      localstripe_url: str) -> AsyncIterator[TestClient]:
    async with served_with_webhook(card_settings, database, nlu_engine, localstripe_url) as test_client:
        yield test_client


async def test_a_sang_moc_card_payment_names_sang_moc_on_its_page_and_in_its_notice(
        card_client: TestClient, localstripe_url: str) -> None:
    client = card_client
    lb_buyer, sm_buyer = await villager_in(client, "LB"), await villager_in(client, "SM")
    # La Bằng's bank account is La Bằng's: its villagers may transfer, Sảng Mộc's are not offered it.
    _, lb_shown, _ = await order_honey(lb_buyer, "kem", "vietqr", ("vietqr", "stripe", "cash"))
    assert BANK["account_number"] in lb_shown
    sm_code, sm_shown, placed = await order_honey(sm_buyer, "lang muoi", "stripe", ("stripe", "cash"))
    assert BANK["account_number"] not in sm_shown
    link = next(button["url"] for reply in placed for button in reply["buttons"] if button.get("url"))
    page = await client.get(urlsplit(link).path)
    html = await page.text()
    assert page.status == 200 and sm_code in html and "900.000 ₫" in html
    assert "Xã Sảng Mộc" in html and "La Bằng" not in html
    async with client.app[ASSISTANT].database.session() as session:
        (payment,) = await ledger.payments_of(session, sm_code)
    http = stripe.AIOHTTPClient()
    try:
        card = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe_url}, http_client=http)
        await pay_by_card(card, payment.reference, GOOD_CARD)  # localstripe posts the event to us
    finally:
        await http.close_async()
    told = texts(await pushed_with(client, sm_buyer, f"Đơn {sm_code} đã được thanh toán"))
    assert f"Đơn {sm_code} đã được thanh toán" in told and SM_HONEY in told and "Xã Sảng Mộc" in told
    assert "La Bằng" not in told
