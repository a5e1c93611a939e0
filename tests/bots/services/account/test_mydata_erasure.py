"""/mydata for a villager with everything open, through the real web chat API: the card (consents by
name, the phone numbers given), the export with the dossier, the warning before deleting, the erasure
(a paid order cancelled with its stock back and the refund rule, the seller told; an appointment
cancelled, its reminder withdrawn, the doctors told; the consult ended; the dossier kept as a record
without its personal values, the staff told), all or nothing; and codes never given twice."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from backends.health.appointments import Appointment
from backends.health.consults import Consult
from backends.onestop.store import Dossier, history, read_values
from backends.shop.orders import Order
from bots.assistant import Assistant
from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.identity import find_user
from core.messages import Incoming
from core.models import Media, OutboxMessage
from core.pipeline import Outcome
from tests.support.chat import ChatSession, button_data, texts
from tests.support.dossiers import fill_fields, open_birth_form, send_papers_and_confirm
from tests.support.health import MONDAY_MORNING, REMOTE_TUESDAY, ask_about_child, set_clock
from tests.support.roles import doctor_joins, staff_joins
from tests.support.shop import confirm_button, order_until_summary, pushed_with, seller_joins, stock

SELLER = "htx_che_la_bang"
TEA = "tea_bup"
ORDER = re.compile(r"DH-\d{6}")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def paid_order(client: TestClient, buyer: ChatSession, seller: ChatSession) -> str:
    """One kilo of tea buds, cash, marked paid by the seller and not delivered."""
    summary = await order_until_summary(buyer, "mua 1 cân chè búp")
    code = ORDER.search(texts(await buyer.press(confirm_button(summary))))
    assert code, summary
    assert "Đã ghi nhận" in texts(await seller.say(f"/paid {code.group(0)}"))
    return code.group(0)


async def book_tuesday(villager: ChatSession) -> str:
    await villager.press(f"appt:pick:{REMOTE_TUESDAY}")
    booked = texts(await villager.press(f"appt:book:{REMOTE_TUESDAY}"))
    found = re.search(r"LH-\d{6}", booked)
    assert found, booked
    return found.group(0)


async def export_of(client: TestClient, villager: ChatSession) -> dict[str, Any]:
    (reply,) = await villager.press("mydata:export")
    response = await client.get(reply["document_url"].split("8080", 1)[1])
    assert response.status == 200
    return dict(json.loads(await response.read()))


class Everything:
    """A villager with a dossier, a paid undelivered order, a consult and an upcoming appointment; the
    doctor, the official and the seller who hear of them."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def make(self) -> Everything:
        client = self.client
        set_clock(client.app[ASSISTANT], [MONDAY_MORNING])
        self.doctor = await doctor_joins(client)
        self.official = await staff_joins(client)
        self.seller = await seller_joins(client, SELLER)
        self.stock = await stock(client, TEA)
        self.villager = villager = await ChatSession.open(client)
        await open_birth_form(villager)
        await fill_fields(villager)
        self.dossier = await send_papers_and_confirm(villager)
        self.order = await paid_order(client, villager, self.seller)
        assert await stock(client, TEA) == self.stock - 1000
        assert "#1" in await ask_about_child(villager)
        await villager.say("Cháu vẫn còn ho")
        self.appointment = await book_tuesday(villager)
        assert self.appointment == "LH-000001"
        return self


async def test_the_card_and_the_export_show_everything(client: TestClient) -> None:
    held = await Everything(client).make()
    card = texts(await held.villager.say("/mydata"))
    assert "Hồ sơ một cửa" in card and "Hỏi bác sĩ" in card and "dossier" not in card and "health" not in card
    assert f"0912345678 (bạn đã cho trong {held.order}, {held.dossier}; lưu mã hóa)" in card, card
    exported = await export_of(client, held.villager)
    (dossier,) = exported["dossiers"]
    assert dossier["code"] == held.dossier and dossier["procedure"] == "birth_registration"
    assert dossier["values"]["mother_name"] == "Trần Thị Hoa" and len(dossier["papers"]) == 2
    assert [event["status"] for event in dossier["history"]] == ["received"]
    assert exported["orders"][0]["code"] == held.order
    assert exported["health"]["appointments"][0]["code"] == held.appointment


