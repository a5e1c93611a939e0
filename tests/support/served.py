"""The real app served on 127.0.0.1 the way `xaso serve` serves it (bots/http_server.py's `Runner`, so
requests that are not HTTP are answered as in production), on a port the system picks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bots.http_server import Runner


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
