"""The Zalo OA channel end to end: real-shaped, signed events into `POST /zalo/webhook` of the real app,
replies out through the outbox to a fake OA API on loopback, asserted on the calls it recorded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bots.server import ASSISTANT, CHANNELS
from bots.zalo.models import ZaloAddress
from core.config import Settings
from core.crypto import FieldCipher
from core.db import Database
from core.models import AuditEntry, OutboxMessage, User
from tests.support.chat import ChatSession, jpeg, texts
from tests.support.exported import media_link, opened, plain_export
from tests.support.fake_zalo import (
    ACCESS_TOKEN,
    APP_ID,
    APP_SECRET,
    OA_SECRET,
    REFRESH_TOKEN,
    FakeZalo,
    oa_event,
    signed,
    text_event,
)
from tests.support.zalo import USER
from tests.support.zalo_chat import OAChat, joined, labels_of, settle


@pytest.fixture
def chat(oa: TestClient, fake: FakeZalo, database: Database) -> OAChat:
    return OAChat(oa, fake, database, USER)


async def raw_post(client: TestClient, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    response = await client.post("/zalo/webhook", data=body, headers=headers)
    return response.status, await response.text()


async def actions(database: Database) -> list[str]:
    async with database.session() as session:
        return list((await session.execute(select(AuditEntry.action).order_by(AuditEntry.seq))).scalars())


# Receiving: signature, freshness, de-duplication


async def test_text_is_answered_through_the_oa_api_with_the_token_header(chat: OAChat) -> None:
    [first, *rest] = await chat.say("xin chào")
    assert first.user_id == USER and first.headers["access_token"] == ACCESS_TOKEN
    assert "Xin chào" in first.text
    assert all(button["type"] == "oa.query.show" for call in [first, *rest] for button in call.buttons)
    assert all(len(call.buttons) <= 5 for call in [first, *rest])
    assert "🗂 Nộp hồ sơ" in labels_of([first, *rest])


async def test_signature_is_accepted_with_or_without_the_mac_prefix(oa: TestClient, fake: FakeZalo,
                                                                     database: Database) -> None:
    for prefix in ("mac=", ""):
        body, headers = signed(text_event("xin chào", USER), prefix=prefix)
        assert (await raw_post(oa, body, headers))[0] == 200
    await settle(database, "zalo")
    assert len({call.text for call in fake.sent("cs")}) >= 1 and fake.sent("cs")


@pytest.mark.parametrize("case", ["wrong_secret", "missing", "garbage", "other_app", "hmac_instead"])
async def test_forged_signatures_get_401_without_detail(oa: TestClient, fake: FakeZalo, case: str) -> None:
    event = text_event("xin chào", USER)
    body, headers = signed(event)
    if case == "wrong_secret":
        body, headers = signed(event, secret="not-the-oa-secret")
    elif case == "missing":
        del headers["X-ZEvent-Signature"]
    elif case == "garbage":
        headers["X-ZEvent-Signature"] = "mac=zz" + "0" * 62
    elif case == "other_app":
        body, headers = signed(event, app_id="999")
    else:
        signed_part = APP_ID.encode() + body + event["timestamp"].encode()
        mac = hmac.new(OA_SECRET.encode(), signed_part, hashlib.sha256)
        headers["X-ZEvent-Signature"] = "mac=" + mac.hexdigest()
    status, text = await raw_post(oa, body, headers)
    assert (status, text) == (401, '{"error":"unauthorized"}')  # no detail
    assert not fake.calls


async def test_every_single_byte_mutation_of_a_signed_body_is_refused(oa: TestClient, fake: FakeZalo) -> None:
    body, headers = signed(text_event("xin chào", USER, msg_id="mutation"))
    accepted = 0
    for position in range(0, len(body), 3):
        mutated = bytearray(body)
        mutated[position] ^= 0x01
        status, _ = await raw_post(oa, bytes(mutated), headers)
        assert status in (400, 401)
        accepted += status == 200
    assert accepted == 0 and not fake.calls


async def test_upper_case_hex_is_the_same_signature(oa: TestClient) -> None:
    body, headers = signed(text_event("xin chào", USER))
    headers["X-ZEvent-Signature"] = headers["X-ZEvent-Signature"].upper().replace("MAC=", "mac=")
    assert (await raw_post(oa, body, headers))[0] == 200


@pytest.mark.parametrize(("offset_seconds", "expected"), [(-25 * 3600, 400), (-23 * 3600, 200),
                                                          (10 * 60, 400), (2 * 60, 200)])
async def test_events_outside_the_time_window_are_refused(oa: TestClient, offset_seconds: int,
                                                          expected: int) -> None:
    stamp = int((time.time() + offset_seconds) * 1000)
    body, headers = signed(text_event("xin chào", USER, timestamp=stamp))
    assert (await raw_post(oa, body, headers))[0] == expected


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"event_name": "user_send_text"}', b"\xff\xfe"])
async def test_malformed_bodies_get_400(oa: TestClient, body: bytes) -> None:
    status, _ = await raw_post(oa, body, {"X-ZEvent-Signature": "mac=" + "0" * 64,
                                          "Content-Type": "application/json"})
    assert status == 400


async def test_a_redelivered_msg_id_is_answered_once(chat: OAChat, fake: FakeZalo) -> None:
    event = text_event("xin chào", USER, msg_id="same-msg-id")
    first = await chat.post(event)
    again = await chat.post(event)
    assert first and again == []


async def test_the_oas_own_echoes_and_unknown_events_are_ignored(chat: OAChat, fake: FakeZalo) -> None:
    echo = oa_event("oa_send_text", USER, message={"text": "hi", "msg_id": "echo1"})
    assert await chat.post(echo) == []


# Buttons: oa.query.show payloads come back as text


async def test_a_button_payload_sent_back_is_routed_as_the_press_like_the_web_chat(
        chat: OAChat, client: TestClient) -> None:
    await chat.say("làm giấy khai sinh cho con")
    web = await ChatSession.open(client)
    web_start = await web.say("làm giấy khai sinh cho con")
    start = next(b for r in web_start for b in r["buttons"]
                 if b["data"] == "dossier:start:birth_registration")
    zalo_consent = await chat.press(start["label"])
    web_consent = await web.press("dossier:start:birth_registration")
    assert joined(zalo_consent).strip() == texts(web_consent).strip()
    consent_label = next(b["label"] for r in web_consent for b in r["buttons"]
                         if b["data"] == "dossier:consent:birth_registration")
    assert consent_label in labels_of(zalo_consent)
    assert "Họ và tên của bé" in joined(await chat.press(consent_label))


async def test_a_label_only_sent_to_someone_else_stays_text(chat: OAChat, oa: TestClient, fake: FakeZalo,
                                                            database: Database) -> None:
    await chat.say("làm giấy khai sinh cho con")
    label = next(b["payload"] for call in fake.sent("cs") for b in call.buttons
                 if "khai sinh" in b["payload"].lower() or b["payload"].startswith("✅"))
    other = OAChat(oa, fake, database, "9999999999")
    await other.say(label)
    await chat.say(label)
    async with database.session() as session:
        rows = (await session.execute(select(AuditEntry.actor, AuditEntry.action)
                                      .where(AuditEntry.action.like("message.%")))).all()
        users = {external: f"user:{uid}" for uid, external in (await session.execute(
            select(User.id, User.external_id).where(User.channel == "zalo"))).all()}
    assert (users["9999999999"], "message.text") in rows
    assert (users[USER], "message.button") in rows


async def test_staff_buttons_still_need_the_role(chat: OAChat, database: Database) -> None:
    """Even a button we did send is checked by the pipeline against the user's roles."""
    from bots.zalo import buttons
    from core.messages import Button

    async with database.session() as session:
        await buttons.remember(session, "zalo", USER, (Button("Duyệt hồ sơ", "staff:approve:1"),))
    replies = await chat.say("Duyệt hồ sơ")
    assert "quyền" in joined(replies).lower()
    assert "authorize" in await actions(database)