async def test_deleting_warns_then_cancels_tells_and_keeps_the_record(client: TestClient,
                                                                     database: Database) -> None:
    held = await Everything(client).make()
    villager = held.villager
    warning = await villager.press("mydata:delete")
    said = texts(warning)
    assert held.order in said and "đã thanh toán 350.000" in said and "hoàn lại đủ 350.000" in said
    assert "HTX Chè La Bằng" in said and "đọc mã đơn" in said
    assert held.appointment in said and "trạm y tế được báo" in said
    assert "Câu hỏi #1" in said and f"Hồ sơ {held.dossier} – Đăng ký khai sinh" in said
    assert button_data(warning)[:2] == ["mydata:delete-confirm", "mydata:keep"]

    farewell = texts(await villager.press("mydata:delete-confirm"))
    assert "Đã xóa dữ liệu" in farewell and f"Đã hủy đơn {held.order}" in farewell
    assert f"Đơn {held.order}: Người bán hoàn lại đủ 350.000" in farewell
    assert f"Đã hủy lịch hẹn {held.appointment}" in farewell and held.dossier in farewell

    # The seller, the doctor and the official are told through the outbox.
    seller_news = texts(await pushed_with(client, held.seller, f"Đơn {held.order}", "đã xóa dữ liệu"))
    assert "Hàng đã trả lại kho" in seller_news and "hoàn lại đủ cho người mua" in seller_news
    doctor_news = texts(await pushed_with(client, held.doctor, held.appointment, "Câu hỏi #1 đã kết thúc"))
    assert "chỗ đã trống" in doctor_news and "Thứ Ba 02/03 · 09:00" in doctor_news
    official_news = texts(await pushed_with(client, held.official, held.dossier))
    assert "không xử lý tiếp được" in official_news

    assert await stock(client, TEA) == held.stock  # the kilo is back
    async with database.session() as session:
        assert await find_user(session, "web", villager.user_id) is None
        order = (await session.execute(select(Order).where(Order.code == held.order))).scalar_one()
        assert order.status == "cancelled" and order.paid_at is not None and order.user_id is None
        assert order.phone_enc is None and order.address_enc is None
        dossier = (await session.execute(select(Dossier).where(Dossier.code == held.dossier))).scalar_one()
        assert dossier.status == "received" and dossier.procedure_id == "birth_registration"
        assert dossier.user_id is None and dossier.papers == {}
        assert read_values(client.app[ASSISTANT].services.cipher, dossier) == {}
        events = await history(session, dossier.id)
        assert [e.status for e in events] == ["received", "received"]
        assert "xóa dữ liệu" in (events[-1].note or "")
        for model in (Appointment, Consult, Media):
            assert (await session.execute(select(func.count()).select_from(model))).scalar_one() == 0
        reminders = select(OutboxMessage).where(OutboxMessage.key.startswith("appointment-reminder:"))
        assert (await session.execute(reminders)).first() is None
        to_them = select(OutboxMessage).where(OutboxMessage.chat_id == villager.user_id)
        assert (await session.execute(to_them)).first() is None  # what was sent keeps no address


async def test_a_failed_erasure_changes_nothing(client: TestClient, database: Database,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    held = await Everything(client).make()

    async def broken(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("bots.services.reports.holdings.forget_user", broken)  # the last step but one
    failed = await held.villager.press("mydata:delete-confirm")
    assert "chưa xóa được" in texts(failed) and "Chưa có gì bị xóa" in texts(failed)
    assert button_data(failed)[0] == "mydata:delete"  # try again: the warning first
    async with database.session() as session:
        order = (await session.execute(select(Order).where(Order.code == held.order))).scalar_one()
        assert order.status == "new" and order.user_id is not None
        appointment = (await session.execute(select(Appointment))).scalar_one()
        assert appointment.status == "booked"
        reminder = select(OutboxMessage).where(OutboxMessage.key == f"appointment-reminder:{appointment.id}")
        assert (await session.execute(reminder)).first() is not None
        dossier = (await session.execute(select(Dossier))).scalar_one()
        assert read_values(client.app[ASSISTANT].services.cipher, dossier)["mother_name"] == "Trần Thị Hoa"
        assert len(await history(session, dossier.id)) == 1
        assert (await session.execute(select(func.count()).select_from(Consult))).scalar_one() == 1
    assert await stock(client, TEA) == held.stock - 1000
    monkeypatch.undo()
    assert "Đã xóa dữ liệu" in texts(await held.villager.press("mydata:delete-confirm"))


async def test_codes_are_never_given_twice(client: TestClient) -> None:
    held = await Everything(client).make()
    await held.villager.press("mydata:delete-confirm")
    newcomer = await ChatSession.open(client)
    await open_birth_form(newcomer)
    await fill_fields(newcomer)
    dossier = await send_papers_and_confirm(newcomer)
    assert dossier != held.dossier and dossier.endswith("-000002")
    order = await paid_order(client, newcomer, held.seller)
    assert order == "DH-000002"
    assert "#2" in await ask_about_child(newcomer)
    await newcomer.say("Cháu vẫn còn ho")
    assert await book_tuesday(newcomer) == "LH-000002"  # the same slot, free again: a new code


async def test_erasure_from_telegram_pushes_the_farewell_to_no_one(assistant: Assistant,
                                                                   database: Database) -> None:
    """On Telegram the answer goes through the outbox: it must not name the account just deleted."""
    async def press(message_id: str, data: str) -> Outcome:
        return await assistant.handle(Incoming(channel="telegram", chat_id="42", user_id="42",
                                               message_id=message_id, button=data))

    await press("1", "mydata:delete")
    outcome = await press("2", "mydata:delete-confirm")
    assert outcome.status == "ok" and "Đã xóa dữ liệu" in outcome.replies[0].text
    async with database.session() as session:
        assert await find_user(session, "telegram", "42") is None
        query = select(OutboxMessage).where(OutboxMessage.key == "tg:2:0")
        farewell = (await session.execute(query)).scalar_one()
        assert farewell.chat_id == "42" and farewell.user_id is None
