"""The health service of a province's communes (La Bằng LB, Sảng Mộc SM) through the real web chat API:
each commune's consults, emergencies and appointments are stored as its own, and its doctors and staff
alone see them, act on them, hear of them and have them escalated to them; another commune's consult,
alert or booking named by id is answered as one that does not exist."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.health.appointments import Appointment, RosterLink
from backends.health.consults import Consult, ConsultMessage, EmergencyAlert
from bots.assistant import Assistant
from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.models import OutboxMessage, User
from core.timezones import VIETNAM
from tests.support.audit import audit_rows
from tests.support.chat import ChatSession, button_data, pushed_now, texts
from tests.support.communes import PROVINCE, joins_in, villager_in
from tests.support.health import MONDAY_MORNING, REMOTE_TUESDAY, set_clock

LB_SYMPTOMS = "chau bi sot cao 39 do, ho nhieu"
SM_SYMPTOMS = "dau bung quanh ron, di ngoai long 3 lan"
LB_ANSWER = "Cho chau uong nhieu nuoc, chuom am"
SM_ANSWER = "Uong oresol, an chao loang"
LB_ROSTER = ("bs_hoa", "bs_tuan", "ys_lan")
SM_ROSTER = ("bs_thu", "ys_hung", "ys_mai")
LANG_MUOI = {"lat": 21.8723, "lon": 106.1175}  # inside Xóm Làng Mười (data/communes/SM/commune.yml)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=PROVINCE)


@pytest.fixture
def province(client: TestClient) -> TestClient:
    """The service serving both communes: the `client` fixture, with the settings above."""
    return client


def assistant_of(client: TestClient) -> Assistant:
    return client.app[ASSISTANT]


async def ask_doctor(villager: ChatSession, who: str, age: str, symptoms: str, since: str) -> str:
    """"hoi bac si" and the consult form, every answer typed without diacritics; the acknowledgement."""
    assert "health:consent:yes" in button_data(await villager.say("hoi bac si"))
    assert "form:choice:child" in button_data(await villager.say("dong y"))
    assert "tuổi" in texts(await villager.say(who))
    assert "triệu chứng" in texts(await villager.say(age))
    assert "từ khi nào" in texts(await villager.say(symptoms))
    assert "form:skip" in button_data(await villager.say(since))
    summary = await villager.say("bo qua")
    assert symptoms in texts(summary) and "form:confirm" in button_data(summary)
    return texts(await villager.say("dong y"))


async def outbox_rows(database: Database, prefix: str) -> list[OutboxMessage]:
    async with database.session() as session:
        query = select(OutboxMessage).where(OutboxMessage.key.startswith(prefix)).order_by(OutboxMessage.id)
        return list((await session.execute(query)).scalars())


async def user_id_of(database: Database, chat: ChatSession) -> int:
    async with database.session() as session:
        return (await session.execute(select(User.id).where(User.external_id == chat.user_id))).scalar_one()


async def test_each_villagers_consult_is_their_communes_alone(province: TestClient,
                                                              database: Database) -> None:
    now = [MONDAY_MORNING]  # BS. Hoa (LB) and BS. Thu (SM) are on duty
    set_clock(assistant_of(province), now)
    lb_doctor = await joins_in(province, "LB", "doctor")
    sm_doctor = await joins_in(province, "SM", "doctor")

    # Each doctor is offered their own commune's roster names only, and can take no other.
    lb_queue, sm_queue = await lb_doctor.say("/queue"), await sm_doctor.say("/queue")
    assert [d for d in button_data(lb_queue) if d.startswith("doctor:iam:")] == \
        [f"doctor:iam:{name}" for name in LB_ROSTER]
    assert [d for d in button_data(sm_queue) if d.startswith("doctor:iam:")] == \
        [f"doctor:iam:{name}" for name in SM_ROSTER]
    assert "BS. Nguyễn Thị Hoa" in str(lb_queue) and "BS. Hoàng Thị Thu" not in str(lb_queue)
    assert "BS. Hoàng Thị Thu" in str(sm_queue) and "BS. Nguyễn Thị Hoa" not in str(sm_queue)
    refused = texts(await sm_doctor.press("doctor:iam:bs_hoa"))
    assert "Nguyễn Thị Hoa" not in refused and refused == texts(await sm_doctor.press("doctor:iam:bs_nobody"))
    assert "BS. Hoàng Thị Thu" in texts(await sm_doctor.press("doctor:iam:bs_thu"))
    assert "BS. Nguyễn Thị Hoa" in texts(await lb_doctor.press("doctor:iam:bs_hoa"))
    async with database.session() as session:
        stored = await session.scalars(select(RosterLink.roster_id).order_by(RosterLink.roster_id))
        assert list(stored) == ["SM:bs_thu", "bs_hoa"]  # the home commune's names as a commune alone has them
    assert not [d for d in button_data(await sm_doctor.say("/queue")) if d.startswith("doctor:iam:")]

    # A villager of each commune asks; each consult goes to its commune's doctor on duty alone.
    lb_villager, sm_villager = await villager_in(province, "LB"), await villager_in(province, "SM")
    lb_ack = await ask_doctor(lb_villager, "con toi", "4", LB_SYMPTOMS, "tu toi qua")
    sm_ack = await ask_doctor(sm_villager, "ban than toi", "52", SM_SYMPTOMS, "tu sang nay")
    assert "#1" in lb_ack and "vị trí 1" in lb_ack
    assert "#2" in sm_ack and "vị trí 1" in sm_ack  # first in Sảng Mộc's queue, whatever La Bằng's holds
    lb_told, sm_told = await pushed_now(province, lb_doctor), await pushed_now(province, sm_doctor)
    assert [m["buttons"][0]["data"] for m in lb_told] == ["doctor:open:1"]
    assert [m["buttons"][0]["data"] for m in sm_told] == ["doctor:open:2"]
    async with database.session() as session:
        consults = (await session.execute(select(Consult.id, Consult.commune).order_by(Consult.id))).all()
    assert [tuple(row) for row in consults] == [(1, "LB"), (2, "SM")]

    # /queue shows each doctor their commune's consult only.
    lb_line, sm_line = texts(await lb_doctor.say("/queue")), texts(await sm_doctor.say("/queue"))
    assert "#1" in lb_line and "sot cao 39 do" in lb_line and "1 câu hỏi đang chờ" in lb_line
    assert "#2" not in lb_line and "dau bung" not in lb_line
    assert "#2" in sm_line and "dau bung" in sm_line and "1 câu hỏi đang chờ" in sm_line
    assert "#1" not in sm_line and "sot cao" not in sm_line

    # The other commune's consult, named in a command or a button, is unknown there.
    not_found = texts(await sm_doctor.say("/answer 99 Uong nhieu nuoc"))
    assert "không tìm thấy" in not_found.lower()
    for attempt in (sm_doctor.say(f"/answer 1 {SM_ANSWER}"), sm_doctor.say("/answer #1 xem lai"),
                    sm_doctor.say("/close 1"), sm_doctor.press("doctor:open:1"),
                    sm_doctor.press("doctor:close:1")):
        answer = texts(await attempt)
        assert answer == not_found.replace("99", "1") and "sot cao" not in answer
    assert "không tìm thấy" in texts(await lb_doctor.say("/close 2")).lower()
    assert "dau bung" not in texts(await lb_doctor.press("doctor:open:2"))
    await sm_doctor.press("doctor:reply:1")  # the answer typed after «Trả lời» is refused all the same
    assert "không tìm thấy" in texts(await sm_doctor.say("Chau uong thuoc ha sot")).lower()
    async with database.session() as session:
        first = await session.get(Consult, 1)
        assert first is not None and first.status == "open" and first.doctor_id is None
        assert list((await session.execute(select(ConsultMessage.id))).scalars()) == []
    refused = [r for r in await audit_rows(database, "health.consult_answer") if r.outcome == "not_found"]
    assert [r.subject for r in refused] == ["consult:99", "consult:1", "consult:1", "consult:1"]

    # Each doctor answers their own; each villager hears their own commune's doctor alone.
    assert "Đã gửi" in texts(await lb_doctor.say(f"/answer 1 {LB_ANSWER}"))
    assert "Đã gửi" in texts(await sm_doctor.say(f"/answer #2 {SM_ANSWER}"))
    lb_heard, sm_heard = await pushed_now(province, lb_villager), await pushed_now(province, sm_villager)
    assert len(lb_heard) == 1 and LB_ANSWER in lb_heard[0]["text"] and SM_ANSWER not in lb_heard[0]["text"]
    assert len(sm_heard) == 1 and SM_ANSWER in sm_heard[0]["text"] and LB_ANSWER not in sm_heard[0]["text"]

    # The villager's follow-up goes to the doctor of their consult alone.
    assert "Đã chuyển" in texts(await sm_villager.say("chau da do dau bung"))
    assert len(await pushed_now(province, sm_doctor, seen=1)) == 1
    assert await pushed_now(province, lb_doctor, seen=1) == []
    async with database.session() as session:
        query = select(ConsultMessage.consult_id, Consult.commune, ConsultMessage.author).join(Consult)
        rows = (await session.execute(query.order_by(ConsultMessage.id))).all()
    assert [tuple(row) for row in rows] == [(1, "LB", "doctor"), (2, "SM", "doctor"), (2, "SM", "patient")]


async def test_an_emergency_names_its_station_and_alerts_its_commune_alone(province: TestClient,
                                                                          database: Database) -> None:
    set_clock(assistant_of(province), [MONDAY_MORNING])
    lb_doctor, lb_staff = await joins_in(province, "LB", "doctor"), await joins_in(province, "LB", "staff")
    sm_doctor, sm_staff = await joins_in(province, "SM", "doctor"), await joins_in(province, "SM", "staff")
    villager = await villager_in(province, "SM")

    replies = await villager.say("cuu voi, bo toi kho tho")
    first = replies[0]["text"]
    assert "115" in first and "Trạm Y tế xã Sảng Mộc" in first and "0208 3827 115" in first
    assert "La Bằng" not in texts(replies) and "0208 3820 115" not in str(replies)
    async with database.session() as session:
        (alert,) = (await session.execute(select(EmergencyAlert))).scalars()
    assert alert.commune == "SM" and alert.category == "breathing"
    alerted = [row.user_id for row in await outbox_rows(database, "emergency:")]
    sm_station = [await user_id_of(database, sm_doctor), await user_id_of(database, sm_staff)]
    assert sorted(alerted) == sorted(sm_station)
    assert await pushed_now(province, lb_doctor) == [] and await pushed_now(province, lb_staff) == []
    (sm_alert,) = await pushed_now(province, sm_doctor)
    assert f"doctor:take:{alert.id}" in [button["data"] for button in sm_alert["buttons"]]

    # La Bằng's doctor can neither read, nor take, nor answer it: as an alert that does not exist.
    unknown = texts(await lb_doctor.press("doctor:alert:999"))
    assert texts(await lb_doctor.press(f"doctor:alert:{alert.id}")) == unknown.replace("999", str(alert.id))
    assert "kho tho" not in texts(await lb_doctor.press(f"doctor:alert:{alert.id}"))
    assert texts(await lb_doctor.press(f"doctor:take:{alert.id}")) == unknown.replace("999", str(alert.id))
    await lb_doctor.press(f"doctor:alert-reply:{alert.id}")
    assert texts(await lb_doctor.say("Goi ngay cho tram nhe")) == unknown.replace("999", str(alert.id))
    async with database.session() as session:
        assert (await session.get(EmergencyAlert, alert.id)).handled_by is None  # type: ignore[union-attr]
        assert list((await session.execute(select(Consult.id))).scalars()) == []
    assert await pushed_now(province, villager) == []

    # The caller's location goes to Sảng Mộc's station alone, named by its own hamlet.
    assert "Đã gửi vị trí" in texts((await villager.send({"location": LANG_MUOI}))["replies"])
    placed = await outbox_rows(database, "emergency-place:")
    assert sorted(row.user_id for row in placed) == sorted(sm_station)
    outbox = assistant_of(province).services.outbox
    assert all("Xóm Làng Mười" in outbox.reply_of(row.payload, row.key).text for row in placed)

    # Sảng Mộc's doctor takes it and writes to the caller: the consult is Sảng Mộc's; its staff hear.
    assert "kho tho" in texts(await sm_doctor.press(f"doctor:alert:{alert.id}"))
    await sm_doctor.press(f"doctor:take:{alert.id}")
    await sm_doctor.press(f"doctor:alert-reply:{alert.id}")
    assert "Đã gửi" in texts(await sm_doctor.say("Giu nguoi benh ngoi thang, toi den ngay"))
    assert len(await pushed_now(province, sm_staff, seen=2)) == 1  # «taken by», after the alert and the place
    assert await pushed_now(province, lb_staff) == []
    assert "toi den ngay" in texts(await pushed_now(province, villager))
    async with database.session() as session:
        assert [tuple(row) for row in (await session.execute(select(Consult.id, Consult.commune))).all()] == \
            [(1, "SM")]
    assert "#1" in texts(await sm_doctor.say("/queue")) and "#1" not in texts(await lb_doctor.say("/queue"))


async def test_new_consults_and_escalation_follow_each_communes_roster(province: TestClient,
                                                                      database: Database) -> None:
    assistant = assistant_of(province)
    now = [MONDAY_MORNING]  # Monday 08:00. LB: BS. Hoa on duty, BS. Tuấn from 13:00; SM: BS. Thu, YS. Hùng
    set_clock(assistant, now)
    sm_doctors = [await joins_in(province, "SM", "doctor") for _ in SM_ROSTER]
    for doctor, name in zip(sm_doctors, SM_ROSTER, strict=True):
        await doctor.press(f"doctor:iam:{name}")
    lb_tuan, lb_hoa = await joins_in(province, "LB", "doctor"), await joins_in(province, "LB", "doctor")
    await lb_tuan.press("doctor:iam:bs_tuan")  # the older account, off duty: not the one asked first
    await lb_hoa.press("doctor:iam:bs_hoa")
    sm_staff, lb_staff = await joins_in(province, "SM", "staff"), await joins_in(province, "LB", "staff")
    await ask_doctor(await villager_in(province, "SM"), "ong toi", "70", SM_SYMPTOMS, "tu hom qua")
    await ask_doctor(await villager_in(province, "LB"), "con toi", "4", LB_SYMPTOMS, "tu toi qua")
    ids = {name: await user_id_of(database, doctor)
           for doctor, name in [*zip(sm_doctors, SM_ROSTER, strict=True), (lb_tuan, "bs_tuan"),
                                (lb_hoa, "bs_hoa")]}
    ids |= {"sm_staff": await user_id_of(database, sm_staff),
            "lb_staff": await user_id_of(database, lb_staff)}
    assert [row.user_id for row in await outbox_rows(database, "consult-new:1:")] == [ids["bs_thu"]]
    assert [row.user_id for row in await outbox_rows(database, "consult-new:2:")] == [ids["bs_hoa"]]

    async def tick(code: str) -> list[int]:
        local = assistant.communes[code]
        async with database.session() as session:
            return await local.router.assembly.desk("health").escalate(local.services, session)

    async def told(consult: int, step: int) -> list[int]:
        rows = await outbox_rows(database, f"consult-escalated:{consult}:{step}:")
        return sorted(row.user_id for row in rows)

    now[0] += dt.timedelta(minutes=16)
    assert await tick("LB") == [2]  # La Bằng's task leaves Sảng Mộc's consult alone
    async with database.session() as session:
        assert (await session.get(Consult, 1)).escalation_step == 0  # type: ignore[union-attr]
    assert await told(2, 1) == sorted([ids["bs_tuan"], ids["lb_staff"]])
    assert await tick("SM") == [1]
    assert await told(1, 1) == sorted([ids["ys_hung"], ids["sm_staff"]])
    now[0] += dt.timedelta(minutes=15)
    assert await tick("SM") == [1] and await tick("LB") == [2]
    assert await told(1, 2) == sorted([ids["ys_mai"], ids["sm_staff"]])
    assert await told(2, 2) == [ids["lb_staff"]]  # YS. Lan has no account: every LB doctor was told
    assert await tick("SM") == [] and await tick("LB") == []
    lb_people = {ids["bs_tuan"], ids["bs_hoa"], ids["lb_staff"]}
    assert not {row.user_id for row in await outbox_rows(database, "consult-escalated:1:")} & lb_people
    assert {row.user_id for row in await outbox_rows(database, "consult-escalated:2:")} <= lb_people

    # The server runs the task once per commune, each with its commune's services.
    loops = assistant.background(asyncio.Event())
    for _name, loop in loops:
        loop.close()  # not started here
    assert {"consult-escalation@LB", "consult-escalation@SM"} <= {name for name, _loop in loops}


async def test_appointments_are_booked_listed_and_cancelled_per_commune(province: TestClient,
                                                                        database: Database) -> None:
    now = [MONDAY_MORNING]
    set_clock(assistant_of(province), now)
    lb_villager, sm_villager = await villager_in(province, "LB"), await villager_in(province, "SM")

    async def book_remote_tuesday(villager: ChatSession) -> str:
        slots = await villager.say("dat lich kham tu xa")
        assert f"appt:pick:{REMOTE_TUESDAY}" in button_data(slots)
        await villager.press(f"appt:pick:{REMOTE_TUESDAY}")
        return texts(await villager.press(f"appt:book:{REMOTE_TUESDAY}"))

    # Tuesday 09:00 has one remote place in each commune: each villager gets their commune's.
    lb_booked, sm_booked = await book_remote_tuesday(lb_villager), await book_remote_tuesday(sm_villager)
    assert "LH-000001" in lb_booked and "Đại Từ" in lb_booked and "xaso-labang-" in lb_booked
    assert "LH-000002" in sm_booked and "Võ Nhai" in sm_booked and "xaso-sangmoc-" in sm_booked
    assert "Đại Từ" not in sm_booked and "xaso-labang-" not in sm_booked
    async with database.session() as session:
        rows = (await session.execute(select(Appointment.id, Appointment.commune, Appointment.slot_key,
                                             Appointment.seat).order_by(Appointment.id))).all()
    assert [tuple(row) for row in rows] == [(1, "LB", REMOTE_TUESDAY, 1),
                                            (2, "SM", f"SM:{REMOTE_TUESDAY}", 1)]
    other = await villager_in(province, "SM")  # the place is now taken in Sảng Mộc only
    assert f"appt:pick:{REMOTE_TUESDAY}" not in button_data(await other.say("dat lich kham tu xa"))

    # A villager's list is their commune's; another commune's code is not theirs to cancel or open.
    mine = texts(await sm_villager.press("appt:mine"))
    assert "LH-000002" in mine and "LH-000001" not in mine
    gone = texts(await sm_villager.press("appt:cancel:999"))
    assert texts(await sm_villager.press("appt:cancel:1")) == gone
    assert texts(await sm_villager.press("appt:cancel-yes:1")) == gone
    async with database.session() as session:
        assert (await session.get(Appointment, 1)).status == "booked"  # type: ignore[union-attr]

    # On Tuesday each commune's doctors see their own day.
    now[0] = dt.datetime(2027, 3, 2, 7, 0, tzinfo=VIETNAM)
    lb_doctor, sm_doctor = await joins_in(province, "LB", "doctor"), await joins_in(province, "SM", "doctor")
    lb_today = texts(await lb_doctor.press("doctor:today"))
    sm_today = texts(await sm_doctor.press("doctor:today"))
    assert "LH-000001" in lb_today and "LH-000002" not in lb_today and "xaso-sangmoc-" not in lb_today
    assert "LH-000002" in sm_today and "LH-000001" not in sm_today and "xaso-labang-" not in sm_today
    sm_queue: list[dict[str, Any]] = await sm_doctor.say("/queue")
    today_button = next(b["label"] for r in sm_queue for b in r["buttons"] if b["data"] == "doctor:today")
    assert today_button.endswith("(1)")

    # A cancelled place leaves its commune's day; the other commune's stays.
    await sm_villager.press("appt:cancel:2")
    assert "LH-000002" in texts(await sm_villager.press("appt:cancel-yes:2"))
    assert "LH-000002" not in texts(await sm_doctor.press("doctor:today"))
    assert "LH-000001" in texts(await lb_doctor.press("doctor:today"))