# Events


async def test_follow_greets_with_the_menu_and_unfollow_marks_unreachable(chat: OAChat,
                                                                          database: Database) -> None:
    greeting = await chat.post(oa_event("follow", USER))
    assert "Xin chào" in joined(greeting) and labels_of(greeting)
    assert await chat.post(oa_event("unfollow", USER)) == []
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.external_id == USER))).scalar_one()
        assert user.unreachable
    assert "zalo.unfollow" in await actions(database)
    await chat.say("xin chào")  # writing again makes the user reachable
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.external_id == USER))).scalar_one()
        assert not user.unreachable


@pytest.mark.parametrize("shape", ["attachment", "message_location"])
async def test_location_in_both_shapes(chat: OAChat, database: Database, shape: str) -> None:
    coordinates = {"latitude": "21.6301", "longitude": "105.6912"}
    message: dict[str, Any] = {"msg_id": f"loc-{shape}", "text": ""}
    if shape == "attachment":
        message["attachments"] = [{"type": "location", "payload": {"coordinates": coordinates}}]
    else:
        message["location"] = coordinates
    replies = await chat.post(oa_event("user_send_location", USER, message=message))
    assert replies
    assert "message.location" in await actions(database)


async def test_image_is_fetched_from_zalo_and_reaches_the_pipeline(chat: OAChat, fake: FakeZalo,
                                                                   database: Database) -> None:

    data = base64.b64decode(jpeg()["attachment"]["data"])
    url = fake.file_url("photo1.jpg", data)
    event = oa_event("user_send_image", USER, message={"msg_id": "img1", "text": "", "attachments": [
        {"type": "image", "payload": {"url": url, "thumbnail": url}}]})
    assert await chat.post(event)
    assert "message.attachment" in await actions(database)


