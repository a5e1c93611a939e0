"""Village reports in a province's installation (La Bằng LB, Sảng Mộc SM): each report is its commune's
(`commune`), offers that commune's hamlets, is linked only to a duplicate of the same commune, is listed
and handled by that commune's staff only (another commune's code is "not found"), and its notice goes
to that commune's staff only. Digital address codes place a location in the villager's own commune."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.addresses.hamlets import Hamlets
from backends.reports import queries
from backends.reports.store import Place, Report, find_duplicate, open_report, report_by_code
from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.models import User
from core.province import Province
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, button_data, pushed_now, texts
from tests.support.communes import PROVINCE, joins_in, villager_in
from tests.support.served import served_client

LANG_MUOI = (21.8723, 106.1175)  # inside Xóm Làng Mười (data/communes/SM/commune.yml)
KEM = (21.675, 105.59)  # inside Xóm Kèm (data/communes/LB/commune.yml)


@pytest.fixture
async def province(settings: Settings, database: Database,
                   nlu_engine: NLUEngine) -> AsyncIterator[TestClient]:
    served = settings.model_copy(update=PROVINCE)
    async with served_client(served, database, nlu_engine) as client:
        yield client


async def report_typed(chat: ChatSession, words: str, hamlet: str) -> list[dict]:
    """A report typed without diacritics: what is wrong, no photo, the hamlet by name."""
    replies = await chat.say(words)
    if "report:consent:yes" in button_data(replies):
        replies = await chat.press("report:consent:yes")
    assert "report:skip-photo" in button_data(replies), texts(replies)
    place = await chat.say("khong")
    assert place and place[0]["request_location"] is True
    offered = await chat.say(hamlet)
    return [*place, *offered]


async def reports(database: Database) -> list[Report]:
    async with database.session() as session:
        return list((await session.execute(select(Report).order_by(Report.id))).scalars())


async def test_each_commune_reports_to_its_own_staff(province: TestClient, database: Database) -> None:
    lb_staff, sm_staff = await joins_in(province, "LB", "staff"), await joins_in(province, "SM", "staff")
    sm_villager, lb_villager = await villager_in(province, "SM"), await villager_in(province, "LB")

    replies = await report_typed(sm_villager, "mat dien ca xom tu sang den gio", "xom lang muoi")
    offered = button_data(replies[:1])
    assert "report:hamlet:lang_muoi" in offered and "report:hamlet:tan_kim" in offered
    assert not [data for data in offered if data in ("report:hamlet:kem", "report:hamlet:la_cut")]
    ack = texts(replies[1:])
    assert "PA-000001" in ack and "Xóm Làng Mười" in ack
    replies = await report_typed(lb_villager, "mat dien ca xom tu sang den gio", "xom kem")
    assert "report:hamlet:kem" in button_data(replies[:1])
    assert "report:hamlet:lang_muoi" not in button_data(replies[:1])
    assert "PA-000002" in texts(replies[1:]) and "Xóm Kèm" in texts(replies[1:])
    # A hamlet of the other commune, typed, is not one of this commune's.
    other = await villager_in(province, "SM")
    place = await report_typed(other, "cay do chan ngang duong lien xom", "xom kem")
    assert "PA-" not in texts(place[1:]) and "report:hamlet:lang_muoi" in button_data(place[1:])

    sm_report, lb_report = await reports(database)
    assert (sm_report.code, sm_report.commune, sm_report.hamlet_id) == ("PA-000001", "SM", "lang_muoi")
    assert (lb_report.code, lb_report.commune, lb_report.hamlet_id) == ("PA-000002", "LB", "kem")

    # Notices: each commune's staff hear of their commune's report only.
    sm_notices = [n["text"] for n in await pushed_now(province, sm_staff) if "Phản ánh mới" in n["text"]]
    lb_notices = [n["text"] for n in await pushed_now(province, lb_staff) if "Phản ánh mới" in n["text"]]
    assert len(sm_notices) == 1 and "PA-000001" in sm_notices[0] and "Xóm Làng Mười" in sm_notices[0]
    assert len(lb_notices) == 1 and "PA-000002" in lb_notices[0] and "Xóm Kèm" in lb_notices[0]

    # The lists: each commune's staff see their own only.
    sm_list = texts(await sm_staff.say("/reports"))
    assert "1 phản ánh đang mở" in sm_list and "PA-000001" in sm_list and "PA-000002" not in sm_list
    lb_list = texts(await lb_staff.say("/reports"))
    assert "1 phản ánh đang mở" in lb_list and "PA-000002" in lb_list and "PA-000001" not in lb_list
    assert "PA-000001" in texts(await sm_staff.say("/reports lang muoi"))
    assert texts(await lb_staff.say("/reports lang muoi")).startswith("Dùng: /reports")  # not LB's hamlet

    # LB staff naming SM's code, typed or with forged buttons: "not found", nothing changed.
    assert texts(await lb_staff.say("/reports PA-000001")) == "Không có phản ánh PA-000001."
    for action in ("open", "assign", "resolve"):
        refused = texts(await lb_staff.press(f"report-admin:{action}:PA-000001"))
        assert refused == "Không có phản ánh PA-000001.", (action, refused)
    assert texts(await lb_staff.say("/reports PA-000003")) == "Không có phản ánh PA-000003."
    async with database.session() as session:
        kept = await session.get(Report, sm_report.id)
        assert kept is not None and (kept.status, kept.assignee_id) == ("open", None)

    # SM staff take their own report.
    taken = texts(await sm_staff.press("report-admin:assign:PA-000001"))
    assert "Bạn đã nhận xử lý phản ánh PA-000001" in taken
    shown = texts(await sm_staff.say("/reports PA-000001"))
    assert "Xóm Làng Mười" in shown and "mat dien" in shown


async def test_duplicates_are_linked_within_a_commune_only(province: TestClient, database: Database) -> None:
    first, second = await villager_in(province, "SM"), await villager_in(province, "SM")
    assert "PA-000001" in texts(await report_typed(first, "mat dien ca xom tu sang", "xom lang muoi"))
    linked = texts(await report_typed(second, "mat dien ca xom tu toi qua", "lang muoi"))
    assert "đã có người phản ánh, mã PA-000001" in linked
    lb = await villager_in(province, "LB")
    assert "PA-000002" in texts(await report_typed(lb, "mat dien ca xom tu sang", "xom kem"))
    made = [(r.code, r.commune) for r in await reports(database)]
    assert made == [("PA-000001", "SM"), ("PA-000002", "LB")]

    # The same place and kind in another commune is never its duplicate (the store, directly).
    assistant = province.app[ASSISTANT]
    now = dt.datetime.now(dt.UTC)
    place = Place("lang_muoi", *LANG_MUOI)
    async with database.session() as session:
        reporter = (await session.execute(select(User.id).where(User.external_id == first.user_id))
                    ).scalar_one()
        made, _ = await open_report(session, assistant.services.cipher, kind="water", description="nuoc duc",
                                    photo_id=None, place=place, reporter_id=reporter, channel="web", now=now,
                                    commune="SM")
        found = await find_duplicate(session, commune="SM", kind="water", place=place, now=now,
                                     metres=200, hours=24)
        assert found is not None and found.code == made.code
        assert await find_duplicate(session, commune="LB", kind="water", place=place, now=now,
                                    metres=200, hours=24) is None
        assert await report_by_code(session, made.code, commune="LB") is None
        assert (await report_by_code(session, made.code, commune="SM")) is not None
        _, sm_open = await queries.open_reports(session, commune="SM")
        _, lb_open = await queries.open_reports(session, commune="LB")
        _, all_open = await queries.open_reports(session, commune=None)
        assert (sm_open, lb_open, all_open) == (2, 1, 3)
        assert (await queries.counts_by_status(session, commune="LB"))["open"] == 1
        assert await queries.open_by_hamlet_and_kind(session, commune="SM") == {
            ("lang_muoi", "power"): 1, ("lang_muoi", "water"): 1}
        await session.commit()


async def test_address_codes_place_a_location_in_the_villagers_own_commune(province: TestClient) -> None:
    sm, lb = await villager_in(province, "SM"), await villager_in(province, "LB")
    saved = texts((await sm.send({"location": {"lat": LANG_MUOI[0], "lon": LANG_MUOI[1]}}))["replies"])
    assert "Xóm Làng Mười" in saved
    assert "Xóm Làng Mười" in texts(await sm.say("ma dia chi cua toi"))
    # A point in the other commune names none of this commune's hamlets, nor the other's.
    outside = texts((await lb.send({"location": {"lat": LANG_MUOI[0], "lon": LANG_MUOI[1]}}))["replies"])
    assert "ngoài các xóm của xã" in outside and "Làng Mười" not in outside
    inside = texts((await lb.send({"location": {"lat": KEM[0], "lon": KEM[1]}}))["replies"])
    assert "Xóm Kèm" in inside


def test_each_communes_hamlets_resolve_only_their_own() -> None:
    province = Province.load(Settings(_env_file=None, communes="LB,SM"))
    sang_moc, la_bang = province.get("SM"), province.get("LB")
    assert sang_moc is not None and la_bang is not None
    sm, lb = Hamlets.from_commune(sang_moc), Hamlets.from_commune(la_bang)
    assert sm.get("lang_muoi") is not None and lb.get("lang_muoi") is None
    assert lb.get("kem") is not None and sm.get("kem") is None
    located = sm.locate(*LANG_MUOI)
    assert located is not None and located.id == "lang_muoi" and lb.locate(*LANG_MUOI) is None
    assert sm.locate(*KEM) is None
