"""Village reports through the real web chat API: the villager's flow (photo, location, hamlet
buttons), duplicates linked, the staff desk (list, filters, assign, resolve with a photo), the
reporter confirming or reopening, notices through the outbox, roles, bad input, /mydata."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text, update

from backends.reports.kinds import recognise
from backends.reports.store import Report, ReportLink, distance_m
from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.identity import find_user
from core.models import Media
from tests.support.audit import audit_rows
from tests.support.chat import ChatSession, button_data, jpeg, texts, wait_for_pushes
from tests.support.reports import KEM, LA_CUT, OUTSIDE, consented, report_by_location
from tests.support.roles import staff_joins


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def near(point: tuple[float, float], north_m: float) -> dict[str, dict[str, float]]:
    return {"location": {"lat": point[0] + north_m / 111_195, "lon": point[1]}}


async def pushed(client: TestClient, chat: ChatSession, count: int, needle: str = "",
                 seen: int = 0) -> list[dict[str, Any]]:
    """The notices pushed to `chat` after the first `seen`, once `count` of them hold `needle`: the
    background sender may have a notice in flight when a flush returns, so this waits (up to 5 s)."""
    def holding(notices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [n for n in notices[seen:] if needle in n["text"]]

    found = holding(await wait_for_pushes(client.app[ASSISTANT], chat,
                                          lambda notices: len(holding(notices)) >= count, 5))
    if len(found) < count:
        raise AssertionError(f"{count} notices with {needle!r} expected, got {found}")
    return found


async def reports(database: Database) -> list[Report]:
    async with database.session() as session:
        return list((await session.execute(select(Report).order_by(Report.id))).scalars())


@pytest.mark.parametrize(("words", "kind"), [
    ("đường vào xóm bị sụt", "road"), ("duong xom trai bi hong", "road"), ("ổ gà to", "road"),
    ("mất điện cả xóm", "power"), ("mat dien tu sang", "power"), ("đèn đường hỏng", "power"),
    ("nước máy bị mất", "water"), ("nuoc gieng duc", "water"),
    ("rác thải đổ bừa bãi", "waste"), ("rac vut bua bai", "waste"),
    ("sạt lở đất sau nhà", "landslide"), ("sat lo duong", "landslide"),
    ("cây đổ chắn đường", "fallen_tree"), ("cay do", "fallen_tree"),
    ("đốt rơm khói mù mịt", "burning"), ("dot rom", "burning"),
    ("hàng xóm hát karaoke ồn", "noise"), ("ồn", "noise"), ("on qua dem khuya", "noise"),
    ("a fallen tree on the road", "fallen_tree"), ("power cut", "power"),
    ("việc khác", "other"), ("xin chào", None),
])
def test_kinds_are_recognised_with_and_without_diacritics(words: str, kind: str | None) -> None:
    assert recognise(words) == kind


def test_distance_is_in_metres() -> None:
    assert 110 < distance_m(21.675, 105.59, 21.676, 105.59) < 112


async def test_report_with_photo_and_location(client: TestClient, database: Database) -> None:
    official = await staff_joins(client)
    villager = await ChatSession.open(client)
    asked = await villager.say("mất điện cả xóm từ sáng đến giờ")
    assert "đồng ý" in texts(asked).lower()
    assert button_data(asked) == ["report:consent:yes", "report:consent:no"]
    photo_step = await villager.press("report:consent:yes")
    assert "ảnh" in texts(photo_step) and "report:skip-photo" in button_data(photo_step)
    place = (await villager.send(jpeg()))["replies"]
    assert place[0]["request_location"] is True
    assert {f"report:hamlet:{h}" for h in ("kem", "la_cut", "tien_thanh")} <= set(button_data(place))
    ack = texts((await villager.send({"location": {"lat": KEM[0], "lon": KEM[1]}}))["replies"])
    assert "PA-000001" in ack and "Xóm Kèm" in ack and "Điện" in ack

    (report,) = await reports(database)
    assert (report.code, report.kind, report.hamlet_id) == ("PA-000001", "power", "kem")
    assert report.status == "open"
    assert (report.lat, report.lon) == KEM and report.photo_id and report.channel == "web"
    async with database.session() as session:
        raw = (await session.execute(text("SELECT description_enc FROM village_reports"))).scalar_one()
        photo = await session.get(Media, report.photo_id)
    assert "mất điện" not in raw and photo is not None and photo.content_type == "image/jpeg"
    new = await pushed(client, official, 1)
    assert len(new) == 1 and "PA-000001" in new[0]["text"] and "Xóm Kèm" in new[0]["text"]
    assert "report-admin:assign:PA-000001" in [b["data"] for b in new[0]["buttons"]]
    assert [row.outcome for row in await audit_rows(database, "report.open")] == ["ok"]
    # Consent is asked once: the next report starts straight away.
    assert "report:consent:yes" not in button_data(await villager.say("cây đổ"))


async def test_report_with_kind_and_hamlet_buttons(client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    kinds = await consented(villager, "tôi muốn phản ánh")
    assert {f"report:kind:{k}" for k in ("road", "power", "water", "waste", "landslide", "fallen_tree",
                                         "burning", "noise", "other")} <= set(button_data(kinds))
    assert "tả" in texts(await villager.press("report:kind:road"))
    assert "report:skip-photo" in button_data(await villager.say("Ổ gà rất to trước cổng nhà văn hóa"))
    assert "report:hamlet:la_cut" in button_data(await villager.press("report:skip-photo"))
    ack = texts(await villager.press("report:hamlet:la_cut"))
    assert "PA-000001" in ack and "Xóm La Cút" in ack
    (report,) = await reports(database)
    assert (report.kind, report.hamlet_id, report.lat, report.photo_id) == ("road", "la_cut", None, None)
    # The hamlet typed by name, without diacritics, works too.
    await villager.say("cây đổ chắn ngang đường liên xóm")
    await villager.press("report:skip-photo")
    assert "PA-000002" in texts(await villager.say("xom kem"))


async def test_declining_consent_stores_nothing(client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    await villager.say("rác thải đổ bừa bãi cạnh suối")
    declined = texts(await villager.press("report:consent:no"))
    assert "0208 3820 123" in declined
    assert await reports(database) == []


async def test_duplicates_are_linked_not_multiplied(client: TestClient, database: Database) -> None:
    official = await staff_joins(client)
    first, second, third, fourth = [await ChatSession.open(client) for _ in range(4)]
    assert "PA-000001" in await report_by_location(first, "rác thải đổ bừa bãi cạnh suối", KEM, photo=True)
    linked = await report_by_location(second, "rác vứt bừa bãi", near(KEM, 150))
    assert "PA-000001" in linked and "đã có người phản ánh" in linked
    assert "PA-000002" in await report_by_location(third, "phan anh ve rac thai", near(KEM, 1500))
    # Without a location, the same hamlet within the time window is the same problem.
    await consented(fourth, "rác đổ thành đống ở đầu xóm kèm")
    await fourth.press("report:skip-photo")
    assert "PA-000001" in texts(await fourth.press("report:hamlet:kem"))
    # Reporting one's own problem again is recognised, not linked twice.
    again = await report_by_location(first, "rác thải đổ bừa bãi cạnh suối", near(KEM, 20))
    assert "đã phản ánh việc này rồi" in again and "PA-000001" in again
    # Another kind at the same place is another problem.
    assert "PA-000003" in await report_by_location(second, "mất điện cả xóm từ sáng", KEM)

    rows = await reports(database)
    assert [r.code for r in rows] == ["PA-000001", "PA-000002", "PA-000003"]
    async with database.session() as session:
        links = list((await session.execute(select(ReportLink))).scalars())
    assert len(links) == 2 and all(link.user_id for link in links)
    new = await pushed(client, official, 3)
    assert len(new) == 3  # staff hear of each new report once, not of linked ones

    # Past the time window, the same place makes a new report.
    async with database.session() as session:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=49)
        await session.execute(update(Report).values(created_at=long_ago))
    assert "PA-000004" in await report_by_location(third, "rác thải lại đổ bừa bãi", KEM)


async def test_staff_assign_resolve_reporter_reopens_then_confirms(client: TestClient,
                                                                   database: Database) -> None:
    official = await staff_joins(client)
    reporter, neighbour, stranger = [await ChatSession.open(client) for _ in range(3)]
    await report_by_location(reporter, "rác thải đổ bừa bãi cạnh suối", KEM, photo=True)
    await report_by_location(neighbour, "rác vứt bừa bãi", near(KEM, 50))
    seen = len(await pushed(client, official, 1))

    listing = await official.say("/reports")
    assert "PA-000001" in texts(listing) and "+1" in texts(listing)
    assert {"report-admin:assign:PA-000001", "report-admin:resolve:PA-000001",
            "report-admin:filter:hamlet", "report-admin:filter:kind"} <= set(button_data(listing))
    view = texts(await official.press("report-admin:open:PA-000001"))
    assert "rác thải đổ bừa bãi cạnh suối" in view and "/media/" in view and "21.67500" in view

    assert "nhận xử lý" in texts(await official.press("report-admin:assign:PA-000001"))
    for chat in (reporter, neighbour):
        (notice,) = await pushed(client, chat, 1)
        assert "PA-000001" in notice["text"] and "có cán bộ nhận" in notice["text"]

    assert "kết quả" in texts(await official.press("report-admin:resolve:PA-000001")).lower()
    assert "Đã nhận ảnh" in texts((await official.send(jpeg((200, 50, 50))))["replies"])
    done = texts(await official.say("Đã thuê xe chở hết rác, dọn sạch bờ suối"))
    assert "PA-000001" in done and "2" in done
    for chat in (reporter, neighbour):
        (notice,) = await pushed(client, chat, 1, "dọn sạch bờ suối")
        assert notice["image_url"]
        answers = [b["data"] for b in notice["buttons"]]
        assert answers == ["report:fixed:PA-000001", "report:notfixed:PA-000001"]

    # A stranger cannot answer for the reporters.
    assert "không phải của bạn" in texts(await stranger.press("report:notfixed:PA-000001"))
    assert "mở lại" in texts(await reporter.press("report:notfixed:PA-000001"))
    (report,) = [r for r in await reports(database) if r.code == "PA-000001"]
    assert (report.status, report.reopened, report.resolved_at) == ("assigned", 1, None)
    await pushed(client, official, 1, "CHƯA khắc phục", seen)
    await pushed(client, neighbour, 1, "mở lại")
    # The neighbour's late answer to the old resolution changes nothing.
    assert "không cần xác nhận" in texts(await neighbour.press("report:fixed:PA-000001"))

    await official.press("report-admin:resolve:PA-000001")
    await official.say("Đã dọn lần hai và cắm biển cấm đổ rác")
    assert "khép lại" in texts(await reporter.press("report:fixed:PA-000001"))
    (report,) = [r for r in await reports(database) if r.code == "PA-000001"]
    assert report.status == "closed" and report.closed_at is not None
    await pushed(client, official, 1, "Người báo xác nhận", seen)
    assert "Không có phản ánh nào" in texts(await official.say("/reports"))
    refused = texts(await official.press("report-admin:assign:PA-000001"))
    assert "Không làm được" in refused

    async with database.session() as session:
        staff = await find_user(session, "web", official.user_id)
    assert staff is not None
    staff_id = f"user:{staff.id}"
    for action in ("report.assign", "report.resolve", "report.view", "report.queue"):
        assert any(row.actor == staff_id for row in await audit_rows(database, action)), action
    assert [r.outcome for r in await audit_rows(database, "report.reopen")] == ["deny", "ok"]


async def test_staff_filters_by_hamlet_and_kind(client: TestClient) -> None:
    official = await staff_joins(client)
    villager = await ChatSession.open(client)
    await report_by_location(villager, "rác thải đổ bừa bãi cạnh suối", KEM)
    await report_by_location(villager, "mất điện cả xóm từ sáng", LA_CUT)
    hamlets = await official.press("report-admin:filter:hamlet")
    assert "report-admin:list:h=kem" in button_data(hamlets)
    only_kem = texts(await official.press("report-admin:list:h=kem"))
    assert "PA-000001" in only_kem and "PA-000002" not in only_kem
    kinds = await official.press("report-admin:filter:kind")
    assert "report-admin:list:k=power" in button_data(kinds)
    only_power = texts(await official.press("report-admin:list:k=power"))
    assert "PA-000002" in only_power and "PA-000001" not in only_power
    assert "PA-000002" in texts(await official.say("/reports xom la cut"))
    assert "PA-000001" not in texts(await official.say("/reports mất điện"))
    assert "Không có phản ánh nào" in texts(await official.press("report-admin:list:k=noise"))
    assert "Mất điện" in texts(await official.say("/reports pa-000002")) or "mất điện" in texts(
        await official.say("/reports pa-000002"))
    assert "Không có phản ánh PA-999999" in texts(await official.say("/reports PA-999999"))


async def test_roles_citizens_cannot_use_the_staff_desk(client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    await report_by_location(villager, "rác thải đổ bừa bãi cạnh suối", KEM)
    assert "không có quyền" in texts(await villager.say("/reports"))
    assert "không có quyền" in texts(await villager.say("/stats"))
    for forged in ("report-admin:assign:PA-000001", "report-admin:resolve:PA-000001", "report-admin:list"):
        assert "không có quyền" in texts(await villager.press(forged))
    (report,) = await reports(database)
    assert report.status == "open" and report.assignee_id is None
    denied = [row for row in await audit_rows(database, "authorize") if row.outcome == "deny"]
    assert len(denied) >= 5


async def test_bad_input_gets_a_polite_answer(client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    await consented(villager, "tôi muốn phản ánh")
    assert "chưa rõ" in texts(await villager.say("abc xyz"))
    assert "đã cũ" in texts(await villager.press("report:kind:volcano"))
    await villager.press("report:kind:water")
    assert "rõ hơn" in texts(await villager.say("!"))
    assert "dài quá" in texts(await villager.say("nước " * 300))
    await villager.say("Ống nước chính bị vỡ, nước chảy tràn ra đường")
    assert "cần một ảnh" in texts(await villager.say("ảnh đây"))
    bad = {"attachment": {"filename": "a.jpg", "content_type": "image/jpeg", "data": "bm90IGFuIGltYWdl"}}
    refused = (await villager.send(bad))["replies"]
    assert "report:skip-photo" in button_data(refused)
    await villager.press("report:skip-photo")
    outside = (await villager.send({"location": {"lat": OUTSIDE[0], "lon": OUTSIDE[1]}}))["replies"]
    assert "ngoài địa bàn" in texts(outside) and "report:hamlet:kem" in button_data(outside)
    assert "không tìm thấy xóm" in texts(await villager.say("xóm không có thật"))
    assert "Đã hủy phản ánh" in texts(await villager.say("hủy"))
    assert await reports(database) == []
    assert "đã xong hoặc đã hủy" in texts(await villager.press("report:hamlet:kem"))
    assert "không phải của bạn" in texts(await villager.press("report:fixed:PA-000042"))
    assert "không phải của bạn" in texts(await villager.press("report:fixed:"))


async def test_mydata_exports_and_deletion_deidentifies(client: TestClient, database: Database) -> None:
    official = await staff_joins(client)
    villager, neighbour = await ChatSession.open(client), await ChatSession.open(client)
    await report_by_location(villager, "rác thải đổ bừa bãi cạnh suối", KEM, photo=True)
    await report_by_location(neighbour, "rác vứt bừa bãi", near(KEM, 30))
    (reply,) = await villager.press("mydata:export")
    url = urlsplit(reply["document_url"])
    exported = json.loads(await (await client.get(f"{url.path}?{url.query}")).read())
    (mine,) = exported["reports"]
    assert mine["code"] == "PA-000001" and mine["role"] == "reporter" \
        and mine["description"] == "rác thải đổ bừa bãi cạnh suối"

    (report,) = await reports(database)
    await villager.press("mydata:delete")
    assert "phản ánh" in texts(await villager.press("mydata:delete-confirm"))
    await neighbour.press("mydata:delete")
    await neighbour.press("mydata:delete-confirm")
    (kept,) = await reports(database)
    assert kept.code == "PA-000001" and kept.reporter_id is None and kept.photo_id == report.photo_id
    async with database.session() as session:
        photo = await session.get(Media, report.photo_id)
        links = list((await session.execute(select(ReportLink))).scalars())
    assert photo is not None and photo.owner_id is None
    assert [link.user_id for link in links] == [None]
    assert "rác thải đổ bừa bãi cạnh suối" in texts(await official.say("/reports PA-000001"))
    await official.press("report-admin:resolve:PA-000001")
    assert "báo 0 người dân" in texts(await official.say("Đã dọn sạch"))


async def test_simultaneous_reports_of_one_problem_make_one_report(client: TestClient,
                                                                   database: Database) -> None:
    villagers = [await ChatSession.open(client) for _ in range(4)]
    for villager in villagers:
        await consented(villager, "cây đổ chắn ngang đường liên xóm")
        assert "report:hamlet:kem" in button_data(await villager.press("report:skip-photo"))
    sends = (villager.send(near(KEM, 10 * n)) for n, villager in enumerate(villagers))
    answers = await asyncio.gather(*sends)
    codes = [re.findall(r"PA-\d{6}", texts(answer["replies"])) for answer in answers]
    assert codes == [["PA-000001"]] * 4
    assert len(await reports(database)) == 1
    async with database.session() as session:
        assert len(list((await session.execute(select(ReportLink))).scalars())) == 3


async def test_a_danger_to_life_in_a_report_gets_115_first(client: TestClient) -> None:
    official = await staff_joins(client)
    villager = await ChatSession.open(client)
    await consented(villager, "tôi muốn phản ánh")
    await villager.press("report:kind:landslide")
    replies = await villager.say("Sạt lở đất vùi nhà, có người bị đè không thở được")
    assert "115" in replies[0]["text"] and "report:skip-photo" in button_data(replies)
    await pushed(client, official, 1, "KHẨN CẤP")
    await villager.press("report:skip-photo")
    assert "PA-000001" in texts(await villager.press("report:hamlet:kem"))


async def test_location_first_and_an_extra_photo_lose_nothing(client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    await consented(villager, "tôi muốn phản ánh")
    asked = (await villager.send({"location": {"lat": LA_CUT[0], "lon": LA_CUT[1]}}))["replies"]
    assert "report:kind:road" in button_data(asked)  # the place is kept; the kind is still needed
    await villager.press("report:kind:noise")
    assert "tả" in texts((await villager.send(jpeg()))["replies"])  # the photo is kept; words next
    waiting = texts((await villager.send(jpeg((1, 2, 3))))["replies"])
    assert "vẫn đang chờ" in waiting and "tả" in waiting
    ack = texts(await villager.say("Quán karaoke mở loa to đến 1 giờ sáng"))
    assert "PA-000001" in ack and "Xóm La Cút" in ack
    (report,) = await reports(database)
    assert (report.kind, report.hamlet_id, report.lat) == ("noise", "la_cut", LA_CUT[0]) and report.photo_id
