"""Announcements end to end through the web chat API: staff write, preview (real espeak-ng audio) and
publish a signed announcement; subscribers of the right hamlets and topics get text and voice through
the outbox; scheduling with a controllable clock; roles; the latest; the "🔊 Nghe" button."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import soundfile
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from backends.loudspeaker.store import PUBLISHED, SCHEDULED, Announcement, AnnouncementSubscription
from bots.server import ASSISTANT
from bots.services.announcements.scheduler import Scheduler, publish
from bots.services.announcements.staff import parse_when
from core.config import Settings
from core.db import Database
from core.models import AuditEntry, Media, OutboxMessage, User
from core.signing import find_signed
from tests.support.announcements import TEXT, write_until_preview
from tests.support.chat import ChatSession, button_data, pushed_now, texts, wait_for_pushes
from tests.support.fake_channel import RecordingSender
from tests.support.roles import staff_joins


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Offline speech (the tests never reach Google), and no flood limit in the way."""
    return settings.model_copy(update={"tts_engine": "espeak", "rate_limit_burst": 400,
                                       "rate_limit_per_minute": 1200})


async def subscribe(client: TestClient, hamlets: list[str], topics: list[str] | None = None) -> ChatSession:
    citizen = await ChatSession.open(client)
    replies = await citizen.say("tôi muốn đăng ký nhận thông báo")
    assert "ann:hamlet:kem" in button_data(replies), texts(replies)
    for hamlet in hamlets:
        replies = await citizen.press(f"ann:hamlet:{hamlet}")
    if topics is not None:  # a hamlet first subscribes to every topic: keep only these
        for topic in ("general", "power", "vaccination", "weather", "water", "farming", "meeting"):
            if topic not in topics:
                replies = await citizen.press(f"ann:topic:{topic}")
    assert "Đã lưu" in texts(await citizen.press("ann:done"))
    return citizen


async def fetch(client: TestClient, url: str) -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    response = await client.get(f"{parts.path}?{parts.query}")
    return response.status, response.headers.get("Content-Type", ""), await response.read()


def seconds_of(data: bytes) -> float:
    info = soundfile.info(io.BytesIO(data))
    return info.frames / info.samplerate


async def wait_pushed(client: TestClient, chat: ChatSession, needle: str) -> list[dict[str, Any]]:
    """Pushed messages holding `needle`, once there are any: the server's own web sender may hold the
    row when the test drains the outbox."""
    found = [m for m in await wait_for_pushes(client.app[ASSISTANT], chat,
                                              lambda pushed: any(needle in m["text"] for m in pushed), 20)
             if needle in m["text"]]
    if not found:
        raise TimeoutError(f"no pushed message with {needle!r}")
    return found


async def audit_actions(database: Database, prefix: str) -> list[AuditEntry]:
    async with database.session() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action.like(f"{prefix}%"))
                                           .order_by(AuditEntry.seq))).all())


async def test_staff_announce_a_vaccination_day(client: TestClient, database: Database) -> None:
    kem = await subscribe(client, ["kem"], ["vaccination"])
    both = await subscribe(client, ["la_cut", "kem"])
    elsewhere = await subscribe(client, ["la_cut"])
    other_topic = await subscribe(client, ["kem"], ["power"])
    gone = await subscribe(client, ["kem"])
    assert "Đã hủy đăng ký" in texts(await gone.press("ann:off"))
    official = await staff_joins(client)

    preview = await write_until_preview(official)
    assert TEXT in preview["text"] and "Xóm Kèm" in preview["text"] and "Tiêm chủng" in preview["text"]
    status, content_type, audio = await fetch(client, preview["audio_url"])
    assert (status, content_type) == (200, "audio/mpeg")
    assert 4.0 < seconds_of(audio) < 20.0  # real espeak-ng speech of the announcement

    published = await official.press("announce:confirm")
    assert "Đã ký số và phát hành" in texts(published) and "gửi tới 2 người" in texts(published)
    assistant = client.app[ASSISTANT]
    async with database.session() as session:
        row = (await session.scalars(select(Announcement))).one()
        signed = await find_signed(session, row.code)
    assert row.status == PUBLISHED and row.recipients == 2 and row.hamlets == ["kem"]
    assert signed is not None and signed.kind == "announcement"
    checked = assistant.services.keyring.verify(signed.envelope_json)
    assert checked.ok and checked.envelope is not None
    document = checked.envelope.document
    assert document["text"] == TEXT and document["hamlets"] == ["kem"] and document["topic"] == "vaccination"
    _, _, mp3 = await fetch(client, document["audio"]["url"])
    assert signed.code in texts(published) and len(document["audio"]["sha256"]) == 64
    assert hashlib.sha256(mp3).hexdigest() == document["audio"]["sha256"]

    for citizen in (kem, both):
        notices = await wait_pushed(client, citizen, "THÔNG BÁO")
        assert len(notices) == 1 and TEXT in notices[0]["text"] and row.code in notices[0]["text"]
        status, content_type, audio = await fetch(client, notices[0]["audio_url"])
        assert status == 200 and content_type == "audio/mpeg" and seconds_of(audio) > 4.0
    for citizen in (elsewhere, other_topic, gone):
        assert not [m for m in await pushed_now(client, citizen) if "THÔNG BÁO" in m["text"]]
    # The verification page knows it too.
    page = await client.get(f"/verify/{row.code}")
    assert page.status == 200
    assert [entry.action for entry in await audit_actions(database, "announce.published")] == \
        ["announce.published"]

    latest = await elsewhere.say("có thông báo gì mới không")
    assert "THÔNG BÁO" not in texts(latest)  # not for la_cut
    latest = await kem.say("thông báo mới nhất của xã")
    assert TEXT in texts(latest) and any(reply["audio_url"] for reply in latest)


