"""The fake Zalo servers and the OA app over real HTTP, shared by the Zalo tests of this folder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.fake_zalo import FakeZalo
from tests.support.zalo import open_client, zalo_settings


@pytest.fixture
async def fake() -> AsyncIterator[FakeZalo]:
    server = await FakeZalo().start()
    yield server
    await server.close()


@pytest.fixture
async def oa(settings: Settings, database: Database, nlu_engine: NLUEngine,
             fake: FakeZalo) -> AsyncIterator[TestClient]:
    client = await open_client(zalo_settings(settings, fake), database, nlu_engine)
    yield client
    await client.close()
