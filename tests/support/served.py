"""The real app served on 127.0.0.1 the way `xaso serve` serves it (bots/http_server.py's `Runner`, so
requests that are not HTTP are answered as in production), on a port the system picks; and the whole
service as the tests' HTTP client sees it, for given settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bots.http_server import Runner

if TYPE_CHECKING:
    from core.config import Settings
    from core.db import Database
    from nlu.engine import NLUEngine


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[int]:
    """Starts `app` (its startup and cleanup included) and yields its port."""
    runner = Runner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@asynccontextmanager
async def served_client(settings: Settings, database: Database, nlu: NLUEngine) -> AsyncIterator[TestClient]:
    """The whole service with `settings` over real HTTP on loopback, its outbox senders and background
    tasks running (the `client` fixture's, for other settings: a province's, another commune's keys)."""
    from bots.assistant import Assistant
    from bots.server import create_app

    app = create_app(Assistant.build(settings, nlu=nlu, database=database))
    async with TestClient(TestServer(app)) as client:
        yield client
