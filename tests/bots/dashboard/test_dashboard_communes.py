"""The dashboard and /stats of a province's installation (XASO_COMMUNES=LB,SM): a commune's staff see
their commune's records alone, whatever the address asks for; the province's read-only role sees every
commune, chooses one, compares them side by side, and acts on none."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bots.server import ASSISTANT
from core.config import Settings
from core.models import OutboxMessage, User
from core.outbox import DEAD
from tests.support.chat import texts
from tests.support.communes import PROVINCE, villager_in
from tests.support.dashboard import (
    COMMUNE_RECORDS,
    commune_records,
    dead_letter_pending,
    logged_in_staff,
    member,
)

LB, SM = COMMUNE_RECORDS["LB"], COMMUNE_RECORDS["SM"]
MAP_DATA = re.compile(r'<script type="application/json" id="map-data">(.*?)</script>', re.S)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=PROVINCE)


@pytest.fixture
def province(client: TestClient) -> TestClient:
    """The service serving both communes: the `client` fixture, with the settings above."""
    return client


async def records(client: TestClient) -> None:
    await commune_records(client)
    await dead_letter_pending(client)  # each commune's villager has one dead letter


async def stats(client: TestClient, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/api/stats{query}")
    assert response.status == 200
    return await response.json()


def open_figures(data: dict[str, Any]) -> tuple[int, int, int, int, int]:
    sections = data["sections"]
    return (sections["dossiers"]["figures"]["open"], sections["dossiers"]["figures"]["overdue"],
            sections["reports"]["figures"]["open"], sections["orders"]["figures"]["open"],
            sections["consults"]["figures"]["waiting"])


def shows_only(body: str, mine: Any, other: Any) -> None:
    for code in mine.codes:
        assert code in body, code
    for code in other.codes:
        assert code not in body, code


def row(body: str, code: str) -> str:
    """The cells of commune `code`'s row in the province's table ("all": the total)."""
    found = re.search(rf'<tr id="commune-{code}"[^>]*>(.*?)</tr>', body, re.S)
    assert found is not None, code
    return found.group(1)


def map_data(body: str) -> dict[str, Any]:
    found = MAP_DATA.search(body)
    assert found is not None
    return json.loads(found.group(1).replace("<\\/", "</"))


async def dead_ids(client: TestClient) -> dict[str, int]:
    async with client.app[ASSISTANT].database.session() as session:
        rows = await session.execute(select(User.commune, OutboxMessage.id).join(
            User, User.id == OutboxMessage.user_id).where(OutboxMessage.status == DEAD))
        return {str(commune): int(message) for commune, message in rows}


async def test_a_communes_staff_see_their_commune_alone(province: TestClient) -> None:
    await records(province)
    _chat, csrf = await logged_in_staff(province, commune="LB")
    page = await province.get("/dashboard")
    body = await page.text()
    assert page.status == 200
    shows_only(body, LB, SM)
    assert '<span class="place" id="place">Xã La Bằng</span>' in body and "Sảng Mộc" not in body
    assert 'id="communes"' not in body and 'id="province"' not in body  # no choice, no comparison
    data = await stats(province)
    assert data["commune"] == "Xã La Bằng" and data["code"] == "LB" and "communes" not in data
    assert open_figures(data) == (2, 1, 1, 1, 1)
    assert data["sections"]["dossiers"]["items"] == list(LB.dossiers)
    assert data["sections"]["reports"]["items"] == list(LB.reports)
    assert data["sections"]["orders"]["items"] == list(LB.orders)
    assert data["sections"]["outbox"]["figures"]["dead"] == 1
    # The map: La Bằng's hamlets, its report in its hamlet, Sảng Mộc's outlines nowhere.
    assert data["map"]["layers"]["reports"] == {"by_hamlet": {"kem": 1}, "unplaced": 0}
    assert data["map"]["layers"]["dossiers"] == {"by_hamlet": {}, "unplaced": 2}
    drawn = map_data(await (await province.get("/dashboard/map")).text())
    hamlets = {hamlet["id"] for hamlet in drawn["hamlets"]}
    assistant = province.app[ASSISTANT]
    assert hamlets == {hamlet.id for hamlet in assistant.communes["LB"].services.commune.hamlets}
    assert "khuoi_meo" not in hamlets and "kem" in hamlets
    # Dead letters: La Bằng's villager's, not Sảng Mộc's; the other's cannot be replayed.
    dead = await dead_ids(province)
    letters = await (await province.get("/dashboard/deadletters")).text()
    assert f'id="dead-{dead["LB"]}"' in letters and f'id="dead-{dead["SM"]}"' not in letters
    refused = await province.post(f"/dashboard/deadletters/{dead['SM']}/replay", data={"csrf": csrf})
    assert refused.status == 404
    assert (await dead_ids(province))["SM"] == dead["SM"]  # still dead
    done = await province.post(f"/dashboard/deadletters/{dead['LB']}/replay", data={"csrf": csrf},
                               allow_redirects=False)
    assert done.status == 303 and "LB" not in await dead_ids(province)


async def test_asking_for_another_commune_shows_ones_own(province: TestClient) -> None:
    await records(province)
    await logged_in_staff(province, commune="LB")
    for path in ("/dashboard?commune=SM", "/dashboard/map?commune=SM", "/dashboard/deadletters?commune=SM"):
        body = await (await province.get(path)).text()
        for code in SM.codes:
            assert code not in body, (path, code)
        assert "Xã La Bằng" in body and "Sảng Mộc" not in body and "khuoi_meo" not in body, path
    assert "LB-2026-000001" in await (await province.get("/dashboard?commune=SM")).text()
    for query in ("?commune=SM", "?commune=", "?commune=XX"):
        data = await stats(province, query)
        assert data["code"] == "LB" and open_figures(data) == (2, 1, 1, 1, 1), query


async def test_sang_mocs_staff_see_sang_moc(province: TestClient) -> None:
    await records(province)
    await logged_in_staff(province, commune="SM")
    body = await (await province.get("/dashboard?commune=LB")).text()
    shows_only(body, SM, LB)
    assert '<span class="place" id="place">Xã Sảng Mộc</span>' in body
    data = await stats(province, "?commune=LB")
    assert data["code"] == "SM" and open_figures(data) == (3, 2, 2, 2, 2)
    assert data["map"]["layers"]["reports"] == {"by_hamlet": {"khuoi_meo": 2}, "unplaced": 0}
    # The audit log: what Sảng Mộc's people did (their logins), none of La Bằng's.
    await logged_in_staff(province, commune="LB")  # now this client's session is La Bằng's
    async with province.app[ASSISTANT].database.session() as session:
        sm_staff = await session.scalar(select(User.id).where(User.commune == "SM", User.channel == "web"))
        lb_staff = await session.scalar(select(User.id).where(User.commune == "LB", User.channel == "web"))
    audit = await (await province.get("/dashboard/audit?action=dashboard.login")).text()
    assert f"user:{lb_staff}" in audit and f"user:{sm_staff}" not in audit


async def test_the_province_sees_every_commune_and_acts_on_none(province: TestClient) -> None:
    await records(province)
    sm_villager = await villager_in(province, "SM")
    await sm_villager.say("/start")
    _chat, csrf = await logged_in_staff(province, "province", commune="LB")  # /join, /dashboard
    body = await (await province.get("/dashboard")).text()
    for code in (*LB.codes, *SM.codes):
        assert code in body, code
    assert '<span class="place" id="place">Toàn tỉnh</span>' in body
    assert 'href="?commune=SM" data-commune="SM"' in body and 'data-commune="LB"' in body
    assert 'data-commune="" aria-current=true class=active>Toàn tỉnh</a>' in body
    # Side by side: each commune's row, with its own counts, and the province's total.
    rows = {code: row(body, code) for code in ("LB", "SM", "all")}
    cells = {code: dict(re.findall(r'<td data-key="(\w+)"[^>]*>(\d+)</td>', found))
             for code, found in rows.items()}
    assert cells["LB"] == {"messages_today": "2", "messages_week": "2", "dossiers_open": "2",
                           "dossiers_overdue": "1", "consults_waiting": "1", "reports_open": "1",
                           "orders_open": "1"}
    assert cells["SM"] == {"messages_today": "1", "messages_week": "1", "dossiers_open": "3",
                           "dossiers_overdue": "2", "consults_waiting": "2", "reports_open": "2",
                           "orders_open": "2"}
    assert cells["all"]["dossiers_open"] == "5" and cells["all"]["orders_open"] == "3"
    assert ">Xã La Bằng</a>" in rows["LB"] and ">Xã Sảng Mộc</a>" in rows["SM"]
    data = await stats(province)
    assert data["code"] is None and open_figures(data) == (5, 3, 3, 3, 3)
    assert data["communes"]["SM"]["reports_open"] == 2 and data["communes"]["LB"]["reports_open"] == 1
    # The filter: one commune at a time.
    only_sm = await (await province.get("/dashboard?commune=SM")).text()
    shows_only(only_sm, SM, LB)
    assert '<span class="place" id="place">Xã Sảng Mộc</span>' in only_sm and 'id="province"' not in only_sm
    assert 'href="/dashboard/map?commune=SM"' in only_sm  # the choice carried to the other pages
    assert open_figures(await stats(province, "?commune=SM")) == (3, 2, 2, 2, 2)
    assert open_figures(await stats(province, "?commune=LB")) == (2, 1, 1, 1, 1)
    # The map: every commune's outlines on the province's view, one commune's when chosen.
    drawn = map_data(await (await province.get("/dashboard/map")).text())
    hamlets = {hamlet["id"] for hamlet in drawn["hamlets"]}
    assistant = province.app[ASSISTANT]
    assert hamlets == {f"{code}:{hamlet.id}" for code in ("LB", "SM")
                       for hamlet in assistant.communes[code].services.commune.hamlets}
    reports = next(layer for layer in drawn["layers"] if layer["key"] == "reports")
    assert reports["by_hamlet"] == {"LB:kem": 1, "SM:khuoi_meo": 2}
    one = map_data(await (await province.get("/dashboard/map?commune=SM")).text())
    assert "khuoi_meo" in {hamlet["id"] for hamlet in one["hamlets"]} and "kem" not in {
        hamlet["id"] for hamlet in one["hamlets"]}
    # Read-only: no replay button, a replay refused; the letters stay dead. Logging out is allowed.
    dead = await dead_ids(province)
    letters = await (await province.get("/dashboard/deadletters")).text()
    assert f'id="dead-{dead["SM"]}"' in letters and f'id="dead-{dead["LB"]}"' in letters
    assert 'class="replay"' not in letters
    refused = await province.post(f"/dashboard/deadletters/{dead['SM']}/replay", data={"csrf": csrf})
    assert refused.status == 403 and "chỉ được xem" in await refused.text()
    assert await dead_ids(province) == dead
    assert (await province.post("/dashboard/logout", data={"csrf": csrf})).status == 200


async def test_a_role_for_one_commune_opens_nothing_in_another(province: TestClient) -> None:
    """A staff role granted for La Bằng does not apply once the user is Sảng Mộc's: the session is
    refused rather than shown either commune."""
    await records(province)
    chat, _csrf = await logged_in_staff(province, commune="LB")
    assert (await province.get("/dashboard")).status == 200
    async with province.app[ASSISTANT].database.session() as session:
        user = await session.scalar(select(User).where(User.external_id == chat.user_id))
        assert user is not None
        user.commune = "SM"
    refused = await province.get("/dashboard")
    assert refused.status == 403
    body = await refused.text()
    assert all(code not in body for code in (*LB.codes, *SM.codes))
    assert (await province.get("/api/stats")).status == 403


async def test_stats_in_chat_gives_the_communes_figures(province: TestClient) -> None:
    await records(province)
    lb = await member(province, "staff", commune="LB")
    sm = await member(province, "staff", commune="SM")
    lb_figures, sm_figures = texts(await lb.say("/stats")), texts(await sm.say("/stats"))
    assert "Số liệu hôm nay (Xã La Bằng, " in lb_figures and "Số liệu hôm nay (Xã Sảng Mộc, " in sm_figures
    assert "Hồ sơ: Đang xử lý 2; quá hạn: 1" in lb_figures
    assert "Hỏi bác sĩ đang mở: 1, chờ trả lời: 1" in lb_figures
    assert "Phản ánh đang mở: 1, mới hôm nay: 1" in lb_figures
    assert "Hồ sơ: Đang xử lý 3; quá hạn: 2" in sm_figures
    assert "Hỏi bác sĩ đang mở: 2, chờ trả lời: 2" in sm_figures
    assert "Phản ánh đang mở: 2, mới hôm nay: 2" in sm_figures
    # Messages: each commune's own (its staff member's /join, and the /stats before this one of La
    # Bằng's for Sảng Mộc's); users: its staff member and its villager written today.
    assert "Tin nhắn: 1\n" in lb_figures and "Tin nhắn: 1\n" in sm_figures
    assert "Người dùng hoạt động: 2 (telegram 1, web 1)" in lb_figures
    assert "Người dùng hoạt động: 2 (telegram 1, web 1)" in sm_figures


