"""The citizen's own data: consent, phone, /mydata view, export, withdraw and delete."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text

from core.db import Database
from core.models import Consent, ConversationState, Media, User
from tests.support.chat import ChatSession, button_data, texts


async def share_phone(session: ChatSession, phone: str = "0912 345 678") -> list[dict]:
    return (await session.send({"contact": {"phone": phone}}))["replies"]


async def test_phone_needs_consent_first_then_is_stored_encrypted(client: TestClient,
                                                                  database: Database) -> None:
    session = await ChatSession.open(client)
    asked = await share_phone(session)
    assert "đồng ý" in texts(asked) and "consent:yes:contact" in button_data(asked)
    async with database.session() as db:
        assert (await db.execute(select(User.phone_enc))).scalar_one() is None
    granted = await session.press("consent:yes:contact")
    assert granted[0]["request_phone"] is True
    saved = await share_phone(session)
    assert "0912345678" in texts(saved) and "xác minh" not in texts(saved)
    async with database.session() as db:
        stored = (await db.execute(select(User.phone_enc))).scalar_one()
        assert stored and "0912345678" not in stored and "912345678" not in stored
        raw_dump = " ".join(str(row) for row in (await db.execute(text("SELECT * FROM users"))).all())
        assert "912345678" not in raw_dump
    assert "đúng" in texts(await share_phone(session, "12345"))


async def test_refusing_consent_stores_nothing(client: TestClient, database: Database) -> None:
    session = await ChatSession.open(client)
    await share_phone(session)
    assert "không lưu" in texts(await session.press("consent:no:contact"))
    async with database.session() as db:
        assert (await db.execute(select(func.count()).select_from(Consent))).scalar_one() == 0


async def test_mydata_shows_what_is_kept(client: TestClient) -> None:
    session = await ChatSession.open(client)
    await share_phone(session)
    await session.press("consent:yes:contact")
    await share_phone(session)
    summary = await session.say("/mydata")
    body = texts(summary)
    assert "0912345678 (lưu mã hóa)" in body and "Liên hệ qua số điện thoại" in body and "web" in body
    assert "contact" not in body  # consent purposes by their names, not their keys
    mine = [data for data in button_data(summary) if not data.startswith("listen:")]  # 🔊 under long texts
    assert mine == ["mydata:export", "mydata:withdraw", "mydata:delete"]
    assert "Dữ liệu của bạn" in texts(await session.say("tôi muốn xem dữ liệu cá nhân của mình"))


async def test_export_is_a_signed_json_download(client: TestClient) -> None:
    session = await ChatSession.open(client)
    await share_phone(session)
    await session.press("consent:yes:contact")
    await share_phone(session)
    (reply,) = await session.press("mydata:export")
    url = urlsplit(reply["document_url"])
    response = await client.get(f"{url.path}?{url.query}")
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/json")
    exported = json.loads(await response.read())
    assert exported["user"]["phone"] == "0912345678"
    assert exported["consents"][0]["purpose"] == "contact"
    tampered = url.query.replace("sig=", "sig=0")
    assert (await client.get(f"{url.path}?{tampered}")).status == 404
    assert (await client.get(f"{url.path}")).status == 404


async def test_withdraw_consent(client: TestClient, database: Database) -> None:
    session = await ChatSession.open(client)
    await share_phone(session)
    await session.press("consent:yes:contact")
    assert "rút lại 1" in texts(await session.press("mydata:withdraw"))
    async with database.session() as db:
        consent = (await db.execute(select(Consent))).scalar_one()
        assert consent.withdrawn_at is not None
    assert "đồng ý" in texts(await share_phone(session))  # asked again before storing


async def test_delete_erases_the_user_and_ends_the_session(client: TestClient, database: Database) -> None:
    session = await ChatSession.open(client)
    keeper = await ChatSession.open(client)
    await share_phone(session)
    await session.press("consent:yes:contact")
    await share_phone(session)
    await session.press("mydata:export")
    assert "mydata:delete-confirm" in button_data(await session.press("mydata:delete"))
    assert "giữ nguyên" in texts(await session.press("mydata:keep"))
    assert "Đã xóa" in texts(await session.press("mydata:delete-confirm"))
    async with database.session() as db:
        assert (await db.execute(select(func.count()).select_from(User))).scalar_one() == 1
        for model in (Consent, Media, ConversationState):
            assert (await db.execute(select(func.count()).select_from(model))).scalar_one() == 0
    response = await client.post("/api/chat/messages", json={"text": "hi"}, headers=session.headers)
    assert response.status == 401
    assert "Xin chào" in texts(await keeper.say("xin chào"))
