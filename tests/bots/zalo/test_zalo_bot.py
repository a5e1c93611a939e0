"""The Zalo Bot API channel end to end: updates (with and without the `result` wrapper) into
`POST /zalo/bot/webhook`, or polled with getUpdates, replies out through the outbox to a fake Bot API."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from bots.server import ASSISTANT, CHANNELS
from bots.zalo import admin
from bots.zalo.bot_channel import polling
from core.config import Settings
from core.db import Database
from core.media import media_url, store_media
from core.messages import Button, Reply
from core.models import User
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, jpeg, texts
from tests.support.exported import media_link, opened, plain_export
from tests.support.fake_zalo import BOT_SECRET, FakeZalo, bot_update
from tests.support.zalo import bot_settings, open_client, zalo_settings
from tests.support.zalo_chat import BotChat, joined, settle

CHAT = "a1b2c3d4e5"


@pytest.fixture
async def bot(settings: Settings, database: Database, nlu_engine: NLUEngine,
              fake: FakeZalo) -> AsyncIterator[TestClient]:
    client = await open_client(bot_settings(settings, fake), database, nlu_engine)
    yield client
    await client.close()


@pytest.fixture
def chat(bot: TestClient, fake: FakeZalo, database: Database) -> BotChat:
    return BotChat(bot, fake, database, CHAT)


async def test_text_is_answered_with_a_numbered_menu_after_a_typing_action(chat: BotChat,
                                                                           fake: FakeZalo) -> None:
    [call] = await chat.say("xin chào")
    assert call.kind == "sendMessage" and call.params["chat_id"] == CHAT
    assert "Xin chào" in call.text and "\n1. 🗂 Nộp hồ sơ" in call.text
    assert "trả lời bằng số" in call.text
    actions = fake.sent("sendChatAction")
    assert actions and actions[0].params == {"chat_id": CHAT, "action": "typing"}
    assert actions[0].at < call.at


async def test_both_body_forms_are_accepted(chat: BotChat) -> None:
    assert await chat.post(bot_update("xin chào", CHAT, wrapped=True))
    assert await chat.post(bot_update("xin chào", CHAT, wrapped=False))


@pytest.mark.parametrize("headers", [{}, {"X-Bot-Api-Secret-Token": "wrong-secret"},
                                     {"X-Bot-Api-Secret-Token": BOT_SECRET + "x"}])
async def test_a_wrong_or_missing_secret_gets_401(chat: BotChat, fake: FakeZalo,
                                                  headers: dict[str, str]) -> None:
    response = await chat.client.post("/zalo/bot/webhook", json=bot_update("xin chào", CHAT), headers=headers)
    assert response.status == 401 and await response.json() == {"error": "unauthorized"}  # no detail
    assert not fake.calls


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"ok": true, "result": {"event_name": "x"}}'])
async def test_malformed_updates_get_400(chat: BotChat, body: bytes) -> None:
    response = await chat.client.post("/zalo/bot/webhook", data=body, headers={
        "X-Bot-Api-Secret-Token": BOT_SECRET, "Content-Type": "application/json"})
    assert response.status == 400


async def test_a_redelivered_message_is_answered_once(chat: BotChat) -> None:
    update = bot_update("xin chào", CHAT)
    assert await chat.post(update)
    assert await chat.post(update) == []


async def test_group_chats_and_bots_are_ignored(chat: BotChat) -> None:
    group = bot_update("xin chào", CHAT)
    group["result"]["message"]["chat"]["chat_type"] = "GROUP"
    assert await chat.post(group) == []
    other_bot = bot_update("xin chào", CHAT)
    other_bot["result"]["message"]["from"]["is_bot"] = True
    assert await chat.post(other_bot) == []


async def test_a_whole_conversation_by_numbers_and_labels_like_the_web_chat(chat: BotChat,
                                                                            client: TestClient) -> None:
    """The birth registration opening: the same answers as the web chat, choices typed as numbers or
    as their labels."""
    web = await ChatSession.open(client)
    web_start = await web.say("làm giấy khai sinh cho con")
    zalo_start = await chat.say("làm giấy khai sinh cho con")
    assert texts(web_start).split("\n")[0] in joined(zalo_start)
    data = [b["data"] for r in web_start for b in r["buttons"]]
    number = data.index("dossier:start:birth_registration") + 1
    zalo_consent = await chat.say(str(number))
    web_consent = await web.press("dossier:start:birth_registration")
    assert texts(web_consent).split("\n")[0] in joined(zalo_consent)
    consent_label = next(b["label"] for r in web_consent for b in r["buttons"]
                         if b["data"] == "dossier:consent:birth_registration")
    assert "Họ và tên của bé" in joined(await chat.say(consent_label))


async def test_a_photo_reply_uses_send_photo_with_a_signed_link(bot: TestClient, fake: FakeZalo) -> None:
    assistant = bot.app[ASSISTANT]
    async with assistant.database.session() as session:
        media_id = await store_media(session, b"\x89PNG small", "image/png")
        link = media_url(assistant.services.hasher, assistant.settings.public_url, media_id)
        await assistant.services.outbox.enqueue(session, channel="zalobot", chat_id=CHAT,
                                                reply=Reply("Ảnh", image_url=link), key="t:photo")
    await assistant.services.outbox.wake("zalobot")
    calls = await fake.wait_for(2, "sendMessage", "sendPhoto")
    assert calls[1].kind == "sendPhoto" and f"/media/{media_id}?" in calls[1].params["photo"]


async def test_a_mydata_export_arrives_as_the_plain_json_document(chat: BotChat, bot: TestClient,
                                                                 database: Database) -> None:
    """The Bot API sends documents as links: the export's, opened, is the plain JSON of the villager's
    own data (it is stored sealed, and opens only through the villager's own link)."""
    assert await chat.say("/mydata")
    link = media_link(joined(await chat.tap("mydata:export")))
    assert link is not None and "&by=" in link
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.channel == "zalobot",
                                                         User.external_id == CHAT))).scalar_one()
    exported = plain_export(await opened(bot, link))
    assert exported["user"]["id"] == user.id and exported["user"]["channel"] == "zalobot"