async def test_step_by_step_typed_time_and_scheduler(client: TestClient, database: Database) -> None:
    citizen = await subscribe(client, ["ban_hon"])
    official = await staff_joins(client)
    assert "gửi nội dung" in texts(await official.say("/announce"))
    assert "5 đến 1000" in texts(await official.say("ơ"))
    replies = await official.say("Chiều mai cắt điện từ 13 giờ đến 17 giờ để sửa đường dây.")
    assert "announce:hamlet:ban_hon" in button_data(replies)
    await official.press("announce:all")
    await official.press("announce:topic:power")
    assert "Chưa rõ thời gian" in texts(await official.say("lúc nào cũng được"))
    assert "đã qua" in texts(await official.say("6 giờ sáng hôm qua"))
    preview = await official.say("6 giờ 30 sáng mai")
    assert "announce:confirm" in button_data(preview), texts(preview)
    assert "06:30" in texts(preview)
    scheduled = await official.press("announce:confirm")
    assert "hẹn phát" in texts(scheduled)

    assistant = client.app[ASSISTANT]
    services, desk = assistant.services, assistant.assembly.desk("announcements")
    assert isinstance(desk, Scheduler)
    async with database.session() as session:
        row = (await session.scalars(select(Announcement))).one()
    assert row.status == SCHEDULED and row.hamlets == []
    before, after = row.publish_at - dt.timedelta(minutes=1), row.publish_at + dt.timedelta(seconds=1)
    assert await Scheduler(clock=lambda: before).publish_due(database, services) == []
    feed = await (await client.get("/loudspeaker/feed?hamlet=ban_hon")).json()
    assert feed["entries"] == []  # not yet published
    # The server's background task, on a clock past the time: it publishes, once.
    stop = asyncio.Event()
    task = asyncio.create_task(Scheduler(clock=lambda: after).run(database, services, stop, interval=0.05))
    async with asyncio.timeout(20):
        while True:
            async with database.session() as session:
                published = await session.get(Announcement, row.id, populate_existing=True)
            if published is not None and published.status == PUBLISHED:
                break
            await asyncio.sleep(0.05)
    stop.set()
    await task
    assert published.recipients == 1 and published.published_at == after
    assert await Scheduler(clock=lambda: after).publish_due(database, services) == []  # once only
    notices = await wait_pushed(client, citizen, "Chiều mai cắt điện")
    assert len(notices) == 1 and notices[0]["audio_url"]
    assert [entry.action for entry in await audit_actions(database, "announce.")] == \
        ["announce.subscription", "announce.scheduled", "announce.published"]


def test_typed_times_read_in_vietnam_time() -> None:
    now = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)  # 16:00 in Vietnam
    vietnam = dt.timezone(dt.timedelta(hours=7))

    def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime(2026, 11, day, hour, minute, tzinfo=vietnam).astimezone(dt.UTC)

    assert parse_when("ngay bây giờ", now) == now and parse_when("now", now) == now
    assert parse_when("18:00 tối nay", now) == at(25, 18)
    assert parse_when("6 giờ 30 sáng mai", now) == at(26, 6, 30)
    assert parse_when("6 gio 30 sang mai", now) == at(26, 6, 30)
    assert parse_when("6:30 tomorrow", now) == at(26, 6, 30)
    assert parse_when("7h ngày 28/11", now) == at(28, 7)
    assert parse_when("chiều mai", now) == at(26, 14)
    for unclear in ("lúc nào cũng được", "ngày 28/11", "", "99:99"):
        assert parse_when(unclear, now) is None


async def test_preset_times_edit_and_cancel(client: TestClient, database: Database) -> None:
    official = await staff_joins(client)
    preview = await write_until_preview(official, when="announce:when:tomorrow")
    assert "06:30" in preview["text"]
    replies = await official.press("announce:edit")
    assert "gửi nội dung" in texts(replies)
    replies = await official.say("Tối nay họp xóm Kèm lúc 19 giờ tại nhà văn hóa.")
    assert "announce:all" in button_data(replies)
    assert "Đã hủy" in texts(await official.press("announce:cancel"))
    assert "không còn đang soạn" in texts(await official.press("announce:confirm"))
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Announcement)) == 0
        assert await session.scalar(select(func.count()).select_from(Media)) == 0  # previews forgotten


