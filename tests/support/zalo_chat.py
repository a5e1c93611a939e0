"""Conversations over the Zalo channels in tests: post events to the real app's webhooks, wait until the
inbox and the outbox are both drained, and return what reached the fake Zalo servers."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bots.zalo.models import ZaloButton, ZaloEvent
from core.db import Database
from core.models import OutboxMessage
from tests.support.fake_zalo import BOT_SECRET, Call, FakeZalo, bot_update, signed, text_event

BOT_METHODS = ("sendMessage", "sendPhoto")


async def settle(database: Database, channel: str, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Until no event of `channel` waits in the inbox and none of its messages waits in the outbox."""
    async with asyncio.timeout(timeout):
        while True:
            async with database.session() as session:
                waiting = (await session.execute(select(func.count()).select_from(ZaloEvent).where(
                    ZaloEvent.source == channel,
                    ZaloEvent.status.in_(("pending", "processing"))))).scalar_one()
                unsent = (await session.execute(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.channel == channel,
                    OutboxMessage.status.in_(("pending", "sending"))))).scalar_one()
            if not waiting and not unsent:
                return
            await asyncio.sleep(0.02)


class OAChat:
    """One Zalo user talking to the OA."""

    def __init__(self, client: TestClient, fake: FakeZalo, database: Database,
                 user_id: str = "2512523625412515") -> None:
        self.client, self.fake, self.database, self.user_id = client, fake, database, user_id

    async def post(self, event: dict[str, Any], expect: int = 200) -> list[Call]:
        before = len(self.fake.sent("cs"))
        body, headers = signed(event)
        response = await self.client.post("/zalo/webhook", data=body, headers=headers)
        assert response.status == expect, (response.status, await response.text())
        await settle(self.database, "zalo")
        return [call for call in self.fake.sent("cs")[before:] if call.user_id == self.user_id]

    async def say(self, text: str) -> list[Call]:
        return await self.post(text_event(text, self.user_id))

    async def press(self, label: str) -> list[Call]:
        """What tapping an `oa.query.show` button does: the user sends its payload as text."""
        return await self.say(label)

    async def tap(self, data: str) -> list[Call]:
        """Taps the newest button this user was sent that stands for `data`."""
        return await self.say(await sent_payload(self.database, "zalo", self.user_id, data))


class BotChat:
    """One Zalo user talking to the Zalo bot (webhook mode)."""

    def __init__(self, client: TestClient, fake: FakeZalo, database: Database,
                 chat_id: str = "a1b2c3d4e5") -> None:
        self.client, self.fake, self.database, self.chat_id = client, fake, database, chat_id

    async def post(self, update: dict[str, Any], expect: int = 200,
                   headers: dict[str, str] | None = None) -> list[Call]:
        before = len(self.fake.sent(*BOT_METHODS))
        response = await self.client.post("/zalo/bot/webhook", json=update, headers=(
            {"X-Bot-Api-Secret-Token": BOT_SECRET} if headers is None else headers))
        assert response.status == expect, (response.status, await response.text())
        await settle(self.database, "zalobot")
        return [call for call in self.fake.sent(*BOT_METHODS)[before:] if call.user_id == self.chat_id]

    async def say(self, text: str) -> list[Call]:
        return await self.post(bot_update(text, self.chat_id))

    async def tap(self, data: str) -> list[Call]:
        """Answers with the number (or label) the newest choice standing for `data` was shown with."""
        return await self.say(await sent_payload(self.database, "zalobot", self.chat_id, data))


async def sent_payload(database: Database, channel: str, chat_id: str, data: str) -> str:
    async with database.session() as session:
        payload = (await session.execute(
            select(ZaloButton.payload).where(ZaloButton.channel == channel, ZaloButton.chat_id == chat_id,
                                             ZaloButton.data == data)
            .order_by(ZaloButton.id.desc()).limit(1))).scalar_one_or_none()
    assert payload is not None, f"no button {data!r} was sent to {chat_id}"
    return payload


def labels_of(calls: list[Call]) -> list[str]:
    return [button["payload"] for call in calls for button in call.buttons]


def joined(calls: list[Call]) -> str:
    return "\n".join(call.text for call in calls)
