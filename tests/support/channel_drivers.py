"""One way to talk to the assistant through any channel, for the channel contract suite.

A driver says a text, presses a button (by its data, as the dialogue knows it) and has a notice pushed
to its user through the outbox, and returns what the user saw as a `Said`: the texts, the button labels
shown, and the data behind them, read back from each platform's own record (the web chat's JSON,
Telegram's signed `callback_data`, the buttons remembered for a Zalo chat). Each turn waits until the
channel's inbox and its outbox have nothing left in hand, so what it returns is the whole answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bots.assistant import Assistant
from bots.server import ASSISTANT, create_app
from bots.telegram import callbacks
from bots.telegram.inbox import TelegramUpdate
from bots.zalo import buttons
from core.config import Settings
from core.db import Database
from core.messages import Reply
from core.models import OutboxMessage
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, wait_for_pushes
from tests.support.fake_telegram import Call as TelegramCall
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_zalo import Call as ZaloCall
from tests.support.fake_zalo import FakeZalo
from tests.support.telegram import SECRET as TELEGRAM_SECRET
from tests.support.telegram import open_client as open_telegram
from tests.support.telegram import telegram_settings
from tests.support.zalo import bot_settings, zalo_settings
from tests.support.zalo import open_client as open_zalo
from tests.support.zalo_chat import BotChat, OAChat, labels_of, settle

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
NUMBERED_LINE = re.compile(r"^\s*\d+\. (.+)$", re.MULTILINE)
_update_ids = itertools.count(90_001)
NAMES = ("web", "telegram", "zalo", "zalobot")  # every channel, Zalo in both of its modes
ZALO_USER = "2512523625412515"
ZALO_BOT_CHAT = "a1b2c3d4e5"


@dataclass(frozen=True, slots=True)
class Said:
    text: str
    labels: list[str]
    data: list[str]


class Driver(Protocol):
    channel: str
    chat_id: str
    client: TestClient  # the app, over real HTTP

    async def say(self, text: str) -> Said: ...

    async def press(self, data: str) -> Said: ...

    async def pushed(self, reply: Reply, key: str) -> Said:
        """Enqueues `reply` for this user in the outbox; what the channel's sender delivered."""
        ...


async def enqueue(client: TestClient, channel: str, chat_id: str, reply: Reply, key: str) -> None:
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        await assistant.services.outbox.enqueue(session, channel=channel, chat_id=chat_id, reply=reply,
                                                key=key)
    await assistant.services.outbox.wake(channel)


async def settle_outbox(database: Database, channel: str, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while True:
            async with database.session() as session:
                unsent = (await session.execute(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.channel == channel,
                    OutboxMessage.status.in_(("pending", "sending"))))).scalar_one()
            if not unsent:
                return
            await asyncio.sleep(0.02)


# The web chat: answers in the HTTP response, notices through the user's inbox


class WebDriver:
    channel = "web"

    def __init__(self, client: TestClient, chat: ChatSession) -> None:
        self.client = client
        self.chat = chat
        self.chat_id = chat.user_id

    @classmethod
    async def open(cls, client: TestClient) -> WebDriver:
        return cls(client, await ChatSession.open(client))

    async def say(self, text: str) -> Said:
        return _said_from_json(await self.chat.say(text))

    async def press(self, data: str) -> Said:
        return _said_from_json(await self.chat.press(data))

    async def pushed(self, reply: Reply, key: str) -> Said:
        seen = len(await self.chat.pushed())
        await enqueue(self.client, self.channel, self.chat_id, reply, key)
        found = await wait_for_pushes(self.client.app[ASSISTANT], self.chat, lambda found: len(found) > seen)
        return _said_from_json(found[seen:])


def _said_from_json(replies: list[dict[str, Any]]) -> Said:
    buttons = [button for reply in replies for button in reply["buttons"]]
    return Said("\n".join(reply["text"] for reply in replies), [button["label"] for button in buttons],
                [button["data"] for button in buttons])


# Telegram: updates into the webhook, answers out through the outbox to the fake Bot API


