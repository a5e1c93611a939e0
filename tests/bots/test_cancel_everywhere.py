""""hủy"/"cancel" and "quay lại"/"back" in every open conversation (ARCHITECTURE.md), through the real
web chat API: each flow is opened, a stop word is typed ("hủy", "huy", "dừng", "cancel"), and the flow
is left with a polite answer and nothing half-written (no row made, no conversation state left). Where
the answer is free text (a report's description, an announcement, a message to the doctor, a reason)
a sentence that holds a stop word is the answer, not a stop; "quay lại" goes one step back."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from backends.health.appointments import Appointment
from backends.health.consults import Consult, ConsultMessage
from backends.loudspeaker.store import Announcement
from backends.onestop.store import Dossier
from backends.reports.store import Report
from backends.shop.orders import Order
from bots.server import ASSISTANT
from core.config import Settings
from core.identity import find_user
from core.models import ConversationState
from tests.support.chat import ChatSession, button_data, texts
from tests.support.dossiers import open_birth_form, submit
from tests.support.health import MONDAY_MORNING, REMOTE_TUESDAY, ask_about_child, set_clock
from tests.support.reports import KEM, report_by_location
from tests.support.roles import doctor_joins, staff_joins

WORDS = ("hủy", "huy", "dừng", "cancel")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 1000, "rate_limit_per_minute": 5000})


async def flow_of(client: TestClient, chat: ChatSession) -> str | None:
    """The conversation the chat's user is in (None: none is open)."""
    async with client.app[ASSISTANT].database.session() as session:
        identity = await find_user(session, "web", chat.user_id)
        assert identity is not None
        row = await session.get(ConversationState, identity.id)
        return row.flow if row is not None else None


async def count(client: TestClient, model: Any) -> int:
    async with client.app[ASSISTANT].database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def left(client: TestClient, chat: ChatSession, word: str, polite: str) -> list[dict[str, Any]]:
    """Types `word` in the open flow: the polite answer comes back and no flow stays open."""
    assert await flow_of(client, chat) is not None
    replies = await chat.say(word)
    assert polite in texts(replies), (word, texts(replies))
    assert await flow_of(client, chat) is None, word
    return replies


# --- the flows ------------------------------------------------------------------------------------


async def test_dossier_form(client: TestClient) -> None:
    for word in WORDS:
        citizen = await ChatSession.open(client)
        await open_birth_form(citizen)
        await citizen.say("Nguyễn Văn Bình")
        await left(client, citizen, word, "Đã hủy")
    assert await count(client, Dossier) == 0


async def test_dossier_confirmation_question(client: TestClient) -> None:
    """«Làm thủ tục này?»: "không" shows the other procedures, a stop leaves."""
    citizen = await ChatSession.open(client)
    assert "dossier:start:birth_registration" in button_data(await citizen.say("làm giấy khai sinh cho con"))
    await left(client, citizen, "dừng", "Đã hủy")


async def test_consult_form_and_relay(client: TestClient) -> None:
    for word in WORDS:
        parent = await ChatSession.open(client)
        await parent.say("con tôi bị sốt từ tối qua")
        await parent.press("health:consent:yes")
        await parent.press("form:choice:child")
        assert "triệu chứng" in texts(await parent.say("3"))  # a free-text field next
        await left(client, parent, word, "Đã hủy")
    assert await count(client, Consult) == 0

    for word in WORDS:  # the consult sent: further messages go to the doctor, a stop word does not
        parent = await ChatSession.open(client)
        await ask_about_child(parent)
        assert await flow_of(client, parent) == "consult"
        stopped = await left(client, parent, word, "không gửi cho bác sĩ")
        assert "vẫn được giữ" in texts(stopped)
    assert await count(client, Consult) == len(WORDS) and await count(client, ConsultMessage) == 0

    parent = await ChatSession.open(client)
    await ask_about_child(parent)
    relayed = await parent.say("Cháu dừng uống thuốc hạ sốt từ sáng được không ạ")
    assert "Đã chuyển tin nhắn" in texts(relayed) and await flow_of(client, parent) == "consult"
    assert await count(client, ConsultMessage) == 1


async def test_village_report(client: TestClient) -> None:
    for word in WORDS:
        villager = await ChatSession.open(client)
        kinds = await villager.say("tôi muốn phản ánh")
        if "report:consent:yes" in button_data(kinds):
            await villager.press("report:consent:yes")
        assert "tả" in texts(await villager.press("report:kind:road"))  # the description, free text
        await left(client, villager, word, "Đã hủy phản ánh")
    assert await count(client, Report) == 0

    villager = await ChatSession.open(client)
    await villager.say("tôi muốn phản ánh")
    await villager.press("report:consent:yes")
    await villager.press("report:kind:road")
    back = await villager.say("quay lại")  # one step back: the kind again
    assert "report:kind:road" in button_data(back) and await flow_of(client, villager) == "report"
    await villager.press("report:kind:fallen_tree")
    described = await villager.say("Cây đổ hủy hoại hàng rào, xe phải dừng lại")  # words, not a stop
    assert "report:skip-photo" in button_data(described) and await flow_of(client, villager) == "report"
    assert "report:kind:road" not in button_data(await villager.say("quay lại"))  # the description again
    assert await flow_of(client, villager) == "report"


