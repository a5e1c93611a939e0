"""Doctor appointments through the real web chat API: kind → free slots → confirm → booked with a code
(and, for a remote consult, its video link); the last place taken by two villagers at once (exactly one
wins, over two database sessions and over two pipelines); the reminder the day before as a scheduled
outbox message under a controlled clock, withdrawn on cancel; "hủy lịch", "lịch của tôi"; the reason
sealed at rest; the doctors' view of today, audited."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import inspect, select, text

from backends.health.appointments import Appointment, book
from bots.assistant import Assistant
from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.identity import resolve_user
from core.messages import Incoming
from core.models import OutboxMessage
from core.outbox import Outbox
from core.timezones import VIETNAM
from tests.support.audit import audit_rows
from tests.support.chat import ChatSession, button_data, texts
from tests.support.health import MONDAY_MORNING, REMOTE_TUESDAY, set_clock
from tests.support.roles import doctor_joins

REASON = "đau lưng kéo dài, tê chân trái"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def buttons(replies: list[dict[str, Any]]) -> dict[str, str]:
    return {button["data"]: button["label"] for reply in replies for button in reply["buttons"]}


async def test_a_remote_consult_booked_in_a_few_taps(client: TestClient, database: Database) -> None:
    assistant = client.app[ASSISTANT]
    now = [MONDAY_MORNING]
    set_clock(assistant, now)
    villager = await ChatSession.open(client)

    kinds = await villager.say("tôi muốn đặt lịch khám")
    assert "appt:kind:remote" in button_data(kinds) and "appt:kind:vaccination" in button_data(kinds)
    slots = await villager.press("appt:kind:remote")
    offered = buttons(slots)
    assert f"appt:pick:{REMOTE_TUESDAY}" in offered
    assert offered[f"appt:pick:{REMOTE_TUESDAY}"] == "Thứ Ba 02/03 · 09:00 (còn 1)"
    assert any(data.startswith("appt:more:remote:") for data in offered)  # later times
    later = button_data(await villager.press(next(d for d in offered if d.startswith("appt:more:"))))
    assert f"appt:pick:{REMOTE_TUESDAY}" not in later and "appt:pick:remote:202703090900" in later
    confirm = await villager.press(f"appt:pick:{REMOTE_TUESDAY}")
    assert "Bệnh viện Đa khoa huyện" in texts(confirm) and "đồng ý" in texts(confirm).lower()
    with_reason = await villager.say(REASON)
    assert REASON in texts(with_reason) and f"appt:book:{REMOTE_TUESDAY}" in button_data(with_reason)
    booked = await villager.press(f"appt:book:{REMOTE_TUESDAY}")
    done = texts(booked)
    assert "LH-000001" in done and "Thứ Ba 02/03 · 09:00" in done and "18:00" in done
    assert "https://meet.jit.si/xaso-labang-" in done
    assert "appt:cancel:1" in button_data(booked)
    # Tapping again does not book twice.
    assert "đã có lịch này" in texts(await villager.press(f"appt:book:{REMOTE_TUESDAY}"))
    again = buttons(await villager.press("appt:kind:remote"))
    assert f"appt:pick:{REMOTE_TUESDAY}" not in again  # its one place is taken

    # The reminder waits in the outbox for 18:00 the day before, Vietnam time.
    async with database.session() as session:
        reminder = (await session.execute(select(OutboxMessage).where(
            OutboxMessage.key == "appointment-reminder:1"))).scalar_one()
    due = dt.datetime(2027, 3, 1, 18, 0, tzinfo=VIETNAM)
    assert reminder.next_attempt_at == due and reminder.status == "pending"
    sender_clock = [due - dt.timedelta(minutes=1)]
    outbox = Outbox(database, clock=lambda: sender_clock[0], cipher=assistant.services.cipher)
    assert [m.key for m in await outbox.claim("web", 10)] == []
    sender_clock[0] = due
    (claimed,) = await outbox.claim("web", 10)
    assert claimed.key == "appointment-reminder:1" and "ngày mai" in claimed.reply.text
    assert "LH-000001" in claimed.reply.text and "meet.jit.si" in claimed.reply.text
    assert "LH-000001" not in str(reminder.payload)  # sealed at rest

    # "lịch của tôi" lists it; the doctor on duty sees it today, with the reason and the link, audited.
    assert "LH-000001" in texts(await villager.say("xem lịch hẹn của tôi"))
    now[0] = dt.datetime(2027, 3, 2, 7, 0, tzinfo=VIETNAM)
    doctor = await doctor_joins(client)
    queue = await doctor.say("/queue")
    assert "doctor:today" in button_data(queue) and "(1)" in str(buttons(queue)["doctor:today"])
    today = texts(await doctor.press("doctor:today"))
    assert "09:00" in today and "LH-000001" in today and REASON in today and "meet.jit.si" in today
    assert "BN#" in today and villager.user_id not in today
    assert len(await audit_rows(database, "health.appointment_read")) == 1
    assert "không có quyền" in texts(await villager.press("doctor:today"))

    # At rest: no reason text anywhere in the database.
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        dump = []
        for table in tables:
            rows = (await connection.execute(text(f'SELECT * FROM "{table}"'))).all()  # noqa: S608
            dump.extend(str(tuple(row)) for row in rows)
    assert "health_appointments" in tables and "đau lưng" not in "\n".join(dump)


async def test_cancel_frees_the_place_and_withdraws_the_reminder(client: TestClient,
                                                                 database: Database) -> None:
    now = [MONDAY_MORNING]
    set_clock(client.app[ASSISTANT], now)
    villager = await ChatSession.open(client)
    slots = await villager.say("đặt lịch tiêm chủng cho cháu")  # the kind is understood from the words
    vaccination = [data for data in button_data(slots) if data.startswith("appt:pick:vaccination:")]
    assert vaccination and vaccination[0] == "appt:pick:vaccination:202703030730"
    await villager.press(vaccination[0])
    assert "LH-000001" in texts(await villager.press(vaccination[0].replace("pick", "book")))
    async with database.session() as session:
        assert (await session.execute(select(OutboxMessage.key).where(
            OutboxMessage.key == "appointment-reminder:1"))).first() is not None

    # Typed right under the booking, "hủy lịch" is the press of its «Hủy lịch» button: that booking.
    asked = await villager.say("hủy lịch")
    assert "Hủy lịch hẹn này?" in texts(asked) and "appt:cancel-yes:1" in button_data(asked)
    await villager.say("xin chào")
    asked = await villager.say("hủy lịch")  # later, the same words ask which booking
    assert "hủy lịch nào" in texts(asked) and "appt:cancel:1" in button_data(asked)
    sure = await villager.press("appt:cancel:1")
    assert "appt:cancel-yes:1" in button_data(sure)
    assert "Đã hủy lịch LH-000001" in texts(await villager.press("appt:cancel-yes:1"))
    async with database.session() as session:
        appointment = await session.get(Appointment, 1)
        assert appointment is not None and appointment.status == "cancelled"
        assert (await session.execute(select(OutboxMessage.key).where(
            OutboxMessage.key == "appointment-reminder:1"))).first() is None
    (audit,) = await audit_rows(database, "health.appointment_cancel")
    assert audit.detail == {"reminder_withdrawn": True}
    assert "chưa có lịch hẹn" in texts(await villager.press("appt:mine"))
    assert "Không tìm thấy" in texts(await villager.press("appt:cancel-yes:1"))  # twice: nothing more

    # Someone else's appointment, or a forged one, cannot be cancelled.
    other = await ChatSession.open(client)
    await other.press(vaccination[0])
    await other.press(vaccination[0].replace("pick", "book"))
    for forged in ("appt:cancel-yes:2", "appt:cancel-yes:abc", "appt:cancel-yes:99999999999"):
        assert "Không tìm thấy" in texts(await villager.press(forged))
    for forged in ("appt:pick:vaccination:202703030731", "appt:book:remote:199901010900", "appt:kind:x"):
        assert "LH-" not in texts(await villager.press(forged))


async def test_a_date_in_the_request_picks_the_day(client: TestClient) -> None:
    assistant = client.app[ASSISTANT]
    real_now = dt.datetime.now(VIETNAM)  # the NLU reads dates against the real clock
    set_clock(assistant, [real_now])
    villager = await ChatSession.open(client)
    message = "đặt lịch khám tại trạm thứ năm tuần sau"
    entity = assistant.services.nlu.parse(message).first("date")
    assert entity is not None
    day = dt.date.fromisoformat(entity.value)
    replies = await villager.say(message)
    kinds = await villager.press("appt:kind:station:" + day.strftime("%Y%m%d"))
    first = next(data for data in button_data(kinds) if data.startswith("appt:pick:"))
    roster = assistant.assembly.desk("health").roster
    if any(slot.starts_at.date() == day for slot in roster.slots(real_now, "station")):
        assert first.startswith(f"appt:pick:station:{day.strftime('%Y%m%d')}")
    else:
        assert "không còn giờ trống" in texts(kinds)
    assert f"appt:kind:station:{day.strftime('%Y%m%d')}" in button_data(replies)

    # A kind, a day and a time: the slot asked for comes first when the roster has it free.
    message = "đặt lịch khám thai 9 giờ thứ sáu tuần sau"
    parse = assistant.services.nlu.parse(message)
    date, time = parse.first("date"), parse.first("time")
    assert date is not None and time is not None and time.value == "09:00"
    wanted = f"appt:pick:antenatal:{date.value.replace('-', '')}0900"
    picks = [data for data in button_data(await villager.say(message)) if data.startswith("appt:pick:")]
    if any(f"appt:pick:{slot.key}" == wanted for slot in roster.slots(real_now, "antenatal")):
        assert picks[0] == wanted
    else:
        assert all(pick > wanted for pick in picks)


async def test_two_villagers_take_the_last_place_at_once_over_two_sessions(assistant: Assistant,
                                                                            database: Database) -> None:
    roster = assistant.assembly.desk("health").roster
    slot = roster.slot(REMOTE_TUESDAY, MONDAY_MORNING)
    assert slot is not None and slot.capacity == 1
    async with database.session() as session:
        users = [(await resolve_user(session, "console", f"v{n}", "vi")).id for n in (1, 2)]

    async def take(user_id: int) -> str:
        async with database.session() as session:
            result = await book(session, assistant.services.cipher, slot, user_id=user_id,
                                reason="sốt", now=MONDAY_MORNING)
            return result.outcome

    outcomes = await asyncio.gather(*(take(user_id) for user_id in users))
    assert sorted(outcomes) == ["booked", "full"]
    async with database.session() as session:
        rows = (await session.execute(select(Appointment).where(Appointment.slot_key == slot.key))).scalars()
        assert len(list(rows)) == 1


async def test_two_villagers_tap_the_last_place_at_once_through_the_pipeline(assistant: Assistant,
                                                                              database: Database) -> None:
    now = [MONDAY_MORNING]
    set_clock(assistant, now)

    async def say(who: str, message_id: str, button: str) -> str:
        outcome = await assistant.handle(Incoming(channel="console", chat_id=who, user_id=who,
                                                  message_id=message_id, button=button))
        return "\n".join(reply.text for reply in outcome.replies)

    for who in ("an", "binh"):
        assert "Xác nhận" in await say(who, f"{who}-1", f"appt:pick:{REMOTE_TUESDAY}")
    taps = (say(who, f"{who}-2", f"appt:book:{REMOTE_TUESDAY}") for who in ("an", "binh"))
    answers = await asyncio.gather(*taps)
    assert sum("Đã đặt lịch" in answer for answer in answers) == 1
    assert sum("vừa có người đặt hết chỗ" in answer for answer in answers) == 1
    loser = next(answer for answer in answers if "hết chỗ" in answer)
    assert "Thứ Ba 02/03 · 09:00" not in loser  # the slot offered again is not the full one
    async with database.session() as session:
        booked = list((await session.execute(select(Appointment))).scalars())
    assert len(booked) == 1 and booked[0].seat == 1


async def test_an_emergency_at_the_confirmation_step_is_not_taken_as_a_reason(client: TestClient) -> None:
    set_clock(client.app[ASSISTANT], [MONDAY_MORNING])
    villager = await ChatSession.open(client)
    await villager.press(f"appt:pick:{REMOTE_TUESDAY}")
    replies = await villager.say("bố tôi đau ngực dữ dội khó thở")
    assert replies[0]["text"].startswith("🚑") and "115" in replies[0]["text"]
    # The confirmation was left: the next text is understood afresh, and nothing was booked.
    assert "hủy lịch nào" not in texts(await villager.say("hủy lịch"))
    assert "chưa có lịch hẹn" in texts(await villager.press("appt:mine"))
    # English works too.
    english = await ChatSession.open(client, language="en")
    assert "Remote consult" in str(buttons(await english.say("I want to book an appointment")))


async def test_one_person_cannot_fill_the_roster(client: TestClient, database: Database) -> None:
    set_clock(client.app[ASSISTANT], [MONDAY_MORNING])
    villager = await ChatSession.open(client)
    picks = [data for data in button_data(await villager.press("appt:kind:remote"))
             if data.startswith("appt:pick:")]
    for pick in picks[:3]:
        assert "Đã đặt lịch" in texts(await villager.press(pick.replace("pick", "book")))
    refused = texts(await villager.press(picks[3].replace("pick", "book")))
    assert "3 lịch hẹn sắp tới" in refused
    async with database.session() as session:
        count = (await session.execute(select(Appointment).where(Appointment.status == "booked"))).all()
    assert len(count) == 3
    assert "Đã hủy" in texts(await villager.press("appt:cancel-yes:1"))
    assert "Đã đặt lịch" in texts(await villager.press(picks[3].replace("pick", "book")))
