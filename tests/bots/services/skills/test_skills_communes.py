"""Digital skills in a province's installation (La Bằng LB, Sảng Mộc SM): a villager's progress and
hamlet are their commune's, a tutor lists and sends courses to their own commune's learners only (a
forged button naming another commune's villager finds nobody), the certificate names the commune that
signed it, and the dashboard counts each commune's learners apart. The skill tables are as the models
describe them after the migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.skills.store import SkillLearner, SkillProgress
from core.config import Settings
from core.db import Database
from core.province import keys_dir
from core.signing import create_commune_keys
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, button_data, texts
from tests.support.communes import PROVINCE, joins_in, villager_in
from tests.support.db import schema_differences
from tests.support.served import served_client
from tests.support.skills import CERTIFICATE_CODE, pressed, take_lesson


@pytest.fixture
async def province(settings: Settings, database: Database,
                   nlu_engine: NLUEngine) -> AsyncIterator[TestClient]:
    create_commune_keys(keys_dir(settings.var_dir, "SM", "LB"), "Xã Sảng Mộc")  # as after a first start
    async with served_client(settings.model_copy(update=PROVINCE), database, nlu_engine) as client:
        yield client


async def first_lesson(chat: ChatSession) -> list[dict[str, Any]]:
    await chat.say("hoc ky nang so")
    asked = await chat.press("learn:course:scams")
    hamlet = next(data for data in button_data(asked) if data.startswith("learn:hamlet:scams:")
                  and not data.endswith(":-"))
    return await take_lesson(chat, "scams", 0, replies=await chat.press(hamlet))


async def test_each_commune_s_tutor_sees_and_reaches_only_its_own_learners(province: TestClient,
                                                                           database: Database) -> None:
    la_bang, sang_moc = await villager_in(province, "LB"), await villager_in(province, "SM")
    hamlets = {texts(await chat.say("hoc ky nang so")) and
               tuple(button_data(await chat.press("learn:course:scams"))) for chat in (la_bang, sang_moc)}
    assert len(hamlets) == 2  # each commune's own hamlets are offered
    await take_lesson(sang_moc, "scams", 0, replies=await sang_moc.press(
        next(d for d in button_data(await sang_moc.press("learn:course:scams")) if d.endswith(":-"))))
    async with database.session() as session:
        rows = {p.commune for p in await session.scalars(select(SkillProgress))}
        learners = {row.commune for row in await session.scalars(select(SkillLearner))}
    assert rows == {"SM"} and learners == {"SM"}
    tutor = await joins_in(province, "LB", "tutor")
    listed = await tutor.press(pressed(await tutor.say("/learners"), "tutor:hamlet:-"))
    assert "Chưa ai" in texts(listed), texts(listed)  # Sảng Mộc's learner is not La Bằng's
    async with database.session() as session:
        sm_user = await session.scalar(select(SkillLearner.user_id).where(SkillLearner.commune == "SM"))
    for forged in (f"tutor:send:{sm_user}", f"tutor:course:{sm_user}:scams"):
        assert "không tìm thấy" in texts(await tutor.press(forged)).lower()
    theirs = await joins_in(province, "SM", "tutor")
    listed = await theirs.press(pressed(await theirs.say("/learners"), "tutor:hamlet:-"))
    assert "(1 người)" in texts(listed) and "1/3 bài" in texts(listed), texts(listed)


async def test_a_certificate_names_the_commune_that_signed_it(province: TestClient) -> None:
    villager = await villager_in(province, "SM")
    await first_lesson(villager)
    for lesson in (1, 2):
        await take_lesson(villager, "scams", lesson, replies=await villager.say("tiep"))
    await villager.say("Ma Thi Lan")
    found = CERTIFICATE_CODE.search(texts(await villager.say("co")))
    assert found
    page = await (await province.get(f"/verify/{found.group(1)}")).text()
    assert "Văn bản hợp lệ" in page and "Sảng Mộc" in page and "Ma Thi Lan" in page



async def test_the_migration_gives_the_skill_tables_the_models_describe(database: Database) -> None:
    assert await schema_differences(database, "skill_") == []
