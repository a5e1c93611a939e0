"""Two nodes of one province's installation (XASO_COMMUNES=LB,SM) sharing one database, as
docker-compose runs them behind a load balancer: each node has its own connections, caches, outbox
senders and background tasks. A villager of each commune whose requests land on either node in turn
completes a dossier, a consult and an order with their commune's data; a newcomer chooses their commune
on one node and is answered as its villager by the other at once; each commune's staff, on either node,
see their own commune's alone; the province sees both; and each commune's background tasks, run by
both nodes at the same moment, do every step once."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from backends.health.consults import Consult
from backends.loudspeaker.store import PUBLISHED, Announcement
from backends.onestop.store import Dossier
from backends.shop.orders import Order
from bots.assistant import Assistant
from bots.server import ASSISTANT, create_app
from bots.services.announcements.scheduler import Scheduler
from core.config import Settings
from core.db import Database
from core.models import OutboxMessage
from core.province import keys_dir
from core.signing import create_commune_keys
from nlu.engine import NLUEngine
from tests.support.announcements import write_until_preview
from tests.support.chat import ChatSession, button_data, pushed_now, texts
from tests.support.communes import PROVINCE, joins_in, villager_in
from tests.support.dashboard import login_token, member, open_link
from tests.support.dossiers import code_pattern, fill_fields, open_birth_form, send_papers_and_confirm
from tests.support.health import MONDAY_MORNING, ask_about_child, set_clock
from tests.support.shop import order_honey

SM_HONEY, LB_HONEY = "Mật ong rừng Sảng Mộc", "Mật ong rừng nguyên chất"
NOT_FOUND = "Không có hồ sơ"  # dossier_staff.not_found


@pytest.fixture
def settings(settings: Settings) -> Settings:
    create_commune_keys(keys_dir(settings.var_dir, "SM", settings.commune_code), "Xã Sảng Mộc")
    return settings.model_copy(update=PROVINCE)


@pytest.fixture
async def nodes(settings: Settings, database: Database,
                nlu_engine: NLUEngine) -> AsyncIterator[list[TestClient]]:
    """Two served nodes, each with its own connections to the one database (as two processes have)."""
    async with AsyncExitStack() as stack:
        served = []
        for _ in range(2):
            node = Assistant.build(settings, nlu=nlu_engine, database=Database(database.url))
            served.append(await stack.enter_async_context(TestClient(TestServer(create_app(node)))))
        yield served


def assistant_of(node: TestClient) -> Assistant:
    return node.app[ASSISTANT]


async def roaming(nodes: list[TestClient], chat: ChatSession) -> ChatSession:
    return chat.roam(nodes[1:] + nodes[:1])  # the next request goes to the other node


async def dossier_by(villager: ChatSession, commune: str) -> str:
    await open_birth_form(villager)
    await fill_fields(villager)
    return await send_papers_and_confirm(villager, code_pattern(commune))


async def test_villagers_and_staff_of_each_commune_are_served_by_either_node(
        nodes: list[TestClient], database: Database) -> None:
    first = nodes[0]
    staff = {code: await roaming(nodes, await joins_in(first, code, "staff")) for code in ("LB", "SM")}
    doctors = {code: await roaming(nodes, await joins_in(first, code, "doctor")) for code in ("LB", "SM")}
    await doctors["SM"].press("doctor:iam:bs_thu")
    await doctors["LB"].press("doctor:iam:bs_hoa")
    villagers = {code: await roaming(nodes, await villager_in(first, code)) for code in ("LB", "SM")}

    codes = {code: await dossier_by(villagers[code], code) for code in ("SM", "LB")}
    orders = {"LB": await order_honey(villagers["LB"], "kem"),
              "SM": await order_honey(villagers["SM"], "lang muoi")}
    for code in ("SM", "LB"):  # last: while a consult is open, what the villager types goes to the doctor
        assert "đã gửi" in (await ask_about_child(villagers[code])).lower()
    assert SM_HONEY in orders["SM"][1] and "450.000 đ" in orders["SM"][1] and LB_HONEY not in orders["SM"][1]
    assert LB_HONEY in orders["LB"][1] and SM_HONEY not in orders["LB"][1]
    async with database.session() as session:
        dossiers = dict((await session.execute(select(Dossier.code, Dossier.commune))).all())
        consults = dict((await session.execute(select(Consult.id, Consult.commune))).all())
        placed = {row.code: (row.commune, row.product_id)
                  for row in await session.scalars(select(Order))}
    assert dossiers == {codes["LB"]: "LB", codes["SM"]: "SM"}
    assert sorted(consults.values()) == ["LB", "SM"]
    assert placed == {orders["LB"][0]: ("LB", "honey"), orders["SM"][0]: ("SM", "sm_honey_forest")}

    for own, other in (("LB", "SM"), ("SM", "LB")):
        listed = texts(await staff[own].say("/dossiers"))  # on the other node than the last request
        assert codes[own] in listed and codes[other] not in listed
        assert NOT_FOUND in texts(await staff[own].say(f"/dossier {codes[other]}"))
        assert codes[own] in texts(await staff[own].say(f"/dossier {codes[own]}"))
        queue = texts(await doctors[own].say("/queue"))
        consult = next(number for number, commune in consults.items() if commune == own)
        assert f"#{consult}" in queue and f"#{next(n for n in consults if n != consult)}" not in queue
        told = texts(await pushed_now(nodes[1], staff[own]))  # the notices, from either node's outbox
        assert codes[own] in told and orders[own][0] in told
        assert codes[other] not in told
    # An official moves a dossier on one node; the villager is told through either node's sender.
    taken = await staff["SM"].press(f"dossier-admin:take:{codes['SM']}")
    assert "nhận xử lý" in texts(taken)
    assert codes["SM"] in texts(await pushed_now(nodes[0], villagers["SM"]))

    province = await member(first, "province", commune="LB")
    await open_link(nodes[1], await login_token(first, province))
    overview = await (await nodes[1].get("/dashboard")).text()
    for code in ("LB", "SM"):
        cells = dict(re.findall(r'<td data-key="(\w+)"[^>]*>(\d+)</td>',
                                re.search(rf'<tr id="commune-{code}"[^>]*>(.*?)</tr>', overview,
                                          re.S).group(1)))  # type: ignore[union-attr]
        assert (cells["dossiers_open"], cells["consults_waiting"], cells["orders_open"]) == ("1", "1", "1")
        assert codes[code] in overview


async def test_a_newcomer_chooses_on_one_node_and_the_other_answers_as_their_commune(
        nodes: list[TestClient]) -> None:
    newcomer = (await ChatSession.open(nodes[0])).roam(nodes)
    assert "commune:set:SM" in button_data(await newcomer.say("chao"))  # node 1: made, asked
    assert "commune:set:SM" in button_data(await newcomer.say("mua mat ong"))  # node 2: asked again
    chosen = texts(await newcomer.say("sang moc"))  # node 1 records it; the request is answered
    assert SM_HONEY in chosen and LB_HONEY not in chosen
    # Node 2 at once. (Here both nodes share one process, whose identity caches are emptied together;
    # tests/core/test_identity_cache.py shows a node that was not told.)
    browsed = texts(await newcomer.press("shop:browse"))
    assert "Xã Sảng Mộc" in browsed and "La Bằng" not in browsed


async def test_both_nodes_running_each_communes_tasks_at_once_do_each_step_once(
        nodes: list[TestClient], database: Database) -> None:
    now = [MONDAY_MORNING]
    for node in nodes:
        set_clock(assistant_of(node), now)
    first = nodes[0]
    for code, doctor in (("SM", "bs_thu"), ("LB", "bs_hoa")):
        await (await joins_in(first, code, "doctor")).press(f"doctor:iam:{doctor}")
    officials = {code: await joins_in(first, code, "staff") for code in ("LB", "SM")}
    for code in ("LB", "SM"):
        await ask_about_child(await villager_in(first, code))
        await write_until_preview(officials[code], when="announce:when:tomorrow", hamlets=(),
                                  topic="general", text=f"Thông báo hẹn giờ của xã {code}: họp dân.")
        assert "hẹn phát" in texts(await officials[code].press("announce:confirm"))
    async with database.session() as session:
        scheduled = {row.commune: row for row in await session.scalars(select(Announcement))}
    later = max(row.publish_at for row in scheduled.values()) + dt.timedelta(seconds=1)
    now[0] += dt.timedelta(minutes=16)

    async def escalate(node: TestClient, code: str) -> list[int]:
        local = assistant_of(node).communes[code]
        async with database.session() as session:
            return await local.router.assembly.desk("health").escalate(local.services, session)

    async def publish(node: TestClient, code: str) -> list[str]:
        services = assistant_of(node).communes[code].services
        return [item["code"] for item in await Scheduler(clock=lambda: later).publish_due(database, services)]

    escalated = await asyncio.gather(*(escalate(node, code) for node in nodes for code in ("LB", "SM")))
    published = await asyncio.gather(*(publish(node, code) for node in nodes for code in ("LB", "SM")))

    async with database.session() as session:
        steps = {row.commune: row.escalation_step for row in await session.scalars(select(Consult))}
        statuses = {row.commune: row.status for row in await session.scalars(select(Announcement))}
        keys = list(await session.scalars(select(OutboxMessage.key)))
    assert sorted(number for found in escalated for number in found) == [1, 2]  # each consult once
    assert steps == {"LB": 1, "SM": 1}
    assert sorted(code for found in published for code in found) == sorted(
        row.code for row in scheduled.values())  # each announcement once, by one node
    assert statuses == {"LB": PUBLISHED, "SM": PUBLISHED}
    assert {key.rsplit(":", 1)[0] for key in keys if key.startswith("consult-escalated:")} <= {
        "consult-escalated:1:1", "consult-escalated:2:1"}
