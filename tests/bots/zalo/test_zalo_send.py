"""The Zalo OA sender and token lifecycle: replies rendered into OA calls (split text, buttons in groups,
uploads, request_user_info, links as the fallback), and tokens that survive restarts and are never
refreshed twice with one refresh token."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from bots.server import ASSISTANT, CHANNELS
from bots.zalo import admin
from bots.zalo.models import ZaloToken
from bots.zalo.oa_channel import OAChannel
from bots.zalo.render import split_text
from bots.zalo.tokens import TokenError, TokenStore, keep_fresh
from core.config import Settings
from core.crypto import FieldCipher
from core.db import Database
from core.media import media_url, store_media
from core.messages import Button, Reply
from core.models import utcnow
from nlu.engine import NLUEngine
from tests.support.fake_zalo import ACCESS_TOKEN, REFRESH_TOKEN, FakeZalo
from tests.support.zalo import USER, open_client, zalo_settings


async def deliver(oa: TestClient, reply: Reply, key: str = "test:1") -> None:
    assistant = oa.app[ASSISTANT]
    outbox = assistant.services.outbox
    async with assistant.database.session() as session:
        await outbox.enqueue(session, channel="zalo", chat_id=USER, reply=reply, key=key)
    await outbox.wake("zalo")


async def own_link(oa: TestClient, data: bytes, content_type: str, *, sealed: bool = False) -> str:
    channel = oa.app[CHANNELS]["zalo"]
    assert isinstance(channel, OAChannel)
    assistant = oa.app[ASSISTANT]
    async with assistant.database.session() as session:
        media_id = await store_media(session, data, content_type,
                                     cipher=assistant.services.cipher if sealed else None)
    return media_url(assistant.services.hasher, channel.settings.public_url, media_id)


# Rendering


def test_split_text_respects_2000_characters_and_prefers_line_breaks() -> None:
    text = ("Một dòng tiếng Việt có dấu. " * 40 + "\n") * 5
    pieces = split_text(text)
    assert len(pieces) > 1 and all(0 < len(piece) <= 2000 for piece in pieces)
    assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert split_text("😀" * 2500) == ["😀" * 2000, "😀" * 500]


async def test_long_text_is_split_and_buttons_ride_on_the_last_piece(oa: TestClient, fake: FakeZalo) -> None:
    buttons = tuple(Button(f"Lựa chọn {n}", f"menu:x{n}") for n in range(7))
    await deliver(oa, Reply("Chữ " * 1200, buttons))
    calls = await fake.wait_for(4)
    assert [len(call.buttons) for call in calls] == [0, 0, 5, 2]
    assert all(len(call.text) <= 2000 for call in calls)
    assert calls[2].buttons[0] == {"title": "Lựa chọn 0", "type": "oa.query.show", "payload": "Lựa chọn 0"}


async def test_repeated_labels_are_made_unique(oa: TestClient, fake: FakeZalo) -> None:
    await deliver(oa, Reply("Chọn", (Button("Có", "a:1"), Button("Có", "a:2"))))
    [call] = await fake.wait_for(1)
    assert [b["payload"] for b in call.buttons] == ["Có", "Có (2)"]


async def test_a_link_button_opens_its_page_beside_the_choices(oa: TestClient, fake: FakeZalo) -> None:
    pay = "https://xa.example.vn/pay/abc?sig=1"
    await deliver(oa, Reply("Thanh toán đơn DH-000001", (Button("💳 Trả bằng thẻ", "shop:pay", pay),
                                                         Button("Hủy đơn", "shop:cancel"))))
    [call] = await fake.wait_for(1)
    assert call.buttons == [{"title": "Hủy đơn", "type": "oa.query.show", "payload": "Hủy đơn"},
                            {"title": "💳 Trả bằng thẻ", "type": "oa.open.url", "payload": {"url": pay}}]


async def test_own_image_is_uploaded_and_sent_as_a_media_template(oa: TestClient, fake: FakeZalo) -> None:
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(buffer, "PNG")
    link = await own_link(oa, buffer.getvalue(), "image/png")
    await deliver(oa, Reply("Ảnh", image_url=link))
    calls = await fake.wait_for(2)
    [upload] = fake.sent("upload_image")
    assert upload.files["file"] == buffer.getvalue()
    element = calls[1].message["attachment"]["payload"]["elements"][0]
    assert element["media_type"] == "image" and element["attachment_id"].startswith("att")


async def test_documents_and_audio_go_through_the_file_upload(oa: TestClient, fake: FakeZalo) -> None:
    pdf = await own_link(oa, b"%PDF-1.4 result", "application/pdf")
    audio = await own_link(oa, b"OggS voice", "audio/ogg")
    await deliver(oa, Reply("Kết quả", document_url=pdf, audio_url=audio))
    calls = await fake.wait_for(3)
    assert len(fake.sent("upload_file")) == 2
    assert [c.message.get("attachment", {}).get("type") for c in calls[1:]] == ["file", "file"]


async def test_sealed_files_are_uploaded_opened_never_as_their_ciphertext(oa: TestClient,
                                                                          fake: FakeZalo) -> None:
    """A file stored sealed (a /mydata export, a health photo) goes to Zalo as its plain bytes."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, "JPEG")
    photo, export = buffer.getvalue(), json.dumps({"user": {"id": 7, "channel": "zalo"}}).encode()
    image = await own_link(oa, photo, "image/jpeg", sealed=True)
    document = await own_link(oa, export, "application/json", sealed=True)
    await deliver(oa, Reply("Tệp", image_url=image, document_url=document))
    await fake.wait_for(3)
    [uploaded_photo] = fake.sent("upload_image")
    [uploaded_export] = fake.sent("upload_file")
    assert uploaded_photo.files["file"] == photo
    assert json.loads(uploaded_export.files["file"])["user"]["id"] == 7


