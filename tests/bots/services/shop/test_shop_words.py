"""Orders in the buyer's own words: units converted to the product's, ambiguous names asked about,
bad amounts and unknown products answered politely, and nothing ordered by mistake."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from core.config import Settings
from tests.support.chat import ChatSession, button_data, texts
from tests.support.shop import orders


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def _draft(buyer: ChatSession, text: str) -> str:
    """The summary's first line once the address, phone and payment are given."""
    asked = await buyer.say(text)
    assert any(r["request_location"] for r in asked), texts(asked)
    await buyer.say("Số 5, xóm Kèm, gần nhà văn hoá")  # typed: the hamlet is recognised
    await buyer.say("0912 345 678")
    summary = texts(await buyer.press("shop:pay:cash"))
    await buyer.press("shop:abort")
    return summary


@pytest.mark.parametrize(("text", "line"), [
    ("mua 500g mật ong", "Mật ong rừng nguyên chất: 0,5 kg × 400.000 đ = 200.000 đ"),
    ("mua 500 gam mat ong", "Mật ong rừng nguyên chất: 0,5 kg × 400.000 đ = 200.000 đ"),
    ("lấy 3 hộp chè", "Hộp quà chè Tân Cương 200 g: 3 hộp × 150.000 đ = 450.000 đ"),
    ("mua 3 lạng nấm hương", "Nấm hương rừng: 0,3 kg × 450.000 đ = 135.000 đ"),
    ("mua hai cân chè tân cương", "Chè Tân Cương đặc biệt: 2 kg × 600.000 đ = 1.200.000 đ"),
    ("mua 1,5 ky che bup", "Chè búp loại 1: 1,5 kg × 350.000 đ = 525.000 đ"),
    ("i want to buy 2 kg of honey", "Mật ong rừng nguyên chất: 2 kg × 400.000 đ = 800.000 đ"),
])
async def test_amounts_in_words_are_converted(client: TestClient, text: str, line: str) -> None:
    buyer = await ChatSession.open(client)
    summary = await _draft(buyer, text)
    assert line in summary, summary
    assert "Xóm Kèm" in summary
    assert await orders(client) == []


async def test_shipping_rule_fee_below_the_free_amount_and_outside(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    await buyer.say("mua 2 gói miến dong")
    await buyer.say("Thôn Đồng Bẩm, xã khác")
    asked = await buyer.say("nhà tôi")  # not a hamlet: asked again with buttons
    assert "shop:hamlet:-" in button_data(asked)
    await buyer.press("shop:hamlet:-")
    await buyer.say("0912345678")
    outside = texts(await buyer.press("shop:pay:cash"))
    assert "Phí giao hàng: 40.000 đ" in outside and "Tổng cộng: 130.000 đ" in outside
    await buyer.press("shop:abort")
    await buyer.say("mua 2 gói miến dong")
    await buyer.say("Số 5 xóm Kèm")
    await buyer.say("0912345678")
    inside = texts(await buyer.press("shop:pay:cash"))  # within the commune, under 300.000 đ
    assert "Phí giao hàng: 15.000 đ" in inside and "Tổng cộng: 105.000 đ" in inside


async def test_an_ambiguous_name_asks_which_and_keeps_the_amount(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    asked = await buyer.say("mua 2 cân chè")
    data = button_data(asked)
    assert {"shop:pick:tea_tan_cuong", "shop:pick:tea_bup", "shop:pick:tea_moc_cau"} <= set(data)
    assert "shop:pick:tea_gift_box" not in data  # sold by the box, not by the kg
    picked = await buyer.press("shop:pick:tea_moc_cau")
    assert any(r["request_location"] for r in picked), texts(picked)


async def test_no_amount_asks_for_it_with_buttons(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    asked = await buyer.say("mua chè búp")
    assert "Chè búp loại 1" in texts(asked) and "shop:qty:1000" in button_data(asked)
    assert any(r["request_location"] for r in await buyer.press("shop:qty:1000"))


@pytest.mark.parametrize(("text", "answer"), [
    ("mua 0 cân chè tân cương", "phải lớn hơn 0"),
    ("mua -1 cân chè tân cương", "phải lớn hơn 0"),
    ("mua 10 tấn chè tân cương", "tối đa 50 kg"),
    ("mua 2 hộp mật ong rừng", "bán theo kg, không bán theo hộp"),
    ("mua 0,3 cân mật ong", "từng 0,5 kg"),
    ("mua 35 cân chè tân cương", "chỉ còn 40 kg"),
])
async def test_bad_amounts_get_a_polite_answer(client: TestClient, text: str, answer: str) -> None:
    buyer = await ChatSession.open(client)
    replies = await buyer.say(text)
    if answer == "chỉ còn 40 kg":  # within the limit and the stock: accepted
        assert any(r["request_location"] for r in replies), texts(replies)
        return
    assert answer in texts(replies), texts(replies)
    assert "shop:qty:" in " ".join(button_data(replies))
    # typed again, properly, in the same conversation
    assert any(r["request_location"] for r in await buyer.say("1"))


async def test_typed_amounts_in_the_draft(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    await buyer.say("mua nấm hương")
    assert "phải lớn hơn 0" in texts(await buyer.say("0"))
    assert "chưa hiểu số lượng" in texts(await buyer.say("vừa đủ dùng"))
    assert "chỉ còn 10 kg" in texts(await buyer.say("20 cân"))
    assert any(r["request_location"] for r in await buyer.say("3 lạng"))
    assert "Đã hủy" in texts(await buyer.say("hủy"))


async def test_unknown_product_and_bare_verb(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    unknown = await buyer.say("mua 2 cân xoài")
    assert "chưa bán" in texts(unknown) and "shop:cat:tea" in button_data(unknown)
    assert "shop:cat:honey" in button_data(await buyer.say("tôi muốn mua hàng"))
    assert await orders(client) == []


async def test_english_buyer(client: TestClient) -> None:
    buyer = await ChatSession.open(client, language="en")
    asked = await buyer.say("i want to buy 2 kg of honey")
    assert "Where should it go" in texts(asked)


async def test_an_emergency_in_the_middle_of_a_draft_is_answered_first(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    await buyer.say("mua 1 cân chè búp")
    answer = texts(await buyer.say("bố tôi đau ngực khó thở"))
    assert "115" in answer
    assert "shop:cat:tea" in button_data(await buyer.say("mua hàng"))  # the draft is gone


async def test_another_service_button_leaves_the_draft(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    await buyer.say("mua 1 cân chè búp")
    await buyer.press("menu:help")
    after = await buyer.say("Số 5 xóm Kèm")  # no longer taken as the delivery address
    assert not any(r["request_phone"] for r in after) and "Điện thoại" not in texts(after)
