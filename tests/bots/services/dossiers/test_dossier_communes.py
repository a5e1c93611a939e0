"""Dossiers in a province (La Bằng LB, Sảng Mộc SM) through the real web chat API: each commune numbers
its own dossiers and keeps them to itself. A villager follows only their commune's, staff work only on
theirs (another commune's code, typed or on a button, is "not found" like one that does not exist),
officials hear only of theirs, the results task issues only its commune's, and the provincial system
both hears the commune of each dossier and has its updates told to the citizen with that commune's
services."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import func, select

from backends.onestop.ratings import rating_summary, record_rating
from backends.onestop.store import Dossier, DossierEvent, Submission, create_dossier, dossier_of_user
from backends.onestop.workflow import dossier_by_code, open_dossiers
from bots.assistant import Assistant
from bots.hooks import onestop_in
from bots.hooks.onestop_in import OnestopInbound
from bots.hooks.receiver import HookReceiver
from bots.server import ASSISTANT
from bots.services.dossiers import document, result
from core.config import Settings
from core.db import Database
from core.models import User, utcnow
from core.province import keys_dir
from core.security import sign_standard_webhook
from core.signing import create_commune_keys
from core.signing.store import signed_for
from core.timezones import VIETNAM
from tests.support.chat import ChatSession, button_data, pushed_now, texts
from tests.support.communes import PROVINCE, joins_in
from tests.support.dossiers import submit
from tests.support.loopback import serve_on_loopback

SECRET = "whsec_" + base64.b64encode(b"provincial one-stop test key 32b").decode()
YEAR = utcnow().astimezone(VIETNAM).year
LATER = result.STUCK_AFTER + dt.timedelta(minutes=1)
NOT_FOUND = "Không có hồ sơ"  # dossier_staff.not_found
VILLAGER_NOT_FOUND = "không tìm thấy hồ sơ"  # dossier.not_found


@dataclass
class Province:
    """The provincial one-stop system's end: what it was sent."""

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(json.loads(await request.read()))
        return web.Response(status=200)

    def sent(self, kind: str) -> list[dict[str, Any]]:
        return [body["data"] for body in self.bodies if body["type"] == kind]


@pytest.fixture
async def province() -> AsyncIterator[Province]:
    found = Province()
    app = web.Application()
    app.router.add_post("/events", found.handle)
    runner, port = await serve_on_loopback(app)
    found.url = f"http://127.0.0.1:{port}/events"
    yield found
    await runner.cleanup()


@pytest.fixture
def settings(settings: Settings, province: Province) -> Settings:
    """Two communes, each with its signing keys; dossier events go to the provincial system."""
    create_commune_keys(keys_dir(settings.var_dir, "SM", settings.commune_code), "Xã Sảng Mộc")
    return settings.model_copy(update={
        **PROVINCE, "hook_secrets": {"onestop": SecretStr(SECRET)}, "onestop_webhook_url": province.url,
        "outbox_base_delay": 0.05, "outbox_max_delay": 0.2,
    })


@dataclass
class Two:
    """A villager's dossier and an official in each commune."""

    lb_citizen: ChatSession
    lb_code: str
    lb_staff: ChatSession
    sm_citizen: ChatSession
    sm_code: str
    sm_staff: ChatSession


async def two_communes(client: TestClient) -> Two:
    """The officials join first (they hear of new dossiers); Sảng Mộc's villager submits first."""
    lb_staff, sm_staff = await joins_in(client, "LB", "staff"), await joins_in(client, "SM", "staff")
    sm_citizen, sm_code = await submit(client, "SM")
    lb_citizen, lb_code = await submit(client, "LB")
    return Two(lb_citizen, lb_code, lb_staff, sm_citizen, sm_code, sm_staff)


def assistant_of(client: TestClient) -> Assistant:
    return client.app[ASSISTANT]


async def user_id(database: Database, chat: ChatSession) -> int:
    async with database.session() as session:
        return (await session.execute(select(User.id).where(User.external_id == chat.user_id))).scalar_one()


async def statuses(database: Database, code: str) -> list[str]:
    async with database.session() as session:
        query = (select(DossierEvent.status).join(Dossier).where(Dossier.code == code)
                 .order_by(DossierEvent.id))
        return list((await session.execute(query)).scalars())


def same_answer(first: list[dict[str, Any]], first_code: str, second: list[dict[str, Any]],
                second_code: str) -> bool:
    """The two answers differ only by the code each names."""
    return (texts(first).replace(first_code, "CODE") == texts(second).replace(second_code, "CODE")
            and button_data(first) == button_data(second))


