"""The Telegram channel of the real app against the fake Bot API (tests/support/fake_telegram.py):
settings, the app over real HTTP, real-shaped updates and posting them to the webhook. `fake` and `tg`
are fixtures: a test module uses them by importing them."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bots.assistant import Assistant
from bots.server import CHANNELS, create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.fake_telegram import TOKEN, FakeTelegram, LoopbackRequest

SECRET = "s3cret-Token_for-tests"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
_ids = itertools.count(1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    yield server
    await server.close()


def telegram_settings(settings: Settings, fake: FakeTelegram, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_token": SecretStr(TOKEN), "telegram_webhook_secret": SecretStr(SECRET),
        "telegram_api_base": fake.api_base, "telegram_per_chat_rate": math.inf,
        "telegram_group_per_minute": math.inf, "telegram_global_rate": math.inf,
        "outbox_base_delay": 0.2, "outbox_max_delay": 1.0,
    }
    return settings.model_copy(update=values | overrides)


async def open_client(settings: Settings, database: Database, nlu: NLUEngine) -> TestClient:
    app = create_app(Assistant.build(settings, nlu=nlu, database=database), telegram_request=LoopbackRequest)
    client = TestClient(TestServer(app))
    await client.start_server()
    async with asyncio.timeout(10):
        await app[CHANNELS]["telegram"].wait_ready()  # type: ignore[attr-defined]
    return client


@pytest.fixture
async def tg(settings: Settings, database: Database, nlu_engine: NLUEngine,
             fake: FakeTelegram) -> AsyncIterator[TestClient]:
    client = await open_client(telegram_settings(settings, fake), database, nlu_engine)
    yield client
    await client.close()


def sender(user_id: int = 42, language: str = "vi") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "An", "language_code": language}


def message_update(update_id: int | None = None, *, user_id: int = 42, chat: dict[str, Any] | None = None,
                   **content: Any) -> dict[str, Any]:
    return {"update_id": update_id or next(_ids) + 1000, "message": {
        "message_id": 5, "from": sender(user_id), "date": 1700000000,
        "chat": chat or {"id": user_id, "type": "private", "first_name": "An"}, **content}}


def callback_update(data: str, user_id: int = 42, chat: dict[str, Any] | None = None) -> dict[str, Any]:
    """A press of a button on a message in `chat` (the user's private chat by default)."""
    return {"update_id": next(_ids) + 1000, "callback_query": {
        "id": f"cbq{next(_ids)}", "from": sender(user_id), "chat_instance": "-1", "data": data,
        "message": {"message_id": 9, "date": 1700000000,
                    "chat": chat or {"id": user_id, "type": "private"}, "text": "menu"}}}


async def post(client: TestClient, update: Any, headers: dict[str, str] | None = None,
               expect: int = 200) -> None:
    response = await client.post("/telegram/webhook", json=update,
                                 headers=HEADERS if headers is None else headers)
    assert response.status == expect, (response.status, await response.text())