class TelegramDriver:
    channel = "telegram"

    def __init__(self, client: TestClient, fake: FakeTelegram, database: Database, secret: str,
                 user_id: int = 42) -> None:
        self.client, self.fake, self.database, self.secret = client, fake, database, secret
        self.user_id = user_id
        self.chat_id = str(user_id)
        self._packed: dict[str, str] = {}  # button data → the callback_data it was sent as

    async def say(self, text: str) -> Said:
        return await self._post({"update_id": next(_update_ids), "message": {
            "message_id": next(_update_ids), "from": self._sender(), "date": 1700000000,
            "chat": {"id": self.user_id, "type": "private", "first_name": "An"}, "text": text}})

    async def press(self, data: str) -> Said:
        assert data in self._packed, f"no button {data!r} was sent to {self.user_id}"
        return await self._post({"update_id": next(_update_ids), "callback_query": {
            "id": f"cbq{next(_update_ids)}", "from": self._sender(), "chat_instance": "-1",
            "data": self._packed[data], "message": {"message_id": 9, "date": 1700000000,
                                                    "chat": {"id": self.user_id, "type": "private"},
                                                    "text": "menu"}}})

    async def pushed(self, reply: Reply, key: str) -> Said:
        before = len(self._sent())
        await enqueue(self.client, self.channel, self.chat_id, reply, key)
        await settle_outbox(self.database, self.channel)
        return await self._said(self._sent()[before:])

    def _sender(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": "An", "language_code": "vi"}

    def _sent(self) -> list[TelegramCall]:
        return [call for call in self.fake.sent() if call.chat_id == self.user_id]

    async def _post(self, update: dict[str, Any]) -> Said:
        before = len(self._sent())
        response = await self.client.post("/telegram/webhook", json=update,
                                          headers={TELEGRAM_SECRET_HEADER: self.secret})
        assert response.status == 200, (response.status, await response.text())
        await self._settle()
        return await self._said(self._sent()[before:])

    async def _settle(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                async with self.database.session() as session:
                    waiting = (await session.execute(select(func.count()).select_from(TelegramUpdate).where(
                        TelegramUpdate.status.in_(("pending", "processing"))))).scalar_one()
                if not waiting:
                    break
                await asyncio.sleep(0.02)
        await settle_outbox(self.database, self.channel, timeout)

    async def _said(self, calls: list[TelegramCall]) -> Said:
        labels: list[str] = []
        data: list[str] = []
        hasher = self.client.app[ASSISTANT].services.hasher
        async with self.database.session() as session:
            for call in calls:
                markup = call.params.get("reply_markup") or {}
                for row in markup.get("inline_keyboard", []):
                    for button in row:
                        if "url" in button:  # a link button opens its address: no data comes back
                            labels.append(button["text"])
                            data.append(f"url:{button['url']}")
                            continue
                        unpacked = await callbacks.unpack(hasher, session, button["callback_data"],
                                                          self.user_id, self.user_id)
                        assert unpacked is not None, button
                        self._packed[unpacked] = button["callback_data"]
                        labels.append(button["text"])
                        data.append(unpacked)
        text = "\n".join(str(call.params.get("text") or call.params.get("caption") or "") for call in calls)
        return Said(text, labels, data)


# Zalo: the OA (buttons that send their label back) and the Bot API (a numbered list)


class ZaloDriver:
    """Either Zalo mode: `chat` is an `OAChat` or a `BotChat` (tests/support/zalo_chat.py)."""

    def __init__(self, channel: str, chat: OAChat | BotChat, chat_id: str) -> None:
        self.channel = channel
        self.chat = chat
        self.client = chat.client
        self.chat_id = chat_id

    async def say(self, text: str) -> Said:
        return await self._said(await self.chat.say(text))

    async def press(self, data: str) -> Said:
        return await self._said(await self.chat.tap(data))

    async def pushed(self, reply: Reply, key: str) -> Said:
        before = len(self._sent())
        await enqueue(self.client, self.channel, self.chat_id, reply, key)
        await settle(self.chat.database, self.channel)
        return await self._said(self._sent()[before:])

    def _sent(self) -> list[ZaloCall]:
        kinds = ("cs",) if self.channel == "zalo" else ("sendMessage", "sendPhoto")
        return [call for call in self.chat.fake.sent(*kinds) if call.user_id == self.chat_id]

    async def _said(self, calls: list[ZaloCall]) -> Said:
        """The buttons as each mode shows them (the OA's button titles, the Bot API's numbered lines),
        and the data each stands for, as the channel resolves that text when the user sends it back."""
        text = "\n".join(call.text for call in calls)
        labels = labels_of(calls) if self.channel == "zalo" else NUMBERED_LINE.findall(text)
        data: list[str] = []
        async with self.chat.database.session() as session:
            for label in labels:
                if isinstance(label, dict) and "url" in label:  # the OA's link button: opens it
                    data.append(f"url:{label['url']}")
                    continue
                found = await buttons.resolve(session, self.channel, self.chat_id, label)
                assert found is not None, f"{label!r} is not a button of {self.chat_id}"
                data.append(found)
        return Said(text, labels, data)


@contextlib.asynccontextmanager
async def driving(name: str, settings: Settings, database: Database, nlu_engine: NLUEngine
                  ) -> AsyncIterator[Driver]:
    """The app serving channel `name` (one of NAMES) over real HTTP, its platform played by the fakes,
    and a driver for one user of it."""
    async with contextlib.AsyncExitStack() as stack:
        if name == "web":
            client = TestClient(TestServer(create_app(Assistant.build(settings, nlu=nlu_engine,
                                                                      database=database))))
            await client.start_server()
            stack.push_async_callback(client.close)
            yield await WebDriver.open(client)
        elif name == "telegram":
            telegram = await FakeTelegram().start()
            stack.push_async_callback(telegram.close)
            client = await open_telegram(telegram_settings(settings, telegram), database, nlu_engine)
            stack.push_async_callback(client.close)
            yield TelegramDriver(client, telegram, database, TELEGRAM_SECRET)
        else:
            zalo = await FakeZalo().start()
            stack.push_async_callback(zalo.close)
            if name == "zalo":
                client = await open_zalo(zalo_settings(settings, zalo), database, nlu_engine)
                stack.push_async_callback(client.close)
                yield ZaloDriver("zalo", OAChat(client, zalo, database, ZALO_USER), ZALO_USER)
            else:
                client = await open_zalo(bot_settings(settings, zalo), database, nlu_engine)
                stack.push_async_callback(client.close)
                yield ZaloDriver("zalobot", BotChat(client, zalo, database, ZALO_BOT_CHAT), ZALO_BOT_CHAT)


@pytest.fixture(params=NAMES)
async def driver(request: pytest.FixtureRequest, settings: Settings, database: Database,
                 nlu_engine: NLUEngine) -> AsyncIterator[Driver]:
    """The same test on every channel, one user of it each (a pytest plugin of tests/conftest.py)."""
    async with driving(request.param, settings, database, nlu_engine) as opened:
        yield opened