async def test_attachments_outside_zalo_are_never_fetched(chat: OAChat, database: Database) -> None:
    event = oa_event("user_send_file", USER, message={"msg_id": "file-evil", "attachments": [
        {"type": "file", "payload": {"url": "http://127.0.0.1:1/secret", "name": "a.pdf", "size": "10",
                                     "checksum": "x", "type": "pdf"}}]})
    assert await chat.post(event) == []
    assert "message.attachment" not in await actions(database)


async def test_a_file_over_the_limit_is_refused_politely(chat: OAChat, fake: FakeZalo) -> None:
    url = fake.file_url("big.pdf", b"%PDF" + b"0" * 100)
    event = oa_event("user_send_file", USER, message={"msg_id": "file-big", "attachments": [
        {"type": "file", "payload": {"url": url, "name": "big.pdf", "size": str(50 * 1024 * 1024),
                                     "checksum": "x", "type": "pdf"}}]})
    assert "quá lớn" in joined(await chat.post(event))


async def test_file_is_fetched(chat: OAChat, fake: FakeZalo, database: Database) -> None:
    url = fake.file_url("giay.pdf", b"%PDF-1.4 small")
    event = oa_event("user_send_file", USER, message={"msg_id": "file-ok", "attachments": [
        {"type": "file", "payload": {"url": url, "name": "giay.pdf", "size": "14", "checksum": "x",
                                     "type": "pdf"}}]})
    assert await chat.post(event)
    assert "message.attachment" in await actions(database)


async def test_submit_info_is_a_verified_contact_with_a_sealed_address(chat: OAChat, fake: FakeZalo,
                                                                       database: Database,
                                                                       settings: Settings) -> None:
    info = {"name": "Nguyễn Văn An", "phone": "84912345678", "user_dob": "01/01/1960", "gender": "male",
            "full_address": {"address": "Xóm Kèm", "ward": "xã La Bằng", "district": "Đại Từ",
                             "city": "Thái Nguyên"}}
    asked = await chat.post(oa_event("user_submit_info", USER, info=info))
    consent_label = next(label for label in labels_of(asked) if "Đồng ý" in label or "Có" in label)
    granted = await chat.press(consent_label)
    template = [call for call in granted if (call.message.get("attachment") or {}).get("payload", {})
                .get("template_type") == "request_user_info"]
    assert template, "the request_user_info template is sent"
    later = int(time.time() * 1000) + 1
    saved = await chat.post(oa_event("user_submit_info", USER, info=info, timestamp=later))
    assert "0912345678" in joined(saved)
    cipher = FieldCipher(settings.secret())
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.external_id == USER))).scalar_one()
        assert user.phone_verified and "0912345678" not in (user.phone_enc or "")
        assert cipher.decrypt(user.phone_enc or "", "users.phone") == "0912345678"
        address = await session.get(ZaloAddress, user.id)
        assert address is not None and "Xóm Kèm" not in address.address_enc
        assert "Xóm Kèm" in cipher.decrypt(address.address_enc, "zalo_addresses.address")


async def test_a_mydata_export_arrives_as_the_plain_json_document(chat: OAChat, fake: FakeZalo,
                                                                 oa: TestClient, database: Database) -> None:
    """The export is stored sealed: what reaches the villager (the file uploaded into the chat, or the
    link, opened) is the JSON document of their own data, never the ciphertext."""
    assert await chat.say("/mydata")
    answer = await chat.tap("mydata:export")
    link = media_link(joined(answer))
    if link is not None:
        data = await opened(oa, link)
    else:
        [upload] = fake.sent("upload_file")
        data = upload.files["file"]
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.channel == "zalo",
                                                         User.external_id == USER))).scalar_one()
    exported = plain_export(data)
    assert exported["user"]["id"] == user.id and exported["user"]["channel"] == "zalo"


# Sending: errors


async def test_expired_token_is_refreshed_once_and_the_message_delivered(chat: OAChat, fake: FakeZalo,
                                                                         database: Database) -> None:
    fake.expire_access_tokens()
    replies = await chat.say("xin chào")
    assert replies and replies[-1].headers["access_token"] != ACCESS_TOKEN
    oauth = fake.sent("oauth")
    assert len(oauth) == 1 and oauth[0].params == {"refresh_token": REFRESH_TOKEN, "app_id": APP_ID,
                                                   "grant_type": "refresh_token"}
    assert oauth[0].headers["secret_key"] == APP_SECRET
    assert REFRESH_TOKEN in fake.spent_refresh_tokens


