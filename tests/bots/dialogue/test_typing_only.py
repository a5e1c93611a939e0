"""Whole services done typing only, without diacritics, the way Bà Hoa writes on her cheap phone: a
dossier, a consult, an appointment, an order, a village report (and her answer to "is it fixed?"),
a rating and a subscription. Not one button is pressed; photos of papers are sent as photos. Runs
through the real web chat API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.health.appointments import Appointment
from backends.health.consults import Consult
from backends.loudspeaker.store import subscription_of
from backends.onestop.store import Dossier
from backends.reports.store import Report, resolve
from backends.shop.orders import Order
from bots.services.reports.notify import notify_reporters
from core.config import Settings
from tests.support.chat import jpeg, texts, wait_for_pushes
from tests.support.villager import MONDAY, Villager, rating_given, rating_notice

NO_115 = "Gọi ngay 115"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def typed(v: Villager, *lines: str) -> str:
    """Types each line; none of the answers may be taken for an emergency."""
    said = ""
    for line in lines:
        said = texts(await v.say(line))
        assert NO_115 not in said, (line, said)
    return said


async def test_a_birth_registration_typed_without_diacritics(client: TestClient) -> None:
    v = await Villager.open(client)
    await typed(v, "lam giay khai sinh cho con", "co", "dong y", "nguyen van an", "15/10/2025", "con trai",
                "tram y te xa la bang", "tran thi binh", "019090123456", "khong co", "xom kem xa la bang",
                "0912345678")
    for _ in range(2):  # the required papers, as photos
        await v.chat.send(jpeg())
    summary = await typed(v, "khong co")  # the optional marriage certificate
    assert "Nguyen Van An" in summary and "Nam" in summary and "bỏ qua" in summary.lower()
    receipt = await typed(v, "dung roi")
    async with v.assistant.database.session() as session:
        (dossier,) = (await session.execute(select(Dossier))).scalars()
    assert dossier.code in receipt and dossier.user_id == await v.user_id()
    assert dossier.code in await typed(v, f"ho so {dossier.code} den dau roi")


async def test_a_consult_typed_without_diacritics(client: TestClient) -> None:
    v = await Villager.open(client)
    await typed(v, "cho toi hoi bac si", "dong y", "con toi", "3 tuoi", "chau sot 38 do, ho nhieu",
                "tu hom qua", "khong co")
    ack = await typed(v, "gui di")
    async with v.assistant.database.session() as session:
        (consult,) = (await session.execute(select(Consult))).scalars()
    assert f"#{consult.id}" in ack and (consult.who, consult.age) == ("child", 3)


async def test_an_appointment_typed_without_diacritics(client: TestClient) -> None:
    v = await Villager.open(client)
    v.assistant.assembly.desk("health").set_clock(lambda: MONDAY.astimezone(dt.UTC))
    engine = v.assistant.services.nlu
    clock = engine.clock
    engine.clock = lambda: MONDAY
    try:
        await typed(v, "dat lich kham benh", "kham tai tram y te")
        confirm = await typed(v, "sang mai 8 gio ruoi")
        assert "08:30" in confirm and "02/03" in confirm
        booked = await typed(v, "dong y")
    finally:
        engine.clock = clock
    async with v.assistant.database.session() as session:
        (appointment,) = (await session.execute(select(Appointment))).scalars()
    assert appointment.code in booked
    assert appointment.starts_at.astimezone(MONDAY.tzinfo) == MONDAY.replace(day=2, hour=8, minute=30)


async def test_an_order_typed_without_diacritics(client: TestClient) -> None:
    v = await Villager.open(client)
    await typed(v, "mua hai can ruoi che bup", "nha ong tu, xom kem", "0912345678")
    summary = await typed(v, "tien mat")
    assert "2,5" in summary or "2.5" in summary
    done = await typed(v, "dong y")
    async with v.assistant.database.session() as session:
        (order,) = (await session.execute(select(Order))).scalars()
    assert order.code in done and order.user_id == await v.user_id()


async def test_a_report_and_the_answer_to_is_it_fixed_typed(client: TestClient) -> None:
    v = await Villager.open(client)
    await typed(v, "duong vao xom kem bi o ga rat to, xe may hay bi nga", "co", "khong co")
    ack = await typed(v, "xom kem")
    async with v.assistant.database.session() as session:
        (report,) = (await session.execute(select(Report))).scalars()
    assert report.code in ack and (report.kind, report.hamlet_id) == ("road", "kem")

    services = v.assistant.services
    async with v.assistant.database.session() as session:
        report = await session.get(Report, report.id)
        assert report is not None
        event = await resolve(session, services.cipher, report, staff_id=await v.user_id(), note="Đã vá",
                              photo_id=None, now=dt.datetime.now(dt.UTC))
        await notify_reporters(session, services, report, event)
    await services.outbox.wake("web")
    await wait_for_pushes(v.assistant, v.chat, lambda found: bool(found))
    assert "mở lại" in await typed(v, "chua, van con o ga")
    async with v.assistant.database.session() as session:
        reopened = await session.get(Report, report.id)
        assert reopened is not None and reopened.reopened == 1


async def test_a_rating_typed(client: TestClient) -> None:
    v = await Villager.open(client)
    await rating_notice(v)
    await typed(v, "nam sao")
    assert await rating_given(v, []) == "5"


async def test_a_subscription_typed_without_diacritics(client: TestClient) -> None:
    v = await Villager.open(client)
    await typed(v, "dang ky nhan thong bao cua xa", "xom kem")
    saved = await typed(v, "xong")
    assert "Đã lưu" in saved and "Kèm" in saved
    async with v.assistant.database.session() as session:
        row = await subscription_of(session, await v.user_id())
    assert row is not None and row.active and row.hamlets == ["kem"]
