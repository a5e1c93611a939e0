"""Rendering and sending to the fake Bot API directly through `TelegramSender`, plus the pure parts
(text splitting, callback data, group addressing, contact verification) and the admin commands."""

from __future__ import annotations

import io
import json
import math
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from pydantic import SecretStr
from telegram import Update

from bots.telegram import callbacks
from bots.telegram.admin import SetupError, set_webhook, webhook_info
from bots.telegram.channel import build_application
from bots.telegram.parse import addressed_text, parse_message
from bots.telegram.render import TEXT_LIMIT, split_text, utf16_len
from bots.telegram.sender import TelegramSender
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.db import Database
from core.i18n import Catalogue
from core.media import media_url, store_media
from core.messages import Button, Reply
from core.models import Media
from core.outbox import SendError
from tests.support.fake_telegram import BOT_USERNAME, TOKEN, FakeTelegram, LoopbackRequest

SECRET = "s3cret-Token_for-tests"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    yield server
    await server.close()


@pytest.fixture
def tg_settings(settings: Settings, fake: FakeTelegram) -> Settings:
    return settings.model_copy(update={
        "telegram_token": SecretStr(TOKEN), "telegram_webhook_secret": SecretStr(SECRET),
        "telegram_api_base": fake.api_base, "telegram_per_chat_rate": math.inf,
        "public_url": "https://xa.example.vn"})


@pytest.fixture
async def sender(tg_settings: Settings, database: Database,
                 catalogue: Catalogue) -> AsyncIterator[TelegramSender]:
    application = build_application(tg_settings, LoopbackRequest)
    await application.bot.initialize()
    yield TelegramSender(application.bot, database, Hasher(tg_settings.secret()), tg_settings, catalogue,
                         cipher=FieldCipher(tg_settings.secret()))
    await application.bot.shutdown()


def test_split_text_respects_the_limit_and_cuts_at_boundaries() -> None:
    paragraph = "Thủ tục đăng ký khai sinh cần giấy chứng sinh. " * 40
    text = "\n".join([paragraph] * 6)
    pieces = split_text(text)
    assert len(pieces) > 1 and all(utf16_len(piece) <= TEXT_LIMIT for piece in pieces)
    assert all(not piece.endswith((" ", "\n")) for piece in pieces[:-1])
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
    emoji = "😀" * 5000  # two UTF-16 units each
    assert all(utf16_len(piece) <= TEXT_LIMIT for piece in split_text(emoji))
    assert "".join(split_text(emoji)) == emoji
    assert split_text("ngắn") == ["ngắn"]


async def test_callback_data_fits_and_round_trips(database: Database) -> None:
    hasher = Hasher(b"k" * 32)
    async with database.session() as session:
        short = await callbacks.pack(hasher, session, "menu:help", 42)
        long_data = "form:dossier_submit:field:" + "x" * 80
        long = await callbacks.pack(hasher, session, long_data, 42)
    assert len(short.encode()) <= 64 and len(long.encode()) <= 64 and long.startswith("#")
    async with database.session() as session:
        assert await callbacks.unpack(hasher, session, short, 42, 42) == "menu:help"
        assert await callbacks.unpack(hasher, session, long, 42, 42) == long_data
        assert await callbacks.unpack(hasher, session, short.replace("help", "hela"), 42, 42) is None
        assert await callbacks.unpack(hasher, session, short[:-1], 42, 42) is None
        assert await callbacks.unpack(Hasher(b"o" * 32), session, short, 42, 42) is None


def test_group_addressing() -> None:
    assert addressed_text("/help", BOT_USERNAME) == "/help"
    assert addressed_text(f"/join@{BOT_USERNAME} ABC", BOT_USERNAME) == "/join ABC"
    assert addressed_text(f"/join@{BOT_USERNAME.upper()} ABC", BOT_USERNAME) == "/join ABC"
    assert addressed_text("/help@other_bot", BOT_USERNAME) is None
    assert addressed_text(f"@{BOT_USERNAME} xin chào", BOT_USERNAME) == "xin chào"
    assert addressed_text(f"@{BOT_USERNAME}x hi", BOT_USERNAME) is None
    assert addressed_text("xin chào", BOT_USERNAME) is None


