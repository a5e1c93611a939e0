"""The Zalo channels of the real app against the fake Zalo servers (tests/support/fake_zalo.py): the
OA's and the Bot API's settings, and the app over real HTTP."""

from __future__ import annotations

import math
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.fake_zalo import (
    ACCESS_TOKEN,
    APP_ID,
    APP_SECRET,
    BOT_SECRET,
    BOT_TOKEN,
    OA_SECRET,
    REFRESH_TOKEN,
    FakeZalo,
)

USER = "2512523625412515"


def zalo_settings(settings: Settings, fake: FakeZalo, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "zalo_app_id": APP_ID, "zalo_app_secret": SecretStr(APP_SECRET),
        "zalo_oa_secret": SecretStr(OA_SECRET),
        "zalo_access_token": SecretStr(ACCESS_TOKEN), "zalo_refresh_token": SecretStr(REFRESH_TOKEN),
        "zalo_api_base": fake.base, "zalo_oauth_base": fake.base,
        "zalo_per_chat_rate": math.inf, "zalo_global_rate": math.inf,
        "outbox_base_delay": 0.2, "outbox_max_delay": 1.0,
        "rate_limit_burst": 200, "rate_limit_per_minute": 600,
    }
    return settings.model_copy(update=values | overrides)


async def open_client(settings: Settings, database: Database, nlu: NLUEngine) -> TestClient:
    client = TestClient(TestServer(create_app(Assistant.build(settings, nlu=nlu, database=database))))
    await client.start_server()
    return client


def bot_settings(settings: Settings, fake: FakeZalo, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "zalo_bot_token": SecretStr(BOT_TOKEN), "zalo_bot_webhook_secret": SecretStr(BOT_SECRET),
        "zalo_bot_api_base": fake.base, "zalo_bot_mode": "webhook", "zalo_poll_timeout": 1,
        "zalo_per_chat_rate": math.inf, "zalo_global_rate": math.inf,
        "outbox_base_delay": 0.2, "outbox_max_delay": 1.0,
        "rate_limit_burst": 200, "rate_limit_per_minute": 600,
    }
    return settings.model_copy(update=values | overrides)
