"""Durable receipt: an update stored before the 200 survives the app that received it, is handled once,
and in order within its chat."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bots.assistant import Assistant
from bots.channels.inbox import DONE, PENDING
from bots.channels.processor import InboxProcessor
from bots.server import CHANNELS, create_app
from bots.telegram.inbox import TelegramInbox, TelegramUpdate, bot_id_of, chat_key
from core.config import Settings
from core.db import Database
from core.models import utcnow
from nlu.engine import NLUEngine
from tests.support.fake_telegram import TOKEN, FakeTelegram, LoopbackRequest
from tests.support.telegram import callback_update, message_update, open_client, post, telegram_settings


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    yield server
    await server.close()


async def rows(database: Database) -> list[TelegramUpdate]:
    async with database.session() as session:
        return list((await session.execute(select(TelegramUpdate).order_by(TelegramUpdate.update_id)))
                    .scalars())


async def wait_until_done(database: Database, count: int) -> None:
    async with asyncio.timeout(10):
        while True:
            if sum(row.status == DONE for row in await rows(database)) >= count:
                return
            await asyncio.sleep(0.05)


async def test_update_accepted_then_app_closed_is_processed_by_the_next_instance(
        settings: Settings, database: Database, nlu_engine: NLUEngine, fake: FakeTelegram) -> None:
    fake.fail("getMe", 502, "Bad Gateway", times=10_000)  # the first instance never gets to process
    first = create_app(Assistant.build(telegram_settings(settings, fake), nlu=nlu_engine, database=database),
                       telegram_request=LoopbackRequest)
    client = TestClient(TestServer(first))
    await client.start_server()
    try:
        await post(client, message_update(update_id=5001, text="/help"))
    finally:
        await client.close()
    assert [(row.update_id, row.status) for row in await rows(database)] == [(5001, PENDING)]
    assert fake.sent() == []
    fake._failures.clear()
    second = await open_client(telegram_settings(settings, fake), database, nlu_engine)
    try:
        await fake.wait_for(1)
        await wait_until_done(database, 1)
        await asyncio.sleep(0.5)
        assert len(fake.sent()) == 1
    finally:
        await second.close()


async def test_update_left_processing_by_a_crash_is_retaken_when_its_lease_expires(
        settings: Settings, database: Database, nlu_engine: NLUEngine, fake: FakeTelegram) -> None:
    crashed = TelegramInbox(database, bot_id_of(TOKEN), lease=0.05)
    await crashed.accept(message_update(update_id=6001, text="/help"))
    [leased] = await crashed.claim(10)  # then the process "dies" holding the lease
    assert leased.update_id == 6001
    await asyncio.sleep(0.1)
    client = await open_client(telegram_settings(settings, fake), database, nlu_engine)
    try:
        await fake.wait_for(1)
        await wait_until_done(database, 1)
        await asyncio.sleep(0.3)
        assert len(fake.sent()) == 1
    finally:
        await client.close()


async def test_a_repeated_update_id_is_stored_once_and_answered_once(
        settings: Settings, database: Database, nlu_engine: NLUEngine, fake: FakeTelegram) -> None:
    client = await open_client(telegram_settings(settings, fake), database, nlu_engine)
    try:
        update_ = message_update(text="/help")
        for _ in range(3):
            await post(client, update_)
        await fake.wait_for(1)
        await wait_until_done(database, 1)
        await post(client, update_)  # after it was handled, still a no-op with a 200
        await asyncio.sleep(0.4)
        assert len(fake.sent()) == 1
        assert len(await rows(database)) == 1
    finally:
        await client.close()


async def test_updates_of_a_chat_are_handled_in_order_and_chats_concurrently(
        settings: Settings, database: Database, nlu_engine: NLUEngine, fake: FakeTelegram) -> None:
    client = await open_client(telegram_settings(settings, fake, inbox_workers=3), database,
                               nlu_engine)
    channel = client.server.app[CHANNELS]["telegram"]
    seen: list[tuple[int, int]] = []
    running = 0
    most = 0
    rng = random.Random(4)

    async def recording(update: Any) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(rng.uniform(0.0, 0.02))
        seen.append((update.effective_chat.id, update.update_id))
        running -= 1

    channel.process = recording  # type: ignore[method-assign]
    chats = (501, 502, 503, 504)

    async def one_chat(chat: int) -> None:
        for number in range(8):
            update_id = chat * 100 + number
            item = (message_update(update_id=update_id, user_id=chat, text=f"m{number}")
                    if number % 3 else callback_update("x", user_id=chat) | {"update_id": update_id})
            await post(client, item)

    try:
        await asyncio.gather(*(one_chat(chat) for chat in chats))
        await wait_until_done(database, 32)
        for chat in chats:
            ids = [update_id for seen_chat, update_id in seen if seen_chat == chat]
            assert ids == [chat * 100 + number for number in range(8)]
        assert len(seen) == 32
        assert 1 <= most <= 3
    finally:
        await client.close()


async def test_a_failed_update_holds_back_its_chat_only(database: Database) -> None:
    inbox = TelegramInbox(database, 1)
    for update_id, chat in ((1, 10), (2, 10), (3, 20)):
        await inbox.accept(message_update(update_id=update_id, user_id=chat, text="x"))
    first = await inbox.claim(10)
    assert [item.update_id for item in first] == [1, 2, 3]
    assert await inbox.claim(10) == []  # all leased
    assert not await inbox.failed(first[0])  # backs off
    await inbox.release([first[1]])
    await inbox.done(first[2])
    await inbox.accept(message_update(update_id=4, user_id=20, text="y"))
    assert [item.update_id for item in await inbox.claim(10)] == [4]  # chat 10 waits for update 1


async def test_processor_retries_a_failed_update_then_keeps_the_order(database: Database) -> None:
    inbox = TelegramInbox(database, 1)
    for update_id in (1, 2):
        await inbox.accept(message_update(update_id=update_id, user_id=10, text="x"))
    handled: list[int] = []
    failures = iter([True])

    async def handle(raw: dict[str, Any]) -> None:
        if next(failures, False):
            raise RuntimeError("the database blinked")
        handled.append(raw["update_id"])

    processor = InboxProcessor(inbox, handle, workers=2, idle=0.05)
    task = asyncio.create_task(processor.run())
    try:
        async with asyncio.timeout(10):
            while True:
                if len(handled) >= 2:
                    break
                await asyncio.sleep(0.05)
    finally:
        processor.stop()
        await task
    assert handled == [1, 2]
    assert (await inbox.counts())[DONE] == 2


async def test_old_done_updates_are_purged(database: Database) -> None:
    inbox = TelegramInbox(database, 1)
    for update_id in (1, 2, 3):
        await inbox.accept(message_update(update_id=update_id, text="x"))
    leased = await inbox.claim(2)
    for item in leased:
        await inbox.done(item)
    async with database.session() as session:
        await session.execute(update(TelegramUpdate).where(TelegramUpdate.update_id.in_((1, 3)))
                              .values(received_at=utcnow() - timedelta(days=4)))
    assert await inbox.purge(timedelta(days=3)) == 1  # 1: old and done; 2: recent; 3: old but pending
    assert [row.update_id for row in await rows(database)] == [2, 3]


def test_chat_key_of_each_kind_of_update() -> None:
    assert chat_key(message_update(user_id=9, text="x")) == "9"
    assert chat_key(callback_update("x", user_id=8)) == "8"
    inline = callback_update("x", user_id=7)
    del inline["callback_query"]["message"]
    assert chat_key(inline) == "user:7"
    assert chat_key({"update_id": 1}) == ""
    assert bot_id_of(TOKEN) == 123456 and bot_id_of("nonsense") == 0


async def test_polled_updates_are_stored_before_their_offset_is_acknowledged(
        settings: Settings, database: Database, nlu_engine: NLUEngine, fake: FakeTelegram) -> None:
    client = await open_client(telegram_settings(settings, fake, telegram_polling=True,
                                                 telegram_poll_timeout=1), database, nlu_engine)
    try:
        fake.add_update(message_update(update_id=7001, text="/help"))
        await fake.wait_for(1)
        await wait_until_done(database, 1)
        await fake.wait_for(1, "getUpdates")
        acknowledged = [int(call.params.get("offset", 0) or 0) for call in fake.sent("getUpdates")]
        assert [row.update_id for row in await rows(database)] == [7001]
        async with asyncio.timeout(5):
            while 7002 not in acknowledged:
                await asyncio.sleep(0.05)
                acknowledged = [int(call.params.get("offset", 0) or 0) for call in fake.sent("getUpdates")]
    finally:
        await client.close()