def test_contact_is_verified_only_when_it_is_the_senders_own() -> None:
    def contact(owner: int | None) -> bool:
        shared = {"phone_number": "0912345678", "first_name": "An"} | ({"user_id": owner} if owner else {})
        update = Update.de_json({"update_id": 1, "message": {
            "message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"},
            "from": {"id": 42, "is_bot": False, "first_name": "An"}, "contact": shared}}, None)
        assert update is not None and update.message is not None
        parsed = parse_message(update, update.message, BOT_USERNAME)
        assert parsed is not None and parsed.incoming.contact is not None
        return parsed.incoming.contact.verified
    assert contact(42) is True
    assert contact(43) is False
    assert contact(None) is False


async def test_long_text_is_sent_in_pieces_with_the_keyboard_on_the_last(
        sender: TelegramSender, fake: FakeTelegram) -> None:
    text = "\n".join(f"Dòng {n}: " + "chữ " * 30 for n in range(100))
    await sender.send("42", Reply(text, (Button("Menu", "menu:help"),)), "k1")
    calls = fake.sent()
    assert len(calls) == len(split_text(text)) >= 2
    assert all(utf16_len(call.params["text"]) <= TEXT_LIMIT for call in calls)
    assert [("reply_markup" in call.params) for call in calls] == [False] * (len(calls) - 1) + [True]


async def test_a_retry_resumes_after_the_pieces_already_sent(sender: TelegramSender,
                                                            fake: FakeTelegram) -> None:
    text = "\n".join("chữ " * 1000 for _ in range(3))
    pieces = split_text(text)
    assert len(pieces) == 3
    fake.fail("sendMessage", 502, "Bad Gateway", after=1)
    with pytest.raises(SendError):
        await sender.send("42", Reply(text), "k2")
    await sender.send("42", Reply(text), "k2")
    # piece 1 delivered, piece 2 refused, then the retry resumes at piece 2.
    assert [call.params["text"] for call in fake.sent()] == [pieces[0], pieces[1], pieces[1], pieces[2]]


async def test_media_from_our_store_is_uploaded_and_foreign_links_are_text(
        sender: TelegramSender, fake: FakeTelegram, database: Database, tg_settings: Settings) -> None:
    hasher = Hasher(tg_settings.secret())
    async with database.session() as session:
        photo = await store_media(session, b"\x89PNG\r\n\x1a\nfake", "image/png")
        voice = await store_media(session, b"OggS fake opus", "audio/ogg")
        document = await store_media(session, b"%PDF-1.4 fake", "application/pdf")
    public = tg_settings.public_url
    reply = Reply("Kết quả", (Button("Menu", "menu:help"),), audio_url=media_url(hasher, public, voice),
                  image_url=media_url(hasher, public, photo),
                  document_url=media_url(hasher, public, document))
    await sender.send("42", reply, "k3")
    assert [call.method for call in fake.sent()] == ["sendMessage", "sendVoice", "sendPhoto", "sendDocument"]
    assert fake.sent("sendVoice")[0].files["voice"] == b"OggS fake opus"
    assert fake.sent("sendPhoto")[0].files["photo"].startswith(b"\x89PNG")
    assert fake.sent("sendDocument")[0].files["document"].startswith(b"%PDF")

    fake.calls.clear()
    forged = media_url(hasher, public, photo).replace("sig=", "sig=0")
    await sender.send("42", Reply("Ảnh", image_url="https://evil.example/x.jpg"), "k4")
    await sender.send("42", Reply("Ảnh", image_url=forged), "k5")
    texts = [call.params["text"] for call in fake.sent()]
    assert [call.method for call in fake.sent()] == ["sendMessage", "sendMessage"]
    assert texts[0].endswith("https://evil.example/x.jpg") and texts[1].endswith(forged)