@pytest.mark.parametrize("code", [-216, -220])
async def test_token_errors_refresh_and_retry_once(chat: OAChat, fake: FakeZalo, code: int) -> None:
    fake.fail_oa(code)
    replies = await chat.say("xin chào")
    assert len(fake.sent("oauth")) == 1
    assert replies[0].headers["access_token"] == ACCESS_TOKEN  # the refused try
    assert replies[1].headers["access_token"] != ACCESS_TOKEN and "Xin chào" in replies[1].text


@pytest.mark.parametrize("code", [-213, -230, -232])
async def test_unreachable_users_are_marked_and_surfaced_to_staff(chat: OAChat, fake: FakeZalo,
                                                                  database: Database, oa: TestClient,
                                                                  code: int) -> None:
    fake.fail_oa(code)
    await chat.say("xin chào")
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.external_id == USER))).scalar_one()
        assert user.unreachable
    dead = await oa.app[ASSISTANT].services.outbox.dead_letters("zalo")
    assert dead and str(code) in (dead[0].last_error or "") and "unreachable" in (dead[0].last_error or "")
    assert "zalo.unreachable" in await actions(database)


async def test_rate_limit_backs_off(oa: TestClient, fake: FakeZalo, database: Database) -> None:
    fake.fail_oa(-32)
    body, headers = signed(text_event("xin chào", USER))
    assert (await raw_post(oa, body, headers))[0] == 200
    await fake.wait_for(1)
    for _ in range(100):
        async with database.session() as session:
            row = (await session.execute(select(OutboxMessage).where(OutboxMessage.channel == "zalo")
                                         .order_by(OutboxMessage.id))).scalars().first()
        if row is not None and row.last_error:
            break
        await asyncio.sleep(0.02)
    assert row is not None and row.status == "pending" and "-32" in (row.last_error or "")
    assert (row.next_attempt_at - row.created_at).total_seconds() > 50


async def test_bad_parameter_is_permanent(chat: OAChat, fake: FakeZalo, oa: TestClient) -> None:
    fake.fail_oa(-201)
    await chat.say("xin chào")
    dead = await oa.app[ASSISTANT].services.outbox.dead_letters("zalo")
    assert dead and "-201" in (dead[0].last_error or "")


def test_zalo_event_payload_is_json_serialisable() -> None:
    assert json.loads(json.dumps(text_event("a")))["event_name"] == "user_send_text"


async def test_a_database_refusal_still_answers_200_and_the_event_is_kept(
        oa: TestClient, fake: FakeZalo, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = oa.app[CHANNELS]["zalo"]
    real_accept = channel.inbox.accept
    failures = iter([True])

    async def flaky(*args: Any) -> bool:
        if next(failures, False):
            raise OSError("database unavailable")
        return await real_accept(*args)

    monkeypatch.setattr(channel.inbox, "accept", flaky)
    body, headers = signed(text_event("xin chào", USER))
    started = time.monotonic()
    assert (await raw_post(oa, body, headers))[0] == 200
    assert time.monotonic() - started < 1.0
    calls = await fake.wait_for(1, timeout=15)
    assert "Xin chào" in calls[0].text


async def test_a_whole_birth_registration_then_its_status_over_zalo(chat: OAChat, fake: FakeZalo) -> None:
    """From free text to a dossier code, papers sent as Zalo images, then the status question."""
    assert "Đăng ký khai sinh" in joined(await chat.say("làm giấy khai sinh cho con"))
    await chat.tap("dossier:start:birth_registration")
    assert "Họ và tên của bé" in joined(await chat.tap("dossier:consent:birth_registration"))
    await chat.say("Nguyễn Văn Bình")
    await chat.say("15/10/2025")
    await chat.tap("form:choice:male")
    await chat.say("Trạm Y tế xã La Bằng")
    assert "căn cước" in joined(await chat.say("Trần Thị Hoa"))
    await chat.say("019190012345")
    await chat.tap("form:skip")
    await chat.say("Xóm Kèm, xã La Bằng")
    assert "Giấy chứng sinh" in joined(await chat.say("0912345678"))
    for number, colour in enumerate(((30, 120, 200), (10, 200, 10))):
        url = fake.file_url(f"paper{number}.jpg", base64.b64decode(jpeg(colour)["attachment"]["data"]))
        image = {"type": "image", "payload": {"url": url, "thumbnail": url}}
        await chat.post(oa_event("user_send_image", USER,
                                 message={"msg_id": f"paper{number}", "attachments": [image]}))
    summary = await chat.tap("form:skip")
    assert "Trần Thị Hoa" in joined(summary)
    receipt = joined(await chat.tap("form:confirm"))
    code = re.search(r"LB-\d{4}-\d{6}", receipt)
    assert code, receipt
    status = joined(await chat.say(f"{code.group(0)} đến đâu rồi"))
    assert code.group(0) in status and "Đã tiếp nhận" in status
