"""The Telegram channel end to end: real-shaped updates into the webhook of the real app, replies out
through the outbox to a fake Bot API on loopback, asserted on the calls it recorded."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bots.assistant import Assistant
from bots.server import CHANNELS, create_app
from bots.telegram.channel import TelegramChannel
from core.config import Settings
from core.db import Database
from core.models import OutboxMessage, User
from nlu.engine import NLUEngine
from tests.support.exported import media_link, opened, plain_export
from tests.support.fake_telegram import BOT_USERNAME, FakeTelegram
from tests.support.telegram import (
    HEADERS,
    SECRET,
    callback_update,
    fake,
    message_update,
    open_client,
    post,
    telegram_settings,
    tg,
)

__all__ = ["fake", "tg"]  # fixtures, used by name


def keyboard_data(call: Any) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]


# Receiving


async def test_start_command_answers_with_the_menu_as_an_inline_keyboard(tg: TestClient,
                                                                       fake: FakeTelegram) -> None:
    await post(tg, message_update(text="/start"))
    [call] = await fake.wait_for(1)
    assert call.method == "sendMessage" and call.chat_id == 42
    assert "Xin chào An" in call.params["text"]
    data = keyboard_data(call)
    assert data and all(len(item.encode()) <= 64 for item in data)
    assert data[0].startswith("menu:dossier_submit~")
    assert any(c.method == "getMe" for c in fake.calls)


async def test_text_in_english_is_understood(tg: TestClient, fake: FakeTelegram) -> None:
    update = message_update(text="hello")
    update["message"]["from"]["language_code"] = "en"
    await post(tg, update)
    [call] = await fake.wait_for(1)
    assert "Hello" in call.params["text"]


async def test_button_press_is_answered_and_routed(tg: TestClient, fake: FakeTelegram) -> None:
    await post(tg, message_update(text="/start"))
    [menu] = await fake.wait_for(1)
    emergency = next(item for item in keyboard_data(menu) if item.startswith("menu:emergency~"))
    await post(tg, callback_update(emergency))
    calls = await fake.wait_for(2)
    assert "115" in calls[1].params["text"]
    [answer] = fake.sent("answerCallbackQuery")
    assert "text" not in answer.params


async def test_forged_button_data_is_refused_before_the_pipeline(tg: TestClient, fake: FakeTelegram) -> None:
    for forged in ("menu:emergency", "menu:emergency~0123456789abcdef", "#deadbeef~0123456789abcdef", ""):
        await post(tg, callback_update(forged))
    answers = await fake.wait_for(4, "answerCallbackQuery")
    assert all("không còn dùng được" in answer.params["text"] for answer in answers)
    await asyncio.sleep(0.3)
    assert fake.sent() == []
    metrics = await (await tg.get("/metrics")).text()
    assert 'xaso_webhook_rejections_total{reason="forged_button",source="telegram"} 4.0' in metrics


async def test_own_contact_is_verified_and_a_forwarded_one_is_not(tg: TestClient, fake: FakeTelegram,
                                                                 database: Database) -> None:
    for user_id, contact_owner in ((42, 42), (43, 99)):
        contact = {"phone_number": "+84912345678", "first_name": "An", "user_id": contact_owner}
        await post(tg, message_update(user_id=user_id, contact=contact))
        [*_, ask] = await fake.wait_for(len(fake.sent()) + 1)
        yes = next(item for item in keyboard_data(ask) if item.startswith("consent:yes:contact~"))
        await post(tg, callback_update(yes, user_id=user_id))
        [*_, granted] = await fake.wait_for(len(fake.sent()) + 1)
        markup = granted.params["reply_markup"]
        assert markup["keyboard"][0][0]["request_contact"] is True
        await post(tg, message_update(user_id=user_id, contact=contact))
        await fake.wait_for(len(fake.sent()) + 1)
    async with database.session() as session:
        verified = dict((await session.execute(
            select(User.external_id, User.phone_verified).where(User.channel == "telegram"))).all())
    assert verified == {"42": True, "43": False}


async def test_location(tg: TestClient, fake: FakeTelegram) -> None:
    await post(tg, message_update(location={"latitude": 21.59, "longitude": 105.84}))
    [call] = await fake.wait_for(1)
    assert "Mã địa chỉ số" in call.params["text"]  # a shared location answers with its address code


async def test_photo_is_fetched_with_get_file(tg: TestClient, fake: FakeTelegram) -> None:
    fake.add_file("ph-big", b"\xff\xd8\xff\xe0 not really a jpeg", "photos/file_7.jpg")
    photo = [{"file_id": "ph-small", "file_unique_id": "a", "width": 90, "height": 90, "file_size": 10},
             {"file_id": "ph-big", "file_unique_id": "b", "width": 800, "height": 600, "file_size": 26}]
    await post(tg, message_update(photo=photo))
    [call] = await fake.wait_for(1)
    assert [c.params["file_id"] for c in fake.sent("getFile")] == ["ph-big"]
    assert "nhận tệp" in call.params["text"]


async def test_oversized_document_is_refused_without_download(tg: TestClient, fake: FakeTelegram) -> None:
    document = {"file_id": "doc1", "file_unique_id": "d", "file_name": "scan.pdf",
                "mime_type": "application/pdf", "file_size": 50 * 1024 * 1024}
    await post(tg, message_update(document=document))
    [call] = await fake.wait_for(1)
    assert "10 MB" in call.params["text"]
    assert fake.sent("getFile") == []


async def test_voice_is_answered_honestly_with_buttons(tg: TestClient, fake: FakeTelegram) -> None:
    voice = {"file_id": "vo1", "file_unique_id": "v", "duration": 3, "mime_type": "audio/ogg",
             "file_size": 5000}
    await post(tg, message_update(voice=voice))
    [call] = await fake.wait_for(1)
    assert "thoại" in call.params["text"]
    assert keyboard_data(call)


async def test_groups_answer_only_commands_for_this_bot_and_mentions(tg: TestClient,
                                                                    fake: FakeTelegram) -> None:
    group = {"id": -100123, "type": "supergroup", "title": "Thôn 3"}
    for text in ("xin chào cả nhà", "/help@other_bot", "hello @someone_else"):
        await post(tg, message_update(chat=group, text=text))
    await post(tg, message_update(chat=group, location={"latitude": 21.0, "longitude": 105.0}))
    await asyncio.sleep(0.5)
    assert fake.sent() == []
    for text in (f"/help@{BOT_USERNAME}", "/help", f"@{BOT_USERNAME} xin chào"):
        await post(tg, message_update(chat=group, text=text))
    calls = await fake.wait_for(3)
    assert {call.chat_id for call in calls} == {-100123}
    assert "Xin chào" in calls[2].params["text"]


async def test_a_repeated_update_is_handled_once(tg: TestClient, fake: FakeTelegram) -> None:
    update = message_update(text="/help")
    for _ in range(3):
        await post(tg, update)
    await fake.wait_for(1)
    await asyncio.sleep(0.5)
    assert len(fake.sent()) == 1


async def test_bad_secret_and_malformed_bodies(tg: TestClient, fake: FakeTelegram) -> None:
    update = message_update(text="/start")
    await post(tg, update, headers={}, expect=401)
    await post(tg, update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]}, expect=401)
    await post(tg, update, headers={"X-Telegram-Bot-Api-Secret-Token": ""}, expect=401)
    for body in ([1, 2], {"message": {}}, {"update_id": "7"}, "null",
                 {"update_id": 7, "message": {"chat": "oops"}}):
        await post(tg, body, expect=400)
    for raw, content_type in ((b"{not json", "application/json"), (b"\xff\xfe", "application/json"),
                              (json.dumps(update).encode(), "text/plain")):
        response = await tg.post("/telegram/webhook", data=raw,
                                 headers=HEADERS | {"Content-Type": content_type})
        assert response.status == 400
    await asyncio.sleep(0.3)
    assert fake.sent() == []
    metrics = await (await tg.get("/metrics")).text()
    assert 'xaso_webhook_rejections_total{reason="secret",source="telegram"} 3.0' in metrics


async def test_webhook_refuses_everything_without_a_configured_secret(
        settings: Settings, database: Database, nlu_engine: NLUEngine, fake: FakeTelegram) -> None:
    client = await open_client(telegram_settings(settings, fake, telegram_webhook_secret=None),
                               database, nlu_engine)
    try:
        await post(client, message_update(text="/start"), expect=401)
    finally:
        await client.close()


async def test_service_starts_while_telegram_is_unreachable(
        settings: Settings, database: Database, nlu_engine: NLUEngine, fake: FakeTelegram) -> None:
    fake.fail("getMe", 502, "Bad Gateway", times=1)
    client = await open_client(telegram_settings(settings, fake), database, nlu_engine)
    try:
        assert (await client.get("/healthz")).status == 200
        assert len(fake.sent("getMe")) >= 2
    finally:
        await client.close()


# Sending


async def test_retry_after_is_honoured(tg: TestClient, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await post(tg, message_update(text="/help"))
    calls = await fake.wait_for(2)
    assert calls[1].at - calls[0].at >= 0.9


async def test_server_errors_are_retried(tg: TestClient, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 502, "Bad Gateway", times=2)
    await post(tg, message_update(text="/help"))
    calls = await fake.wait_for(3)
    assert len({call.params["text"] for call in calls}) == 1


async def test_blocked_user_is_marked_unreachable(tg: TestClient, fake: FakeTelegram,
                                                 database: Database) -> None:
    fake.block()
    await post(tg, message_update(user_id=77, text="/help"))
    await fake.wait_for(1)
    async with asyncio.timeout(5):
        while True:
            async with database.session() as session:
                user = (await session.execute(select(User).where(User.external_id == "77"))).scalar_one()
                row = (await session.execute(select(OutboxMessage))).scalar_one()
            if user.unreachable and row.status == "dead":
                break
            await asyncio.sleep(0.05)
    assert "forbidden" in (row.last_error or "")


async def test_a_mydata_export_arrives_as_the_plain_json_document(tg: TestClient, fake: FakeTelegram,
                                                                 database: Database) -> None:
    """The export is stored sealed: what reaches the villager (the file uploaded into the chat, or the
    link, opened) is the JSON document of their own data, never the ciphertext."""
    await post(tg, message_update(text="/mydata"))
    [card] = await fake.wait_for(1)
    export = next(data for data in keyboard_data(card) if data.startswith("mydata:export~"))
    await post(tg, callback_update(export))
    answer = (await fake.wait_for(2))[1]
    link = media_link(answer.params.get("text", ""))
    if link is not None:
        data = await opened(tg, link)
    else:
        [document] = await fake.wait_for(1, "sendDocument")
        data = document.files["document"]
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.channel == "telegram",
                                                         User.external_id == "42"))).scalar_one()
    exported = plain_export(data)
    assert exported["user"]["id"] == user.id and exported["user"]["channel"] == "telegram"
    assert exported["user"]["display_name"] == user.display_name


# Polling


async def test_polling_mode_receives_updates_from_get_updates(
        settings: Settings, database: Database, nlu_engine: NLUEngine, fake: FakeTelegram) -> None:
    fake.webhook = {"url": "https://old.example/telegram/webhook"}
    client = await open_client(telegram_settings(settings, fake, telegram_polling=True,
                                                 telegram_poll_timeout=1), database, nlu_engine)
    try:
        fake.add_update(message_update(text="/start"))
        [call] = await fake.wait_for(1)
        assert "Xin chào" in call.params["text"]
        assert fake.sent("deleteWebhook")
        polls = fake.sent("getUpdates")
        assert polls[0].params["allowed_updates"] == ["message", "callback_query"]
    finally:
        await client.close()


def test_channel_is_off_without_a_token(settings: Settings, nlu_engine: NLUEngine,
                                        database: Database) -> None:
    app = create_app(Assistant.build(settings, nlu=nlu_engine, database=database))
    assert "telegram" not in app[CHANNELS]
    assert TelegramChannel.name == "telegram"
