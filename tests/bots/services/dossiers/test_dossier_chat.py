"""Whole dossier conversations through the real web chat API."""

from __future__ import annotations

import base64

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from backends.onestop.store import Dossier
from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from core.models import Base
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, button_data, jpeg, texts
from tests.support.dossiers import MOTHER_ID, fill_fields, open_birth_form, send_papers_and_confirm


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A whole dossier takes more messages than the flood limit's burst: this is not a flood test."""
    return settings.model_copy(update={"rate_limit_burst": 200, "rate_limit_per_minute": 600})


async def test_birth_registration_from_free_text_to_a_code(client: TestClient, database: Database) -> None:
    chat = await ChatSession.open(client)
    await open_birth_form(chat)
    await fill_fields(chat)
    code = await send_papers_and_confirm(chat)

    status = texts(await chat.say(f"{code} đến đâu rồi"))
    assert code in status and "Đã tiếp nhận" in status and "Đăng ký khai sinh" in status
    mine = await chat.say("hồ sơ của tôi")
    assert code in texts(mine) and f"dossier:view:{code}" in button_data(mine)

    other = await ChatSession.open(client)
    for replies in (await other.say(f"{code} đến đâu rồi"), await other.press(f"dossier:view:{code}")):
        assert "không tìm thấy" in texts(replies) and "Khai sinh" not in texts(replies)

    async with database.session() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            assert MOTHER_ID not in str(rows), table.name


async def test_without_diacritics_typed_answers(client: TestClient) -> None:
    chat = await ChatSession.open(client)
    assert "Đăng ký khai sinh" in texts(await chat.say("lam giay khai sinh cho con"))
    assert "đồng ý" in texts(await chat.say("co"))
    assert "Họ và tên của bé" in texts(await chat.say("dong y"))
    # Consent is asked once: the next dossier goes straight to its form.
    await chat.say("huy")
    await chat.say("xin giay doc than")
    assert "Họ và tên của bạn" in texts(await chat.say("co"))


async def test_back_cancel_and_a_bad_citizen_id(client: TestClient) -> None:
    chat = await ChatSession.open(client)
    await open_birth_form(chat)
    await chat.say("Nguyễn Văn Bình")
    assert "Họ và tên của bé" in texts(await chat.say("quay lại"))
    await chat.say("Nguyễn Văn Bình")
    await chat.say("15/10/2025")
    await chat.press("form:choice:female")
    await chat.say("Trạm Y tế xã La Bằng")
    await chat.say("Trần Thị Hoa")
    bad = texts(await chat.say("12345"))
    assert "12" in bad and "căn cước" in bad
    assert "CMND cũ" in texts(await chat.say("123456789"))
    assert "mã tỉnh" in texts(await chat.say("999190012345"))
    assert "Đã hủy" in texts(await chat.say("hủy"))
    assert "dossier:pick:birth_registration" in button_data(await chat.press("menu:dossier_submit"))


async def test_a_fake_image_is_refused_then_a_real_one_taken(client: TestClient) -> None:
    chat = await ChatSession.open(client)
    await open_birth_form(chat)
    await fill_fields(chat)
    fake = base64.b64encode(b"MZ\x90\x00 not an image at all").decode()
    attachment = {"filename": "a.jpg", "content_type": "image/jpeg", "data": fake}
    refused = await chat.send({"attachment": attachment})
    assert refused["replies"] and "CCCD" not in texts(refused["replies"])
    assert "CCCD" in texts((await chat.send(jpeg()))["replies"])


async def test_restart_mid_form_keeps_the_dossier_going(settings: Settings, database: Database,
                                                        nlu_engine: NLUEngine) -> None:
    def app() -> TestServer:
        return TestServer(create_app(Assistant.build(settings, nlu=nlu_engine, database=database)))

    async with TestClient(app()) as first:
        chat = await ChatSession.open(first)
        await open_birth_form(chat)
        await chat.say("Nguyễn Văn Bình")
        token, user_id = chat.token, chat.user_id
    async with TestClient(app()) as second:
        chat = ChatSession(second, token, user_id)
        assert "form:choice:male" in button_data(await chat.say("15/10/2025"))
        await chat.press("form:choice:male")
        for answer in ("Trạm Y tế xã La Bằng", "Trần Thị Hoa", MOTHER_ID):
            await chat.say(answer)
        await chat.press("form:skip")
        await chat.say("Xóm Kèm, xã La Bằng")
        await chat.say("0912345678")
        code = await send_papers_and_confirm(chat)
        assert code.endswith("000001")


async def test_procedure_info_and_forged_buttons(client: TestClient) -> None:
    chat = await ChatSession.open(client)
    info = await chat.say("đăng ký kết hôn cần gì")
    assert "Cả hai bên" in texts(info) and "dossier:start:marriage_registration" in button_data(info)
    listing = await chat.press("menu:procedure_info")
    assert "dossier:info:certified_copy" in button_data(listing)
    assert "2.000 đồng" in texts(await chat.press("dossier:info:certified_copy"))
    for forged in ("dossier:start:../../etc", "dossier:consent:nothing", "dossier:view:LB-2026-999999",
                   "dossier:explode:birth_registration"):
        replies = await chat.press(forged)
        assert replies and "Họ và tên" not in texts(replies)
    assert "chưa có hồ sơ" in texts(await chat.press("dossier:mine"))


async def test_erasing_the_account_keeps_the_dossier_as_a_record(client: TestClient,
                                                                 database: Database) -> None:
    chat = await ChatSession.open(client)
    await open_birth_form(chat)
    await fill_fields(chat)
    code = await send_papers_and_confirm(chat)
    assert "lưu trữ theo quy định" in texts(await chat.press("mydata:delete-confirm"))
    async with database.session() as session:
        dossier = (await session.execute(select(Dossier).where(Dossier.code == code))).scalar_one()
    assert dossier.user_id is None and dossier.status == "received"