async def test_shop_order_draft(client: TestClient) -> None:
    for word in WORDS:
        buyer = await ChatSession.open(client)
        asked = await buyer.say("mua 2 gói miến dong")
        assert any(r["request_location"] for r in asked), texts(asked)  # the address, free text
        await left(client, buyer, word, "chưa có đơn nào")
    buyer = await ChatSession.open(client)
    await buyer.say("mua nấm hương")  # the amount asked
    await left(client, buyer, "dừng", "chưa có đơn nào")
    buyer = await ChatSession.open(client)
    assert "loại nào" in texts(await buyer.say("mua 2 cân chè"))  # which of the teas
    await left(client, buyer, "huy", "chưa có đơn nào")
    assert await count(client, Order) == 0

    buyer = await ChatSession.open(client)
    await buyer.say("mua 2 gói miến dong")
    back = await buyer.say("quay lại")  # one step back: the amount again
    assert any(data.startswith("shop:qty:") for data in button_data(back)), texts(back)
    assert any(r["request_location"] for r in await buyer.say("3 gói"))
    assert await flow_of(client, buyer) == "shop"


async def test_appointment_booking(client: TestClient) -> None:
    set_clock(client.app[ASSISTANT], [MONDAY_MORNING])
    for word in WORDS:
        villager = await ChatSession.open(client)
        await villager.say("tôi muốn đặt lịch khám")
        await villager.press("appt:kind:remote")
        confirm = await villager.press(f"appt:pick:{REMOTE_TUESDAY}")
        assert f"appt:book:{REMOTE_TUESDAY}" in button_data(confirm)
        await left(client, villager, word, "Đã hủy")
    villager = await ChatSession.open(client)
    await villager.say("tôi muốn đặt lịch khám")
    await villager.press("appt:kind:remote")  # the free slots: a typed stop leaves there too
    await left(client, villager, "dừng", "Đã hủy")
    assert await count(client, Appointment) == 0

    villager = await ChatSession.open(client)
    await villager.say("tôi muốn đặt lịch khám")
    await villager.press("appt:kind:remote")
    await villager.press(f"appt:pick:{REMOTE_TUESDAY}")
    slots = await villager.say("quay lại")  # one step back: the slots of that kind
    assert f"appt:pick:{REMOTE_TUESDAY}" in button_data(slots), texts(slots)
    kinds = await villager.say("quay lại")  # and the kinds
    assert "appt:kind:vaccination" in button_data(kinds) and await flow_of(client, villager) is None


async def test_announcement_draft(client: TestClient) -> None:
    official = await staff_joins(client)
    for word in WORDS:
        assert "gửi nội dung" in texts(await official.say("/announce"))  # the text, free
        await left(client, official, word, "Đã hủy thông báo")
    assert await count(client, Announcement) == 0

    await official.say("/announce")
    audience = await official.say("Dừng cấp nước sáng mai từ 7 giờ đến 11 giờ để sửa đường ống")
    assert "announce:all" in button_data(audience)  # a sentence with "dừng" is the announcement
    assert "gửi nội dung" in texts(await official.say("quay lại"))  # one step back: the text again
    await official.say("Dừng cấp nước sáng mai từ 7 giờ")
    await official.press("announce:all")
    await left(client, official, "dừng", "Đã hủy thông báo")
    assert await count(client, Announcement) == 0


async def test_staff_reject_reason(client: TestClient) -> None:
    _citizen, code = await submit(client)
    official = await staff_joins(client)
    for word in WORDS:
        assert "Nhập lý do" in texts(await official.press(f"dossier-admin:reject:{code}"))
        await left(client, official, word, "Đã hủy")
    async with client.app[ASSISTANT].database.session() as session:
        status = await session.scalar(select(Dossier.status).where(Dossier.code == code))
    assert status == "received"  # not rejected, nothing taken up
    await official.press(f"dossier-admin:reject:{code}")
    done = texts(await official.say("Hồ sơ bị hủy vì người nộp không cư trú tại xã"))
    assert "Đã từ chối" in done  # a reason that holds "hủy" is the reason


async def test_the_other_waits_for_words(client: TestClient) -> None:
    """The citizen's answer to a request, the official's request and resolution note, the doctor's
    answer: "dừng" alone stops, nothing sent or recorded."""
    citizen, code = await submit(client)
    official = await staff_joins(client)
    assert "Nhập nội dung" in texts(await official.press(f"dossier-admin:request:{code}"))
    await left(client, official, "dừng", "Đã hủy")
    await official.press(f"dossier-admin:request:{code}")
    await official.say("Bổ sung bản sao giấy chứng sinh")
    assert "Gõ «hủy» để thôi" in texts(await citizen.press(f"dossier-reply:{code}"))
    await left(client, citizen, "dừng", "Đã hủy")
    async with client.app[ASSISTANT].database.session() as session:
        assert await session.scalar(select(Dossier.status).where(Dossier.code == code)) == "needs_info"

    villager = await ChatSession.open(client)
    assert "PA-000001" in await report_by_location(villager, "rác thải đổ bừa bãi cạnh suối", KEM)
    assert "PA-000001" in texts(await official.press("report-admin:resolve:PA-000001"))
    await left(client, official, "dừng", "Đã hủy")
    async with client.app[ASSISTANT].database.session() as session:
        assert await session.scalar(select(Report.status).where(Report.code == "PA-000001")) != "resolved"

    doctor = await doctor_joins(client)
    parent = await ChatSession.open(client)
    await ask_about_child(parent)
    consult = await session_consult(client)
    assert f"#{consult}" in texts(await doctor.press(f"doctor:reply:{consult}"))
    await left(client, doctor, "dừng", "chưa gửi gì")
    assert await count(client, ConsultMessage) == 0


async def session_consult(client: TestClient) -> int:
    async with client.app[ASSISTANT].database.session() as session:
        return int(await session.scalar(select(func.max(Consult.id))) or 0)