async def test_an_image_over_1_mb_goes_as_a_file_and_over_5_mb_as_a_link(oa: TestClient,
                                                                         fake: FakeZalo) -> None:
    medium = await own_link(oa, b"\x89PNG" + b"0" * (2 * 1024 * 1024), "image/png")
    await deliver(oa, Reply("Ảnh lớn", image_url=medium), key="test:big1")
    await fake.wait_for(2)
    assert fake.sent("upload_file") and not fake.sent("upload_image")
    huge = await own_link(oa, b"%PDF" + b"0" * (6 * 1024 * 1024), "application/pdf")
    await deliver(oa, Reply("Tệp rất lớn", document_url=huge), key="test:big2")
    calls = await fake.wait_for(3)
    assert "/media/" in calls[2].text and len(fake.sent("upload_file")) == 1


async def test_foreign_media_is_never_fetched_only_linked(oa: TestClient, fake: FakeZalo) -> None:
    await deliver(oa, Reply("Xem", image_url="https://example.org/x.jpg"))
    [call] = await fake.wait_for(1)
    assert "https://example.org/x.jpg" in call.text and not fake.sent("upload_image")


async def test_request_phone_sends_the_request_user_info_template(oa: TestClient, fake: FakeZalo) -> None:
    await deliver(oa, Reply("Cho mình xin số điện thoại", request_phone=True, request_location=True))
    calls = await fake.wait_for(2)
    assert "Vị trí" in calls[0].text
    payload = calls[1].message["attachment"]["payload"]
    assert payload["template_type"] == "request_user_info" and payload["elements"][0]["title"]


async def test_a_retry_resumes_after_the_parts_already_delivered(oa: TestClient, fake: FakeZalo) -> None:
    fake.fail_oa(503, after=1)  # the second part fails once: the retry must not send the first again
    await deliver(oa, Reply(" ".join(f"từ{n}" for n in range(1000))), key="test:resume")
    await fake.wait_for(4)
    await asyncio.sleep(0.3)
    texts = [call.text for call in fake.sent("cs")]
    assert len(texts) == 4 and texts[1] == texts[2] and len(set(texts)) == 3
    assert texts[0].startswith("từ0 ") and texts[3].endswith("từ999")


# Tokens


def token_store(settings: Settings, database: Database, http: aiohttp.ClientSession) -> TokenStore:
    return TokenStore(database, FieldCipher(settings.secret()), settings, http)