# Codes, records, officials' notices, outbound events


async def test_each_commune_numbers_its_own_dossiers_and_tells_only_its_officials(
        client: TestClient, database: Database, province: Province) -> None:
    two = await two_communes(client)
    assert two.sm_code == f"SM-{YEAR}-000001" and two.lb_code == f"LB-{YEAR}-000001"
    async with database.session() as session:
        rows = (await session.execute(select(Dossier.code, Dossier.commune))).all()
    assert sorted(rows) == [(two.lb_code, "LB"), (two.sm_code, "SM")]

    for official, own, other in ((two.sm_staff, two.sm_code, two.lb_code),
                                 (two.lb_staff, two.lb_code, two.sm_code)):
        notices = await pushed_now(client, official)
        assert len(notices) == 1 and own in notices[0]["text"] and "Hồ sơ mới" in notices[0]["text"]
        assert [b["data"] for b in notices[0]["buttons"]] == [f"dossier-admin:open:{own}"]
        assert other not in json.dumps(notices, ensure_ascii=False)

    assert "nhận xử lý" in texts(await two.sm_staff.press(f"dossier-admin:take:{two.sm_code}"))
    await wait_until(lambda: len(province.sent("dossier.created")) == 2
                     and len(province.sent("dossier.status")) == 1)
    assert {d["code"]: d["commune"] for d in province.sent("dossier.created")} == {
        two.sm_code: "SM", two.lb_code: "LB"}
    [moved] = province.sent("dossier.status")
    assert (moved["commune"], moved["code"], moved["status"]) == ("SM", two.sm_code, "processing")