async def test_a_link_button_becomes_its_address_in_the_text(bot: TestClient, fake: FakeZalo) -> None:
    assistant = bot.app[ASSISTANT]
    pay = "https://xa.example.vn/pay/abc?sig=1"
    async with assistant.database.session() as session:
        await assistant.services.outbox.enqueue(
            session, channel="zalobot", chat_id=CHAT, key="t:link",
            reply=Reply("Thanh toán", (Button("💳 Trả bằng thẻ", "shop:pay", pay), Button("Hủy", "x:1"))))
    await assistant.services.outbox.wake("zalobot")
    [call] = await fake.wait_for(1, "sendMessage")
    assert f"💳 Trả bằng thẻ: {pay}" in call.text and "1. Hủy" in call.text and "2." not in call.text


async def test_blocked_users_are_marked_unreachable(chat: BotChat, fake: FakeZalo,
                                                    database: Database) -> None:
    fake.fail_bot("sendMessage", 403, "Forbidden: user blocked the bot")
    await chat.say("xin chào")
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.channel == "zalobot"))).scalar_one()
    assert user.unreachable
    dead = await chat.client.app[ASSISTANT].services.outbox.dead_letters("zalobot")
    assert dead and "403" in (dead[0].last_error or "")


async def test_server_errors_are_retried(chat: BotChat, fake: FakeZalo) -> None:
    fake.fail_bot("sendMessage", 502, "Bad Gateway")
    replies = await chat.say("xin chào")
    assert [call.kind for call in replies] == ["sendMessage", "sendMessage"]