async def test_tokens_are_seeded_sealed_and_refreshed_ahead_of_expiry(settings: Settings, database: Database,
                                                                      fake: FakeZalo) -> None:
    configured = zalo_settings(settings, fake)
    async with aiohttp.ClientSession() as http:
        store = token_store(configured, database, http)
        await store.seed()
        async with database.session() as session:
            row = await session.get(ZaloToken, configured.zalo_app_id)
            assert row is not None and ACCESS_TOKEN not in (row.access_token_enc or "")
            assert REFRESH_TOKEN not in (row.refresh_token_enc or "")
            row.expires_at = utcnow() + timedelta(minutes=30)  # within the margin
        token, version = await store.access_token()
        assert token != ACCESS_TOKEN and version == 1 and len(fake.sent("oauth")) == 1
        state = await store.state()
        assert state.expires_at is not None and state.expires_at > utcnow() + timedelta(hours=24)
        stop = asyncio.Event()
        stop.set()
        await keep_fresh(store, stop)  # nothing due: no second refresh
        assert len(fake.sent("oauth")) == 1


async def test_the_refresh_token_survives_a_restart(settings: Settings, database: Database,
                                                   nlu_engine: NLUEngine, fake: FakeZalo) -> None:
    from tests.support.zalo_chat import OAChat
    configured = zalo_settings(settings, fake)
    first = await open_client(configured, database, nlu_engine)
    fake.expire_access_tokens()
    assert await OAChat(first, fake, database, USER).say("xin chào")
    await first.close()
    assert REFRESH_TOKEN in fake.spent_refresh_tokens
    # The environment still holds the spent refresh token: the database is the truth after a restart.
    second = await open_client(configured, database, nlu_engine)
    fake.expire_access_tokens()
    replies = await OAChat(second, fake, database, USER).say("xin chào")
    await second.close()
    assert replies and "Xin chào" in replies[0].text
    refreshes = fake.sent("oauth")
    assert len(refreshes) == 2 and refreshes[1].params["refresh_token"] != REFRESH_TOKEN


async def test_two_nodes_never_spend_one_refresh_token(settings: Settings, database: Database,
                                                      fake: FakeZalo) -> None:
    configured = zalo_settings(settings, fake)
    async with aiohttp.ClientSession() as http:
        stores = [token_store(configured, database, http) for _ in range(4)]
        await stores[0].seed()
        version = (await stores[0].state()).version
        states = await asyncio.gather(*(store.refresh(version) for store in stores))
    assert len(fake.sent("oauth")) == 1
    assert len({state.access_token for state in states}) == 1 and states[0].version == version + 1


async def test_a_refused_refresh_keeps_the_stored_tokens_and_releases_the_claim(
        settings: Settings, database: Database, fake: FakeZalo) -> None:
    configured = zalo_settings(settings, fake)
    async with aiohttp.ClientSession() as http:
        store = token_store(configured, database, http)
        await store.seed()
        fake.fail_oauth()
        with pytest.raises(TokenError):
            await store.refresh(0)
        state = await store.state()
        assert state.version == 0 and state.has_refresh
        async with database.session() as session:
            row = await session.get(ZaloToken, configured.zalo_app_id)
            assert row is not None and row.refreshing_until is None
        assert (await store.refresh(0)).version == 1  # the next try works


async def test_a_claim_left_by_a_crashed_node_expires(settings: Settings, database: Database,
                                                     fake: FakeZalo) -> None:
    configured = zalo_settings(settings, fake)
    async with aiohttp.ClientSession() as http:
        store = token_store(configured, database, http)
        await store.seed()
        async with database.session() as session:
            await session.execute(update(ZaloToken).values(refreshing_until=utcnow() - timedelta(seconds=1)))
        assert (await store.refresh(0)).version == 1


async def test_cli_token_shows_expiry_and_refreshes_on_demand(settings: Settings, database: Database,
                                                             fake: FakeZalo) -> None:
    configured = zalo_settings(settings, fake)
    out = io.StringIO()
    async with aiohttp.ClientSession() as http:
        await admin.token(configured, database, out, http=http)
        assert '"access_token": "set"' in out.getvalue() and ACCESS_TOKEN not in out.getvalue()
        out = io.StringIO()
        await admin.token(configured, database, out, refresh=True, http=http)
    assert "refreshed" in out.getvalue() and '"expires_in_hours": 25.0' in out.getvalue()
    assert "access-" not in out.getvalue().replace('"access_token": "set"', "")
    with pytest.raises(admin.SetupError):
        await admin.token(configured.model_copy(update={"zalo_app_id": None}), database, io.StringIO())