async def test_sealed_files_are_sent_opened_never_as_their_ciphertext(
        sender: TelegramSender, fake: FakeTelegram, database: Database, tg_settings: Settings) -> None:
    """A file stored sealed (a /mydata export, a health photo) is uploaded as its plain bytes."""
    hasher, cipher = Hasher(tg_settings.secret()), FieldCipher(tg_settings.secret())
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, "JPEG")
    photo, export = buffer.getvalue(), json.dumps({"user": {"id": 7, "channel": "telegram"}}).encode()
    async with database.session() as session:
        photo_id = await store_media(session, photo, "image/jpeg", cipher=cipher)
        export_id = await store_media(session, export, "application/json", cipher=cipher)
        stored = await session.get(Media, photo_id)
        assert stored is not None and stored.sealed and stored.data != photo  # kept as ciphertext
    public = tg_settings.public_url
    await sender.send("42", Reply("Tệp", image_url=media_url(hasher, public, photo_id),
                                  document_url=media_url(hasher, public, export_id)), "k-sealed")
    assert fake.sent("sendPhoto")[0].files["photo"] == photo
    assert json.loads(fake.sent("sendDocument")[0].files["document"])["user"]["id"] == 7


async def test_request_phone_and_location_become_a_reply_keyboard(sender: TelegramSender,
                                                                  fake: FakeTelegram) -> None:
    await sender.send("42", Reply("Gửi số điện thoại", request_phone=True, request_location=True), "k6")
    [call] = fake.sent()
    [row] = call.params["reply_markup"]["keyboard"]
    assert row[0]["request_contact"] is True and row[1]["request_location"] is True
    fake.calls.clear()
    await sender.send("42", Reply("Chọn", (Button("A", "menu:help"),), request_phone=True), "k7")
    first, second = fake.sent()
    assert "inline_keyboard" in first.params["reply_markup"] and "keyboard" in second.params["reply_markup"]


async def test_errors_map_to_retry_decisions(sender: TelegramSender, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(SendError) as limited:
        await sender.send("42", Reply("a"), "e1")
    assert limited.value.retry_after == 7 and not limited.value.permanent
    fake.fail("sendMessage", 500, "Internal Server Error")
    with pytest.raises(SendError) as server:
        await sender.send("42", Reply("a"), "e2")
    assert not server.value.permanent and server.value.retry_after is None
    fake.fail("sendMessage", 400, "Bad Request: chat not found")
    with pytest.raises(SendError) as bad:
        await sender.send("42", Reply("a"), "e3")
    assert bad.value.permanent
    fake.block()
    with pytest.raises(SendError) as blocked:
        await sender.send("42", Reply("a"), "e4")
    assert blocked.value.permanent and TOKEN not in blocked.value.reason


def test_groups_are_paced_slower(sender: TelegramSender) -> None:
    assert sender.chat_rate("-100123") == pytest.approx(20 / 60)
    assert sender.chat_rate("42") == sender.per_chat_rate


async def test_set_webhook_and_info(tg_settings: Settings, fake: FakeTelegram) -> None:
    out = io.StringIO()
    await set_webhook(tg_settings, out, LoopbackRequest)
    assert fake.webhook == {"url": "https://xa.example.vn/telegram/webhook", "secret_token": SECRET,
                            "allowed_updates": ["message", "callback_query"]}
    await webhook_info(tg_settings, out, LoopbackRequest)
    assert '"url": "https://xa.example.vn/telegram/webhook"' in out.getvalue()
    assert f"@{BOT_USERNAME}" in out.getvalue()
    with pytest.raises(SetupError):
        await set_webhook(tg_settings.model_copy(update={"telegram_webhook_secret": SecretStr("bad secret")}),
                          out, LoopbackRequest)