async def wait_until(ready: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, "the provincial system was not sent what was expected"
        await asyncio.sleep(0.05)


# The villager's side


async def test_a_villager_follows_only_their_communes_dossiers(client: TestClient,
                                                               database: Database) -> None:
    two = await two_communes(client)
    villager = two.sm_citizen
    for typed in (f"tra cuu {two.sm_code}", f"tra cuu ho so {two.sm_code.lower()}",
                  f"ho so {two.sm_code} den dau roi"):
        found = texts(await villager.say(typed))
        assert two.sm_code in found and "Đã tiếp nhận" in found and "Đăng ký khai sinh" in found, typed

    # A La Bằng dossier of this very villager (submitted before they moved to Sảng Mộc): out of sight.
    assistant = assistant_of(client)
    lb = assistant.communes["LB"]
    procedure = lb.kit.procedures.get("birth_registration")
    assert procedure is not None
    async with database.session() as session:
        stray = (await create_dossier(
            session, lb.services.cipher, lb.kit.calendar, commune="LB",
            submission=Submission(procedure, await user_id(database, villager), {"child_name": "Bé Lạ"}),
        )).code
    assert stray == f"LB-{YEAR}-000002"
    missing = f"LB-{YEAR}-000999"
    for ask in ("tra cuu {}", "{}", "ho so {} den dau roi"):  # "{}": the code alone
        other, none = await villager.say(ask.format(stray)), await villager.say(ask.format(missing))
        assert VILLAGER_NOT_FOUND in texts(other) and same_answer(other, stray, none, missing)
        assert "Đăng ký khai sinh" not in texts(other) and "Đã tiếp nhận" not in texts(other)
    for action in ("dossier:view:{}", "dossier-reply:{}", "dossier-rate:{}:5"):
        other = await villager.press(action.format(stray))
        none = await villager.press(action.format(missing))
        assert same_answer(other, stray, none, missing), action
        assert "Đăng ký khai sinh" not in texts(other)
    assert VILLAGER_NOT_FOUND in texts(await villager.press(f"dossier:view:{stray}"))

    mine = await villager.say("ho so cua toi")
    assert two.sm_code in texts(mine) and stray not in texts(mine) and two.lb_code not in texts(mine)
    assert [d for d in button_data(mine) if d.startswith("dossier:view:")] == [f"dossier:view:{two.sm_code}"]
    # La Bằng's villager sees theirs, and Sảng Mộc's code is unknown to them.
    assert two.lb_code in texts(await two.lb_citizen.say(f"tra cuu {two.lb_code}"))
    assert "Đã tiếp nhận" in texts(await two.lb_citizen.say(two.lb_code))
    assert VILLAGER_NOT_FOUND in texts(await two.lb_citizen.say(f"tra cuu {two.sm_code}"))


# The staff side


async def test_staff_work_only_on_their_communes_dossiers(client: TestClient, database: Database) -> None:
    two = await two_communes(client)
    await pushed_now(client, two.lb_citizen)
    lb_seen = len(await two.lb_citizen.pushed())
    for official, own, other in ((two.sm_staff, two.sm_code, two.lb_code),
                                 (two.lb_staff, two.lb_code, two.sm_code)):
        queue = await official.say("/dossiers")
        assert "Hàng chờ: 1 hồ sơ đang mở" in texts(queue) and own in texts(queue)
        assert other not in texts(queue) and other not in json.dumps(button_data(queue))
        assert f"dossier-admin:open:{own}" in button_data(queue)

    official, other, missing = two.sm_staff, two.lb_code, f"LB-{YEAR}-000999"
    for typed in ("/dossier {}", "/approve {}", "/reject {} thieu giay", "/request {} bo sung anh",
                  "/dossier {}"):
        refused, none = await official.say(typed.format(other)), await official.say(typed.format(missing))
        assert NOT_FOUND in texts(refused) and same_answer(refused, other, none, missing), typed
    for action in ("open", "take", "approve", "deliver", "reject", "request"):
        for family in ("dossier-admin", "staff"):
            data = f"{family}:{action}:{{}}"
            refused = await official.press(data.format(other))
            none = await official.press(data.format(missing))
            assert NOT_FOUND in texts(refused) and same_answer(refused, other, none, missing), data
    # The words after a refused reject or request go nowhere: no question was left open.
    assert NOT_FOUND not in texts(await official.say("giay to khong hop le"))
    assert await statuses(database, two.lb_code) == ["received"]
    assert not [n for n in (await two.lb_citizen.pushed())[lb_seen:] if two.lb_code in n["text"]]

    # Each official does their own commune's work, and their citizen hears of it.
    assert "nhận xử lý" in texts(await two.lb_staff.press(f"dossier-admin:take:{two.lb_code}"))
    done = texts(await two.sm_staff.say(f"/request {two.sm_code} Thieu anh so ho khau"))
    assert "Đã yêu cầu" in done and two.sm_code in done
    assert await statuses(database, two.sm_code) == ["received", "processing", "needs_info"]
    assert await statuses(database, two.lb_code) == ["received", "processing"]
    sm_notices = await pushed_now(client, two.sm_citizen)
    assert "cần bổ sung" in sm_notices[-1]["text"] and two.sm_code in sm_notices[-1]["text"]
    assert two.lb_code not in json.dumps(sm_notices, ensure_ascii=False)
    assert "nhận xử lý" in (await pushed_now(client, two.lb_citizen, lb_seen))[-1]["text"]
    # The citizen answers; the official who asked hears of it.
    assert "ngay bây giờ" in texts(await two.sm_citizen.press(f"dossier-reply:{two.sm_code}"))
    assert "quay lại hàng chờ" in texts(await two.sm_citizen.say("So ho khau da nop ban giay"))
    told = [n for n in await pushed_now(client, two.sm_staff) if "đã bổ sung" in n["text"]]
    assert len(told) == 1 and two.sm_code in told[0]["text"]
    assert not [n for n in await pushed_now(client, two.lb_staff) if "đã bổ sung" in n["text"]]


# The results task


async def test_the_results_task_issues_only_its_communes_results(
        client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    two = await two_communes(client)

    def broken(sheet: Any) -> Any:
        raise RuntimeError("the renderer crashed")

    monkeypatch.setattr(document, "RENDER", broken)  # the results are signed, their PDF step fails
    assert "Đã duyệt" in texts(await two.sm_staff.say(f"/approve {two.sm_code}"))
    assert "Đã duyệt" in texts(await two.lb_staff.say(f"/approve {two.lb_code}"))
    monkeypatch.undo()
    async with database.session() as session:
        (sm_record,) = await signed_for(session, result.KIND, two.sm_code)
        (lb_record,) = await signed_for(session, result.KIND, two.lb_code)
    assert sm_record.envelope().document["commune"] == "Xã Sảng Mộc"
    assert lb_record.envelope().document["commune"] == "Xã La Bằng"

    assistant, later = assistant_of(client), utcnow() + LATER
    sm, lb = assistant.communes["SM"], assistant.communes["LB"]
    async with database.session() as session:
        assert [d.code for _, d, _ in await result.unissued_results(session, later, commune="SM")] == [
            two.sm_code]
    assert await result.recover_results(database, sm.services, sm.kit.procedures, later) == [sm_record.code]
    assert await result.recover_results(database, sm.services, sm.kit.procedures, later) == []
    async with database.session() as session:
        (lb_left,) = await signed_for(session, result.KIND, two.lb_code)
    assert lb_left.pdf_media_id is None  # La Bằng's task's to issue
    assert not [n for n in await pushed_now(client, two.lb_citizen) if "ký số" in n["text"]]
    sm_results = [n for n in await pushed_now(client, two.sm_citizen) if "ký số" in n["text"]]
    assert len(sm_results) == 1 and sm_record.code in sm_results[0]["text"]

    assert await result.recover_results(database, lb.services, lb.kit.procedures, later) == [lb_record.code]
    lb_results = [n for n in await pushed_now(client, two.lb_citizen) if "ký số" in n["text"]]
    assert len(lb_results) == 1 and lb_record.code in lb_results[0]["text"]


# Status updates from the provincial system


async def post_update(client: TestClient, data: dict[str, Any], msg_id: str) -> tuple[int, Any]:
    body = json.dumps({"type": "dossier.status", "data": data}).encode()
    headers = sign_standard_webhook(msg_id, int(time.time()), body, SECRET)
    response = await client.post("/hooks/onestop", data=body,
                                 headers={**headers, "Content-Type": "application/json"})
    return response.status, await response.json()


async def test_a_provincial_update_is_told_with_the_dossiers_communes_services(
        client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    two = await two_communes(client)
    assistant = assistant_of(client)
    told_with: list[tuple[str, str]] = []
    notify_citizen = onestop_in.notify_citizen

    async def recording(context: Any, dossier: Dossier, *args: Any) -> None:
        told_with.append((dossier.code, context.services.commune.code))
        await notify_citizen(context, dossier, *args)

    monkeypatch.setattr(onestop_in, "notify_citizen", recording)
    app = web.Application()
    app.add_routes(HookReceiver(assistant, {"onestop": OnestopInbound.serving(assistant)}).routes())
    async with TestClient(TestServer(app)) as hooks:
        note = "Thieu ban sao CCCD cua me"
        assert await post_update(hooks, {"code": two.sm_code, "status": "needs_info", "note": note},
                                 "msg_sm") == (200, {"status": "ok", "code": two.sm_code,
                                                     "dossier_status": "needs_info"})
        assert await post_update(hooks, {"code": two.lb_code, "status": "processing"}, "msg_lb") == (
            200, {"status": "ok", "code": two.lb_code, "dossier_status": "processing"})
    assert told_with == [(two.sm_code, "SM"), (two.sm_code, "SM"), (two.lb_code, "LB")]
    sm_notices = await pushed_now(client, two.sm_citizen)
    assert note in sm_notices[-1]["text"] and two.sm_code in sm_notices[-1]["text"]
    assert two.lb_code not in json.dumps(sm_notices, ensure_ascii=False)

    # A handler that serves La Bằng alone does not touch Sảng Mộc's dossiers.
    alone = OnestopInbound(assistant.services, assistant.kit.procedures)
    app = web.Application()
    app.add_routes(HookReceiver(assistant, {"onestop": alone}).routes())
    async with TestClient(TestServer(app)) as hooks:
        assert await post_update(hooks, {"code": two.sm_code, "status": "processing"}, "msg_alone") == (
            422, {"error": "unknown_dossier"})
    assert await statuses(database, two.sm_code) == ["received", "processing", "needs_info"]


# The store's readers


async def test_the_stores_readers_keep_to_a_commune(client: TestClient, database: Database) -> None:
    two = await two_communes(client)
    sm_owner, lb_owner = await user_id(database, two.sm_citizen), await user_id(database, two.lb_citizen)
    async with database.session() as session:
        assert (await dossier_by_code(session, two.lb_code, commune="SM")) is None
        assert (await dossier_by_code(session, two.lb_code, commune="LB")) is not None
        assert (await dossier_by_code(session, two.lb_code)) is not None  # the provincial system's view
        assert await dossier_of_user(session, two.sm_code, sm_owner, commune="LB") is None
        assert await dossier_of_user(session, two.sm_code, sm_owner, commune="SM") is not None
        for commune, code in (("SM", two.sm_code), ("LB", two.lb_code)):
            rows, total = await open_dossiers(session, commune=commune)
            assert [d.code for d in rows] == [code] and total == 1
        assert (await open_dossiers(session))[1] == 2
        sm_dossier = await dossier_by_code(session, two.sm_code)
        assert sm_dossier is not None and await record_rating(session, sm_dossier.id, 4)
    async with database.session() as session:
        assert (await rating_summary(session, commune="SM")).average == 4.0
        summary = await rating_summary(session, commune="LB")
        assert (summary.count, summary.average) == (0, None)
        theirs = select(func.count()).select_from(Dossier).where(Dossier.user_id == lb_owner)
        assert await session.scalar(theirs) == 1
