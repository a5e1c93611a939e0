"""The last mile through the web chat API: what villagers and officials hit first when they really use
xaso (the phone number offered again, «🔊 Nghe» inside a form, the 115 answer's buttons)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from bots.server import ASSISTANT
from core.config import Settings
from tests.support.chat import ChatSession, button_data, jpeg, texts, wait_for_pushes
from tests.support.dashboard import logged_in_staff
from tests.support.roles import doctor_joins, staff_joins
from tests.support.villager import Villager, fix_answer, report_fixed


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def test_the_last_phone_number_is_offered_as_a_button(client: TestClient) -> None:
    v = await Villager.open(client)
    for line in ("mua 1 can che bup", "nha ong tu, xom kem", "0912345678", "tien mat", "dong y"):
        await v.say(line)
    asked = await v.say("mua 1 can mat ong")
    asked = await v.say("nha ong tu, xom kem") if "shop:phone" not in button_data(asked) else asked
    assert "shop:phone" in button_data(asked), texts(asked)
    label = next(b["label"] for reply in asked for b in reply["buttons"] if b["data"] == "shop:phone")
    assert "0912 *** 678" in label and "0912345678" not in texts(asked)  # not shown whole
    paying = await v.say("co")  # typed instead of tapped: the number offered
    assert any(data.startswith("shop:pay:") for data in button_data(paying)), texts(paying)
    state = await v.state()
    assert state is not None and state.data["phone"] == "0912345678"


async def test_listen_button_inside_an_open_form_reads_without_disturbing_it(client: TestClient) -> None:
    v = await Villager.open(client)
    for line in ("cho toi hoi bac si", "dong y", "con toi", "3 tuoi",
                 "Cháu bị sốt 38 độ từ tối qua, ho nhiều về đêm, ăn kém, quấy khóc, đã cho uống hạ sốt",
                 "từ tối hôm qua, khoảng 8 giờ tối, sau khi đi học về thì thấy người nóng"):
        await v.say(line)
    summary = await v.say("khong co")
    listen = [data for data in button_data(summary) if data.startswith("listen:")]
    assert listen and "form:confirm" in button_data(summary), texts(summary)
    heard = await v.press(listen[0])
    assert heard[0]["audio_url"] and "không còn dùng được" not in texts(heard)
    state = await v.state()
    assert state is not None and state.flow == "form" and state.data["form"]["confirming"]
    assert "#" in texts(await v.say("dung roi"))  # the form goes on where it was


async def test_the_115_answer_has_call_buttons(client: TestClient) -> None:
    v = await Villager.open(client)
    replies = await v.say("ong toi bat tinh roi")
    emergency = replies[0]
    assert emergency["kind"] == "emergency"
    calls = {b["url"] for b in emergency["buttons"] if b.get("url", "").startswith("tel:")}
    assert calls == {"tel:115", "tel:02083820115"}
    dialled = await v.press("call:115")  # a channel that cannot dial sends the press: the number comes back
    assert "115" in texts(dialled)


async def test_staff_hear_of_a_new_dossier_at_once_and_help_shows_their_desk(client: TestClient) -> None:
    official = await staff_joins(client)
    desk = await official.say("/help")
    assert "/dossiers" in texts(desk) and "/approve" in texts(desk)
    assert {"dossier-admin:queue", "report-admin:list"} <= set(button_data(desk))
    assert "menu:dossier_submit" in button_data(desk)  # the villager's menu still follows

    villager = await ChatSession.open(client)
    assert "/dossiers" not in texts(await villager.say("/help"))  # a villager sees only the menu
    replies = await villager.press("dossier:start:marital_status")
    if "dossier:consent:marital_status" in button_data(replies):
        await villager.press("dossier:consent:marital_status")
    for line in ("Nguyễn Thị Hoa", "019190123456", "12/03/1990", "chua ket hon", "vay von"):
        await villager.say(line)
    asked = await villager.say("0912345678")
    while "form:confirm" not in button_data(asked):  # the papers: photos, or "không có" for optional ones
        asked = await villager.say("khong co") if "form:skip" in button_data(asked) else \
            (await villager.send(jpeg()))["replies"]
    receipt = texts(await villager.say("dung roi"))
    code = next(word for word in receipt.replace(".", " ").split() if word.startswith("LB-"))
    (notice,) = await wait_for_pushes(client.app[ASSISTANT], official, lambda found: len(found) >= 1)
    assert code in notice["text"] and "Xác nhận tình trạng hôn nhân" in notice["text"]
    assert f"dossier-admin:open:{code}" in [b["data"] for b in notice["buttons"]]
    assert "Nguyễn Thị Hoa" not in notice["text"]  # no personal data in a notice
    opened = await official.press(f"dossier-admin:open:{code}")
    assert code in texts(opened)


async def test_a_doctor_answers_and_closes_a_consult_with_buttons(client: TestClient) -> None:
    doctor = await doctor_joins(client)
    parent = await Villager.open(client)
    for line in ("cho toi hoi bac si", "dong y", "con toi", "2 tuoi", "chau ho va so mui", "tu hom qua",
                 "khong co", "gui di"):
        await parent.say(line)
    opened = await doctor.press("doctor:open:1")
    assert {"doctor:reply:1", "doctor:close:1"} <= set(button_data(opened))
    assert "#1" in texts(await doctor.press("doctor:reply:1"))
    assert "Đã gửi câu trả lời" in texts(await doctor.say("Cho cháu uống nhiều nước ấm, theo dõi nhiệt độ"))
    answer = await wait_for_pushes(client.app[ASSISTANT], parent.chat,
                                   lambda found: any("nước ấm" in n["text"] for n in found))
    assert any("nước ấm" in notice["text"] for notice in answer)
    assert "#1" in texts(await doctor.press("doctor:close:1"))
    assert "doctor:reply:1" not in button_data(await doctor.press("doctor:open:1"))  # closed: no buttons


async def test_an_order_for_a_seller_without_an_account_goes_to_the_staff(client: TestClient) -> None:
    official, _ = await logged_in_staff(client)
    buyer = await Villager.open(client)
    for line in ("mua 1 can che bup", "nha ong tu, xom kem", "0912345678", "tien mat"):
        await buyer.say(line)
    placed = texts(await buyer.say("dong y"))
    assert "Người bán đã được báo" not in placed and "cán bộ xã đã được báo" in placed
    notices = await wait_for_pushes(client.app[ASSISTANT], official,
                                    lambda found: any("chưa dùng Xã Số" in n["text"] for n in found))
    (notice,) = [n for n in notices if "chưa dùng Xã Số" in n["text"]]
    assert "/paid DH-" in notice["text"] and "0912345678" in notice["text"]
    orders = (await (await client.get("/api/stats")).json())["sections"]["orders"]
    assert orders["figures"]["seller_unreachable"] == 1 and "seller_unreachable" in orders["alerts"]


async def test_a_doctor_takes_an_emergency_sees_the_place_and_writes_to_the_caller(
        client: TestClient) -> None:
    assistant = client.app[ASSISTANT]
    first, second = await doctor_joins(client), await doctor_joins(client)
    caller = await Villager.open(client)
    answer = await caller.say("cuu voi, bo toi bi dau nguc kho tho")
    assert answer[0]["kind"] == "emergency" and answer[0]["request_location"] is True

    alerts = await wait_for_pushes(assistant, first,
                                   lambda found: any("KHẨN CẤP" in n["text"] for n in found))
    alert = next(n for n in alerts if "KHẨN CẤP" in n["text"])
    assert "chưa rõ" in alert["text"]
    data = [b["data"] for b in alert["buttons"]]
    alert_id = data[0].rsplit(":", 1)[1]
    assert data == [f"doctor:alert:{alert_id}", f"doctor:take:{alert_id}", f"doctor:alert-reply:{alert_id}"]

    sent = await caller.chat.send({"location": {"lat": 21.675, "lon": 105.59}})  # in Xóm Kèm
    assert "Đã gửi vị trí" in texts(sent["replies"])
    located = await wait_for_pushes(assistant, first, lambda found: any("vừa gửi vị trí" in n["text"]
                                                                           for n in found))
    place = next(n for n in located if "vừa gửi vị trí" in n["text"])["text"]
    assert "Xóm Kèm" in place and "openstreetmap.org/?mlat=21.675000&mlon=105.590000" in place

    assert "Bạn đã nhận ca" in texts(await first.press(f"doctor:take:{alert_id}"))
    told = await wait_for_pushes(assistant, second, lambda found: any("đã có" in n["text"] for n in found))
    assert any(f"#{alert_id}" in n["text"] and "đã có" in n["text"] for n in told)
    assert "đã có" in texts(await second.press(f"doctor:take:{alert_id}"))  # taken: not twice

    await first.press(f"doctor:alert-reply:{alert_id}")
    assert "Đã gửi câu trả lời" in texts(await first.say("Tôi đang tới, cho bác nằm nghỉ, nới lỏng áo"))
    notices = await wait_for_pushes(assistant, caller.chat, lambda found: any("nới lỏng áo" in n["text"]
                                                                              for n in found))
    message = next(n for n in notices if "nới lỏng áo" in n["text"])
    reply_button = next(b["data"] for b in message["buttons"] if b["data"].startswith("health:reply:"))
    await caller.press(reply_button)
    assert "đã chuyển" in texts(await caller.say("bac da do hon, dang nam nghi")).lower()


async def test_a_notice_answered_later_is_no_longer_the_open_question(client: TestClient) -> None:
    """«Sự việc đã được khắc phục chưa?» pushed, then the villager talks of something else: a later
    «co» answers what was asked last, not the old notice."""

    v = await Villager.open(client)
    await report_fixed(v)
    await v.say("xin chao")  # the menu: the newest question
    await v.say("co")
    assert await fix_answer(v, []) == "?"  # the report is still waiting for its answer
