"""`/deadletters` in chat for admins: the dead letters without their content, a replay button each
(`admin:replay:<id>`), replay audited; citizens and staff are refused, by command and by button."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bots.server import ASSISTANT
from core.config import Settings
from core.messages import Reply
from core.models import AuditEntry, OutboxMessage, User
from core.outbox import DEAD, SendError
from tests.support.chat import ChatSession, button_data, texts
from tests.support.dashboard import member

SECRET = "Kết quả xét nghiệm của bà Lan"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


class Blocked:
    name, per_chat_rate, global_rate = "test", float("inf"), float("inf")

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        raise SendError("Forbidden: bot was blocked by the user", permanent=True)


async def dead_letter(client: TestClient) -> int:
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        villager = User(channel="test", external_id="blocked", language="vi")
        session.add(villager)
        await session.flush()
        await assistant.services.outbox.enqueue(session, channel="test", chat_id="blocked",
                                                reply=Reply(SECRET), key="dead-letter-1", user_id=villager.id)
    await assistant.services.outbox.drain_once(Blocked())
    return await status_of(client)


async def status_of(client: TestClient, field: str = "id") -> int:
    async with client.app[ASSISTANT].database.session() as session:
        row = (await session.scalars(select(OutboxMessage).where(OutboxMessage.key == "dead-letter-1"))).one()
    return row.id if field == "id" else row.status  # type: ignore[return-value]


async def replays(client: TestClient) -> list[AuditEntry]:
    async with client.app[ASSISTANT].database.session() as session:
        return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.replay")
                                          .order_by(AuditEntry.seq)))


async def test_an_admin_sees_the_dead_letters_and_replays_one(client: TestClient) -> None:
    admin = await member(client, "admin")
    assert "Không có tin nào gửi thất bại" in texts(await admin.say("/deadletters"))
    letter = await dead_letter(client)
    replies = await admin.say("/deadletters")
    listing = texts(replies)
    line = f"#{letter} · test · 1 lần thử · 0 phút trước · lỗi: Forbidden: bot was blocked by the user"
    assert line in listing
    assert SECRET not in listing and "blocked" not in listing.replace("bot was blocked", "")
    assert button_data(replies) == [f"admin:replay:{letter}"]
    assert "Đã xếp lại tin" in texts(await admin.press(f"admin:replay:{letter}"))
    assert await status_of(client, "status") != DEAD
    assert "không còn trong danh sách" in texts(await admin.press(f"admin:replay:{letter}"))
    assert "Nút không hợp lệ" in texts(await admin.press("admin:replay:x1"))
    assert [(entry.outcome, entry.subject) for entry in await replays(client)] == [
        ("ok", f"outbox:{letter}"), ("not_dead", f"outbox:{letter}"), ("bad_request", "outbox:x1")]
    await admin.say("/lang en")
    assert "No message has failed" in texts(await admin.say("/deadletters"))


async def test_citizens_and_staff_are_refused_and_a_forged_button_is_denied(client: TestClient) -> None:
    letter = await dead_letter(client)
    citizen, staff = await ChatSession.open(client), await member(client, "staff")
    for chat in (citizen, staff):
        assert "không có quyền" in texts(await chat.say("/deadletters"))
        assert "không có quyền" in texts(await chat.press(f"admin:replay:{letter}"))
    assert await status_of(client, "status") == DEAD and await replays(client) == []
    async with client.app[ASSISTANT].database.session() as session:
        denied = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "authorize",
                                                                     AuditEntry.outcome == "deny")))
    assert sorted(entry.subject or "" for entry in denied) == ["/deadletters", "/deadletters", "button:admin",
                                                               "button:admin"]