async def test_citizens_cannot_announce(client: TestClient, database: Database) -> None:
    citizen = await ChatSession.open(client)
    assert "không có quyền" in texts(await citizen.say(f"/announce {TEXT}"))
    for forged in ("announce:confirm", "announce:all", "announce:when:now", "announce:topic:power"):
        assert "không có quyền" in texts(await citizen.press(forged))
    denials = [entry.subject for entry in await audit_actions(database, "authorize")
               if entry.outcome == "deny"]
    assert denials.count("/announce") == 1 and denials.count("button:announce") == 4
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Announcement)) == 0


async def test_broadcast_to_a_thousand_subscribers_exactly_once(client: TestClient,
                                                                database: Database) -> None:
    assistant = client.app[ASSISTANT]
    async with database.session() as session:
        users = [User(channel="bulk", external_id=f"chat-{number}", language="vi") for number in range(1000)]
        session.add_all(users)
        await session.flush()
        session.add_all(AnnouncementSubscription(user_id=user.id, hamlets=["rung_van"], topics=["weather"],
                                                 active=True) for user in users)
    official = await staff_joins(client)
    await write_until_preview(official, hamlets=("rung_van",), topic="weather",
                              text="Cảnh báo mưa lớn, nguy cơ sạt lở đất ở xóm Rừng Vần đêm nay.")
    started = time.perf_counter()
    replies = await official.press("announce:confirm")
    fan_out = time.perf_counter() - started
    assert "gửi tới 1000 người" in texts(replies)
    async with database.session() as session:
        row = (await session.scalars(select(Announcement))).one()
        queued = await session.scalar(select(func.count()).select_from(OutboxMessage)
                                      .where(OutboxMessage.channel == "bulk"))
    assert queued == 1000
    # Publishing again (a retry, a second node) queues nothing more.
    async with database.session() as session:
        again = await session.get(Announcement, row.id)
        assert again is not None and await publish(session, assistant.services, again) == 0

    sender = RecordingSender("bulk")
    started = time.perf_counter()
    sent = await assistant.services.outbox.flush(sender, 60)
    drain = time.perf_counter() - started
    assert sent == 1000 and len(sender.delivered) == 1000 and not sender.repeats
    assert len({delivery.chat_id for delivery in sender.delivered}) == 1000
    assert all(delivery.reply.audio_url and "Rừng Vần" in delivery.reply.text
               for delivery in sender.delivered)
    print(f"\nbroadcast to 1000: fan-out {fan_out:.2f} s, outbox drain {drain:.2f} s")
    assert await assistant.services.outbox.flush(sender, 5) == 0


async def test_listen_button_on_long_answers(client: TestClient, database: Database) -> None:
    citizen, other = await ChatSession.open(client), await ChatSession.open(client)
    replies = await citizen.say("thủ tục đăng ký khai sinh cần giấy tờ gì")
    long_ones = [reply for reply in replies if len(reply["text"]) > 200]
    assert long_ones, [reply["text"] for reply in replies]
    listen = [b["data"] for b in long_ones[0]["buttons"] if b["data"].startswith("listen:")]
    assert len(listen) == 1 and len(listen[0]) <= 64
    assert long_ones[0]["text"] not in listen[0]
    heard = await citizen.press(listen[0])
    assert heard[0]["audio_url"]
    status, content_type, audio = await fetch(client, heard[0]["audio_url"])
    assert status == 200 and content_type == "audio/mpeg" and seconds_of(audio) > 5.0
    assert "không còn" in texts(await other.press(listen[0]))  # another user's press finds nothing
    assert "không còn" in texts(await citizen.press("listen:forged"))
    # Short answers and staff commands carry no button; the 115 answer does (read out for those who
    # cannot read it fast), after its call buttons.
    for reply in await citizen.say("cảm ơn"):
        assert not any(b["data"].startswith("listen:") for b in reply["buttons"])
    (emergency,) = await citizen.say("cứu với, bố tôi bị đau ngực khó thở")
    assert [b["data"].split(":")[0] for b in emergency["buttons"]] == ["call", "call", "menu", "listen"]
    official = await staff_joins(client)
    for reply in await official.say("/dossiers"):
        assert not any(b["data"].startswith("listen:") for b in reply["buttons"])


async def test_feed_refuses_unknown_hamlets(client: TestClient) -> None:
    citizen = await ChatSession.open(client)
    assert "Chưa có thông báo nào" in texts(await citizen.press("ann:latest"))
    response = await client.get("/loudspeaker/feed?hamlet=nowhere")
    assert response.status == 400 and (await response.json())["error"] == "unknown_hamlet"
    response = await client.get("/loudspeaker/feed")
    assert response.status == 200 and (await response.json())["entries"] == []
