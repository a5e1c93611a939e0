"""How `xaso serve` serves the app: aiohttp's server and `web.run_app`, with one change below the app.

A request aiohttp cannot parse as HTTP (a control byte or a byte ≥ 0x80 in a header name, a control
byte in a header value, a header line over 8,190 bytes, more than 128 headers) never reaches a route or
a middleware: aiohttp answers it itself, 400 with the offending bytes echoed back as plain text, and
logs it at ERROR with a traceback. Here it is answered with the same short JSON as every other refusal
(`{"error": "bad_request", …}`), without echoing anything, and logged as one INFO line: it is the client
that is wrong, and a log full of tracebacks hides the ones that matter (SECURITY.md: no input of any
shape, bytes in headers included, produces a 5xx or a traceback).

The event loop is uvloop's where uvloop is installed (a dependency wherever it has a wheel), unless
XASO_UVLOOP is false; asyncio's own otherwise. The log says which at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)
REFUSAL = json.dumps({"error": "bad_request", "message": "Yêu cầu không hợp lệ. / The request is not valid."},
                     ensure_ascii=False, separators=(",", ":"))


class _Protocol(web.RequestHandler):  # type: ignore[type-arg]
    """aiohttp's connection handler, answering requests that are not HTTP with JSON."""

    __slots__ = ()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500 or not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)  # ours (504, …): as aiohttp does
        log.info("refused a request that is not valid HTTP from %s (%s)", request.remote, type(exc).__name__)
        if request.writer.output_size > 0:  # as aiohttp: part of an answer is out, the connection is lost
            raise ConnectionError("a response was already sent on this connection")
        response = web.Response(status=status, text=REFUSAL, content_type="application/json")
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:  # type: ignore[type-arg]
        return _Protocol(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """`web.AppRunner` whose connections are `_Protocol`s; everything else is aiohttp's."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # starts the app, as aiohttp does
        return _Server(made.request_handler, request_factory=made.request_factory,
                       handler_cancellation=made.handler_cancellation, loop=made._loop, **made._kwargs)


async def _serve(runner: Runner, host: str, port: int) -> None:
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()  # until cancelled by the shutdown
    finally:
        await runner.cleanup()  # the app's cleanup: the outbox finishes what is due (bots/server.py)


def new_event_loop(uvloop: bool = True) -> tuple[asyncio.AbstractEventLoop, str]:
    """A new event loop, uvloop's when `uvloop` is true and uvloop is installed, asyncio's otherwise; and
    what it is, for the log."""
    if not uvloop:
        return asyncio.new_event_loop(), "asyncio (XASO_UVLOOP is off)"
    try:
        import uvloop as installed
    except ImportError:
        return asyncio.new_event_loop(), "asyncio (uvloop is not installed)"
    return installed.new_event_loop(), f"uvloop {installed.__version__}"


def run(app: web.Application, *, host: str, port: int, shutdown_timeout: float, uvloop: bool = True) -> None:
    """`web.run_app(app, host=…, port=…, access_log=None, print=None)` with the `Runner` above, on
    uvloop's loop when `uvloop` is true and it is installed: until SIGINT or SIGTERM, then the same
    graceful shutdown (the serving task cancelled first, so the app's cleanup runs before any other task
    is cancelled)."""
    runner = Runner(app, handle_signals=True, access_log=None, keepalive_timeout=75.0,
                    shutdown_timeout=shutdown_timeout)
    loop, kind = new_event_loop(uvloop)
    log.info("event loop: %s", kind)
    main = loop.create_task(_serve(runner, host, port))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            rest = asyncio.all_tasks(loop)
            for task in rest:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()