async def test_polling_receives_updates_without_a_public_address(settings: Settings, database: Database,
                                                                  nlu_engine: NLUEngine,
                                                                  fake: FakeZalo) -> None:
    configured = bot_settings(settings, fake, zalo_bot_mode="auto")
    assert polling(configured)  # public_url is http in tests
    assert not polling(configured.model_copy(update={"public_url": "https://xa.example.vn"}))
    fake.webhook = {"url": "https://old.example.vn/zalo/bot/webhook", "secret_token": BOT_SECRET}
    client = await open_client(configured, database, nlu_engine)
    try:
        fake.add_update(bot_update("xin chào", CHAT, wrapped=False))
        calls = await fake.wait_for(1, "sendMessage")
        await settle(database, "zalobot")
        assert "Xin chào" in calls[0].text
        assert fake.sent("deleteWebhook") and not fake.webhook
        assert "zalo" not in client.app[CHANNELS]
    finally:
        await client.close()


async def test_cli_set_webhook_registers_the_https_address_and_secret(settings: Settings,
                                                                       fake: FakeZalo) -> None:
    configured = bot_settings(settings, fake, public_url="https://xa.example.vn")
    out = io.StringIO()
    async with aiohttp.ClientSession() as http:
        await admin.set_webhook(configured, out, http)
        assert fake.webhook == {"url": "https://xa.example.vn/zalo/bot/webhook", "secret_token": BOT_SECRET}
        await admin.webhook_info(configured, out, http)
        with pytest.raises(admin.SetupError):
            await admin.set_webhook(bot_settings(settings, fake), io.StringIO(), http)  # http address
        with pytest.raises(admin.SetupError):
            await admin.set_webhook(configured.model_copy(update={
                "zalo_bot_webhook_secret": SecretStr("short")}), io.StringIO(), http)
    assert "webhook set" in out.getvalue() and "xa.example.vn" in out.getvalue()


async def test_cli_wiring(settings: Settings, fake: FakeZalo, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    from bots import cli

    monkeypatch.setattr(cli, "_settings", lambda: bot_settings(settings, fake,
                                                               public_url="https://xa.example.vn"))
    assert await asyncio.to_thread(cli.main, ["zalo", "set-webhook"]) == 0
    assert "webhook set" in capsys.readouterr().out


async def test_a_whole_birth_registration_then_its_status_over_the_bot(chat: BotChat, fake: FakeZalo) -> None:
    assert "Đăng ký khai sinh" in joined(await chat.say("lam giay khai sinh cho con"))
    await chat.tap("dossier:start:birth_registration")
    assert "Họ và tên của bé" in joined(await chat.tap("dossier:consent:birth_registration"))
    for answer in ("Nguyễn Văn Bình", "15/10/2025"):
        await chat.say(answer)
    await chat.tap("form:choice:male")
    for answer in ("Trạm Y tế xã La Bằng", "Trần Thị Hoa", "019190012345"):
        await chat.say(answer)
    await chat.tap("form:skip")
    await chat.say("Xóm Kèm, xã La Bằng")
    assert "Giấy chứng sinh" in joined(await chat.say("0912345678"))
    for number, colour in enumerate(((30, 120, 200), (10, 200, 10))):
        url = fake.file_url(f"bpaper{number}.jpg", base64.b64decode(jpeg(colour)["attachment"]["data"]))
        await chat.post(bot_update(None, CHAT, event_name="message.image.received", photo=url))
    assert "Trần Thị Hoa" in joined(await chat.tap("form:skip"))
    receipt = joined(await chat.tap("form:confirm"))
    code = re.search(r"LB-\d{4}-\d{6}", receipt)
    assert code, receipt
    status = joined(await chat.say(f"{code.group(0)} đến đâu rồi"))
    assert code.group(0) in status and "Đã tiếp nhận" in status


async def test_cli_token_and_serve_flag(settings: Settings, database: Database, fake: FakeZalo,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from bots import cli

    assert cli.build_parser().parse_args(["serve", "--zalo-polling"]).zalo_polling
    monkeypatch.setattr(cli, "_settings", lambda: zalo_settings(settings, fake))
    assert await asyncio.to_thread(cli.main, ["zalo", "token"]) == 0
    shown = capsys.readouterr().out
    assert '"refresh_token": "set"' in shown and "refresh-0" not in shown
    fake.fail_oauth()
    assert await asyncio.to_thread(cli.main, ["zalo", "token", "--refresh"]) == 2
    assert "refused" in capsys.readouterr().err
