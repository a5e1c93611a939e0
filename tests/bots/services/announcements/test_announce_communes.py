"""Announcements in a province's installation (La Bằng LB, Sảng Mộc SM): an announcement is the
commune of the official who wrote it (`commune`), its audience that commune's hamlets, its subscribers
that commune's villagers; the latest a villager hears, the scheduler's publications and the
loudspeaker feed (`?commune=&hamlet=`, signed with the commune's own key) are per commune."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.loudspeaker.store import PUBLISHED, SCHEDULED, Announcement
from bots.server import ASSISTANT
from bots.services.announcements.scheduler import Scheduler
from core.config import Settings
from core.db import Database
from core.signing import create_commune_keys
from nlu.engine import NLUEngine
from tests.support.announcements import write_until_preview
from tests.support.chat import ChatSession, button_data, pushed_now, texts, wait_for_pushes
from tests.support.communes import PROVINCE, joins_in, villager_in
from tests.support.served import served_client

LB_TEXT = "Chiều nay 14 giờ họp toàn xã La Bằng tại nhà văn hóa xóm Kèm về làm đường."
SM_TEXT = "Cấm đốt nương rẫy ở xóm Làng Mười trong tuần này vì nguy cơ cháy rừng rất cao."
SM_LATER = "Sáng mai xã Sảng Mộc phun thuốc diệt muỗi ở tất cả các xóm, đóng cửa sổ."


@pytest.fixture
async def province(settings: Settings, database: Database,
                   nlu_engine: NLUEngine) -> AsyncIterator[TestClient]:
    served = settings.model_copy(update={**PROVINCE, "tts_engine": "espeak"})
    # Sảng Mộc's own key (var/keys/communes/SM), as `xaso keys init --commune SM` makes it.
    create_commune_keys(served.var_dir / "keys" / "communes" / "SM", "Xã Sảng Mộc")
    async with served_client(served, database, nlu_engine) as client:
        yield client


async def subscriber(client: TestClient, commune: str, hamlet: str) -> tuple[ChatSession, list[str]]:
    """A villager of `commune` subscribed (typed without diacritics) to `hamlet`, every topic; with the
    buttons they were offered."""
    chat = await villager_in(client, commune)
    offered = button_data(await chat.say("dang ky nhan thong bao"))
    await chat.press(f"ann:hamlet:{hamlet}")
    assert "Đã lưu" in texts(await chat.press("ann:done"))
    return chat, offered


async def notices(client: TestClient, chat: ChatSession, expected: int) -> list[str]:
    found = await wait_for_pushes(client.app[ASSISTANT], chat,
                                  lambda pushed: sum("THÔNG BÁO" in m["text"] for m in pushed) >= expected,
                                  10)
    return [m["text"] for m in found if "THÔNG BÁO" in m["text"]]


async def feed(client: TestClient, query: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(f"/loudspeaker/feed{query}")
    return response.status, await response.json()


async def test_each_communes_announcements_reach_its_own_villagers_and_speakers(
        province: TestClient, database: Database) -> None:
    lb_villager, lb_offered = await subscriber(province, "LB", "kem")
    sm_villager, sm_offered = await subscriber(province, "SM", "lang_muoi")
    assert "ann:hamlet:kem" in lb_offered and "ann:hamlet:lang_muoi" not in lb_offered
    assert "ann:hamlet:lang_muoi" in sm_offered and "ann:hamlet:kem" not in sm_offered
    # Topics are the commune's announcements.yml: Sảng Mộc has its forest-fire topic.
    assert "ann:topic:forest_fire" in sm_offered and "ann:topic:forest_fire" not in lb_offered
    lb_official = await joins_in(province, "LB", "staff")
    sm_official = await joins_in(province, "SM", "staff")

    # La Bằng's official, to the whole commune: La Bằng's subscriber only.
    await write_until_preview(lb_official, hamlets=(), topic="meeting", text=LB_TEXT)
    assert "gửi tới 1 người" in texts(await lb_official.press("announce:confirm"))
    lb_notices = await notices(province, lb_villager, 1)
    assert len(lb_notices) == 1 and LB_TEXT in lb_notices[0] and "Xã La Bằng" in lb_notices[0]
    assert not [m for m in await pushed_now(province, sm_villager) if "THÔNG BÁO" in m["text"]]

    # Sảng Mộc's official: the audience offered is Sảng Mộc's hamlets.
    audience = button_data(await sm_official.say(f"/announce {SM_TEXT}"))
    assert "announce:hamlet:lang_muoi" in audience and "announce:hamlet:kem" not in audience
    assert "announce:hamlet:kem" not in button_data(await sm_official.press("announce:hamlet:kem"))
    await sm_official.press("announce:cancel")
    await write_until_preview(sm_official, hamlets=("lang_muoi",), topic="forest_fire", text=SM_TEXT)
    assert "gửi tới 1 người" in texts(await sm_official.press("announce:confirm"))
    sm_notices = await notices(province, sm_villager, 1)
    assert len(sm_notices) == 1 and SM_TEXT in sm_notices[0] and "Xã Sảng Mộc" in sm_notices[0]
    assert [text for text in await notices(province, lb_villager, 1) if SM_TEXT in text] == []

    async with database.session() as session:
        rows = list((await session.scalars(select(Announcement).order_by(Announcement.id))).all())
    assert [(row.commune, row.hamlets, row.recipients) for row in rows] == [("LB", [], 1),
                                                                            ("SM", ["lang_muoi"], 1)]
    lb_code, sm_code = rows[0].code, rows[1].code

    # The latest each villager hears ("thong bao moi", typed without diacritics): their commune's.
    lb_latest = texts(await lb_villager.say("thong bao moi"))
    assert LB_TEXT in lb_latest and SM_TEXT not in lb_latest
    sm_latest = texts(await sm_villager.say("thong bao moi"))
    assert SM_TEXT in sm_latest and LB_TEXT not in sm_latest

    # The loudspeaker feeds: each commune's own entries, signed with its own key.
    assistant = province.app[ASSISTANT]
    sm_keyring = assistant.communes["SM"].services.keyring
    lb_keyring = assistant.communes["LB"].services.keyring
    status, sm_feed = await feed(province, "?commune=SM&hamlet=lang_muoi")
    assert status == 200 and sm_feed["commune"] == "Xã Sảng Mộc" and sm_feed["hamlet"] == "lang_muoi"
    assert [entry["code"] for entry in sm_feed["entries"]] == [sm_code]
    envelope = sm_feed["entries"][0]
    assert sm_keyring.verify(envelope_json(envelope)).ok
    assert not lb_keyring.verify(envelope_json(envelope)).ok
    assert envelope["document"]["commune"] == "Xã Sảng Mộc"
    status, sm_whole = await feed(province, "?commune=sm")  # the speakers of no hamlet: whole-commune ones
    assert (status, sm_whole["commune"], sm_whole["entries"]) == (200, "Xã Sảng Mộc", [])
    for query in ("?hamlet=kem", "", "?commune=LB&hamlet=kem"):  # the installation's own commune
        status, lb_feed = await feed(province, query)
        assert status == 200 and lb_feed["commune"] == "Xã La Bằng", query
        assert [entry["code"] for entry in lb_feed["entries"]] == [lb_code], query
        assert lb_keyring.verify(envelope_json(lb_feed["entries"][0])).ok
    for query, problem in (("?commune=SM&hamlet=kem", "unknown_hamlet"),
                           ("?hamlet=lang_muoi", "unknown_hamlet"), ("?commune=XX", "unknown_commune"),
                           ("?commune=XX&hamlet=kem", "unknown_commune")):
        status, body = await feed(province, query)
        assert (status, body["error"]) == (400, problem), query


async def test_the_scheduler_of_each_commune_publishes_its_own(province: TestClient,
                                                               database: Database) -> None:
    sm_villager, _ = await subscriber(province, "SM", "tan_kim")
    lb_villager, _ = await subscriber(province, "LB", "kem")
    sm_official = await joins_in(province, "SM", "staff")
    await write_until_preview(sm_official, when="announce:when:tomorrow", hamlets=(), topic="general",
                              text=SM_LATER)
    assert "hẹn phát" in texts(await sm_official.press("announce:confirm"))
    async with database.session() as session:
        row = (await session.scalars(select(Announcement))).one()
    assert (row.commune, row.status) == ("SM", SCHEDULED)
    assistant = province.app[ASSISTANT]
    later = row.publish_at + dt.timedelta(seconds=1)
    # La Bằng's task, past the time, leaves Sảng Mộc's announcement alone; Sảng Mộc's publishes it.
    assert await Scheduler(clock=lambda: later).publish_due(database, assistant.communes["LB"].services) == []
    async with database.session() as session:
        assert (await session.get(Announcement, row.id)).status == SCHEDULED  # type: ignore[union-attr]
    published = await Scheduler(clock=lambda: later).publish_due(database, assistant.communes["SM"].services)
    assert [(item["code"], item["recipients"]) for item in published] == [(row.code, 1)]
    async with database.session() as session:
        assert (await session.get(Announcement, row.id)).status == PUBLISHED  # type: ignore[union-attr]
    assert [text for text in await notices(province, sm_villager, 1) if SM_LATER in text]
    assert not [m for m in await pushed_now(province, lb_villager) if "THÔNG BÁO" in m["text"]]


def envelope_json(entry: dict[str, Any]) -> str:
    return json.dumps(entry, ensure_ascii=False)
