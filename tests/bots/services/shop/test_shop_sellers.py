"""Sellers and roles: seller invites tie an account to one seller; a citizen cannot /orders, /ship or
/paid and forged `seller:` buttons are refused by core; a seller sees and moves only its own orders;
staff confirm a transfer with /paid; every decision audited."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from core.config import Settings
from core.db import Database
from tests.support.audit import audit_rows
from tests.support.chat import ChatSession, button_data, texts
from tests.support.roles import invite
from tests.support.shop import confirm_button, order_until_summary, pushed_with, seller_joins


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def _place(buyer: ChatSession, text: str) -> str:
    placed = await buyer.press(confirm_button(await order_until_summary(buyer, text)))
    return re.search(r"DH-\d{6}", texts(placed)).group(0)  # type: ignore[union-attr]


async def test_citizen_cannot_use_seller_commands_or_forged_buttons(client: TestClient,
                                                                    database: Database) -> None:
    buyer = await ChatSession.open(client)
    code = await _place(buyer, "mua 1 cân chè búp")
    for attempt in ("/orders", f"/ship {code}", f"/paid {code}"):
        assert "không có quyền" in texts(await buyer.say(attempt)), attempt
    for forged in (f"seller:ship:{code}", f"seller:paid:{code}", f"seller:deliver:{code}", "seller:orders"):
        assert "không có quyền" in texts(await buyer.press(forged)), forged
    status = texts(await buyer.say(f"{code} đến đâu rồi"))
    assert "chờ giao" in status and "chưa thanh toán" in status
    denied = {row.subject for row in await audit_rows(database, "authorize") if row.outcome == "deny"}
    assert denied == {"/orders", "/ship", "/paid", "button:seller"}


async def test_a_seller_sees_and_moves_only_its_own_orders(client: TestClient, database: Database) -> None:
    tea = await seller_joins(client, "htx_che_la_bang")
    honey = await seller_joins(client, "tht_mat_ong_rung_van")
    buyer = await ChatSession.open(client)
    tea_order = await _place(buyer, "mua 1 cân chè búp")
    honey_order = await _place(buyer, "mua 1 cân mật ong")
    assert tea_order in texts(await tea.say("/orders")) and honey_order not in texts(await tea.say("/orders"))
    assert honey_order in texts(await honey.say("/orders"))
    assert tea_order not in texts(await pushed_with(client, honey, honey_order))
    # the other seller's order is as absent as a missing one, by command and by button
    assert "Không có đơn" in texts(await tea.say(f"/ship {honey_order}"))
    assert "Không có đơn" in texts(await tea.press(f"seller:paid:{honey_order}"))
    assert "Không có đơn" in texts(await tea.press(f"seller:deliver:{honey_order}"))
    assert "đang giao" in texts(await honey.say(f"/ship {honey_order.lower()}"))
    assert "không chuyển được" in texts(await honey.say(f"/ship {honey_order}"))  # twice: refused
    assert "Dùng: /ship" in texts(await honey.say("/ship"))
    refused = [r for r in await audit_rows(database, "shop.shipped") if r.outcome != "ok"]
    assert {r.outcome for r in refused} == {"not_found", "refused"}


async def test_a_seller_role_without_a_seller_is_told_to_get_a_seller_invite(client: TestClient) -> None:
    plain = await ChatSession.open(client)
    await plain.say(f"/join {await invite(client, 'seller')}")
    assert "chưa gắn" in texts(await plain.say("/orders"))
    assert "chưa gắn" in texts(await plain.say("/ship DH-000001"))


async def test_admin_makes_seller_invites_in_chat(client: TestClient) -> None:
    admin = await ChatSession.open(client)
    await admin.say(f"/join {await invite(client, 'admin')}")
    assert "htx_che_la_bang" in texts(await admin.say("/invite seller khong_co"))
    made = texts(await admin.say("/invite seller ho_nguyen_thi_hoa"))
    code = re.search(r"/join (\S+)", made).group(1)  # type: ignore[union-attr]
    seller = await ChatSession.open(client)
    assert "Hộ bà Nguyễn Thị Hoa" in texts(await seller.say(f"/join {code}"))
    assert "Không có đơn nào" in texts(await seller.say("/orders"))
    assert "cán bộ" in texts(await (await ChatSession.open(client)).say(
        f"/join {re.search(r'[0-9A-F-]{20}', texts(await admin.say('/invite staff'))).group(0)}"))  # type: ignore[union-attr]


async def test_vietqr_like_transfer_confirmed_by_staff_with_paid(client: TestClient) -> None:
    """Staff (not a seller) confirm a transfer for any order; the buyer and the seller hear of it."""
    seller = await seller_joins(client, "htx_che_la_bang")
    staff = await ChatSession.open(client)
    await staff.say(f"/join {await invite(client, 'staff')}")
    buyer = await ChatSession.open(client)
    code = await _place(buyer, "mua 1 cân chè búp")
    assert "Dùng: /paid" in texts(await staff.say("/paid"))
    assert "Đã ghi nhận thanh toán" in texts(await staff.say(f"/paid {code}"))
    assert "không có khoản" in texts(await staff.say(f"/paid {code}"))
    assert "đã được thanh toán" in texts(await pushed_with(client, buyer, "đã được thanh toán"))
    paid = f"Đơn {code} đã được thanh toán"
    assert paid in texts(await pushed_with(client, seller, paid))
    assert "không có quyền" in texts(await staff.say(f"/ship {code}"))  # shipping stays the seller's


async def test_seller_buttons_on_new_order_notice(client: TestClient) -> None:
    seller = await seller_joins(client, "ho_nguyen_thi_hoa")
    buyer = await ChatSession.open(client)
    code = await _place(buyer, "mua 1 cân măng khô")
    notice = await pushed_with(client, seller, f"seller:paid:{code}")
    wanted = {f"seller:ship:{code}", f"seller:deliver:{code}", f"seller:paid:{code}"}
    assert wanted <= set(button_data(notice))
    delivered = await seller.press(f"seller:deliver:{code}")
    assert "đã giao" in texts(delivered) and f"seller:ship:{code}" not in button_data(delivered)
