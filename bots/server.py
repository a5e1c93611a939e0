"""The aiohttp application: health, metrics, media, the configured channels (bots/channels/registry.py:
the web chat always, Telegram and the Zalo modes when their credentials are set), the pages and hooks,
and the outbox senders, with a graceful shutdown that lets the outbox finish what is due."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from http import HTTPStatus

import aiohttp
from aiohttp import web
from sqlalchemy import exc as sql_errors

from bots.assistant import Assistant
from bots.channels.base import Channel, ChannelKit
from bots.channels.registry import configured_channels
from bots.dashboard.figures import Registry
from bots.dashboard.registry import default_registry
from bots.dashboard.web import Dashboard
from bots.demo import ensure_signing_keys, load_demo_data
from bots.hooks.onestop_in import OnestopInbound
from bots.hooks.receiver import HookReceiver
from bots.hooks.stripe_webhook import StripeWebhook
from bots.onestop_out import make_sender, outbound_secret
from bots.openapi import OpenAPI
from bots.pages.loudspeaker_feed import LoudspeakerFeed
from bots.pages.pay_page import PayPage
from bots.pages.pictures import Pictures
from bots.pages.places import PlacePages
from bots.pages.shop_web import ProductPhotos
from bots.pages.verify import VerifyPages
from bots.telegram.channel import RequestFactory
from bots.web_json import error, json_response
from core.config import Settings
from core.media import link_is_valid, media_bytes, served_as
from core.models import Media
from core.outbox import ChannelSender
from core.province import commune_path
from core.public_url import agree_on_public_url

log = logging.getLogger(__name__)
ASSISTANT = web.AppKey("assistant", Assistant)
CHANNELS = web.AppKey("channels", dict[str, Channel])  # by name: "web", "telegram", "zalo", "zalobot"
SHUTDOWN_FLUSH_SECONDS = 10.0
RETRY_AFTER_SECONDS = 5  # a PostgreSQL restart or failover takes seconds
_STATUSES = frozenset(int(status) for status in HTTPStatus)


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Errors as short JSON in the user's language, never a stack trace. Input no handler could read
    (bytes that do not decode, JSON nested past the interpreter's limit) is a 400, logged without a
    traceback; only what nothing explains is a 500, with its traceback."""
    catalogue = request.app[ASSISTANT].services.catalogue
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return error(413, "too_large", catalogue.t("web.too_large"))
    except web.HTTPNotFound:
        return error(404, "not_found", catalogue.t("web.not_found"))
    except web.HTTPError as http_error:  # 405 and the other refusals aiohttp raises: JSON too
        return _http_error(http_error, catalogue.t("web.internal" if http_error.status >= 500
                                                   else "web.bad_request"))
    except web.HTTPException:
        raise
    except (UnicodeError, RecursionError) as undecodable:
        # A handler read input it should have checked first: refused, and named in the log so that the
        # check gets written, but it is the request that is wrong, not the service.
        log.warning("refused undecodable input on %s %s (%s)", request.method, _route(request),
                    type(undecodable).__name__)
        return error(400, "bad_request", catalogue.t("web.bad_request"))
    except (sql_errors.DBAPIError, ConnectionError) as failed:
        if not _database_unreachable(failed):
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error(500, "internal", catalogue.t("web.internal"))
        # The database is restarting or out of reach: nothing was committed, the client may send it again
        # (Telegram and Zalo retry a 5xx by themselves). One line, not a traceback per request.
        log.warning("database unreachable on %s %s (%s)", request.method, _route(request),
                    type(failed).__name__)
        response = error(503, "unavailable", catalogue.t("web.unavailable"))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error(500, "internal", catalogue.t("web.internal"))


def _database_unreachable(failed: Exception) -> bool:
    """A connection refused, reset or dropped, or PostgreSQL saying it cannot take one now (SQLSTATE
    classes 08 "connection exception" and 57P "operator intervention": shutting down, starting up)."""
    if isinstance(failed, ConnectionError):
        return True
    orig = getattr(failed, "orig", None)
    if isinstance(orig, ConnectionError) or getattr(failed, "connection_invalidated", False):
        return True
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(("08", "57P"))


def _http_error(http_error: web.HTTPError, message: str) -> web.Response:
    status = http_error.status
    code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_") if status in _STATUSES \
        else "error"
    response = error(status, code, message)
    for name in ("Allow", "Retry-After", "Content-Range"):  # what the refusal tells the client to do
        if name in http_error.headers:
            response.headers[name] = http_error.headers[name]
    return response


def _route(request: web.Request) -> str:
    """The route's pattern (never the path: it may hold the undecodable bytes)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def timed(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Counts and times every request by its route's pattern (`/media/{media_id}`, not the path), so the
    series stay few whatever the addresses asked for; unmatched paths count as `unmatched`."""
    metrics = request.app[ASSISTANT].metrics
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as http_error:
        status = http_error.status
        raise
    finally:
        route = _route(request)
        metrics.http_latency.labels(method=request.method, route=route).observe(time.perf_counter() - started)
        metrics.http_requests.labels(method=request.method, route=route, status=str(status)).inc()


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    assistant = request.app[ASSISTANT]
    body = assistant.metrics.render(await assistant.services.outbox.stats())
    return web.Response(body=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


async def media(request: web.Request) -> web.StreamResponse:
    assistant = request.app[ASSISTANT]
    media_id = request.match_info["media_id"]
    viewer = request.query.get("by", "")
    if not link_is_valid(assistant.services.hasher, media_id, request.query.get("exp", ""),
                         request.query.get("sig", ""), viewer=viewer):
        return error(404, "not_found", assistant.services.catalogue.t("web.not_found"))
    async with assistant.database.session() as session:
        item = await session.get(Media, media_id)
    if item is None or (item.sealed and not viewer):  # a sealed file opens only through a named link
        return error(404, "not_found", assistant.services.catalogue.t("web.not_found"))
    if item.sealed:  # health photos: every opening is a read of health data, audited
        await assistant.services.audit.record(f"user:{viewer}", "media.read", subject=f"media:{media_id}")
    body = media_bytes(item, assistant.services.cipher)
    # The type stored by the server and checked against the bytes, never the client's; attachment but
    # for re-encoded images; nosniff and a sandbox CSP on everything (core/media.py, `served_as`).
    content_type, headers = served_as(item.id, item.content_type, body)
    return web.Response(body=body, content_type=content_type, headers=headers)


async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/chat")


def channel_kit(assistant: Assistant) -> ChannelKit:
    """What channels are given: the assistant's `handle` and the services they use, not the assistant."""
    services = assistant.services
    return ChannelKit(settings=assistant.settings, database=assistant.database, handle=assistant.handle,
                      outbox=services.outbox, catalogue=services.catalogue, hasher=services.hasher,
                      cipher=services.cipher, audit=services.audit, metrics=assistant.metrics)


def senders(channels: Iterable[Channel], settings: Settings,
            hooks_session: aiohttp.ClientSession | None = None) -> list[ChannelSender]:
    found = [channel.sender for channel in channels if channel.sender is not None]
    onestop = make_sender(settings, hooks_session) if hooks_session is not None else None
    if onestop is not None:
        found.append(onestop)
    return found


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    assistant = app[ASSISTANT]
    if assistant.settings.load_demo_data:  # before start(), which warns when there are no keys
        ensure_signing_keys(assistant)
    await assistant.start()
    disagreement = await agree_on_public_url(assistant.database, assistant.settings.public_url)
    if disagreement is not None:
        log.warning(disagreement)
    if assistant.settings.load_demo_data:
        await load_demo_data(assistant)
    channels = list(app[CHANNELS].values())
    for channel in channels:
        await channel.start()
    stop = asyncio.Event()
    # Signed POSTs to the provincial one-stop system (bots/onestop_out.py), when configured.
    hooks_session = aiohttp.ClientSession() if outbound_secret(assistant.settings) else None
    channel_senders = senders(channels, assistant.settings, hooks_session)
    outbox = assistant.services.outbox
    tasks = [asyncio.create_task(outbox.run(sender, stop), name=f"outbox-{sender.name}")
             for sender in channel_senders]
    # The services' own loops: late consults escalated, scheduled announcements published when due.
    tasks.extend(asyncio.create_task(run, name=name) for name, run in assistant.background(stop))
    yield
    for channel in channels:
        await channel.stop_receiving()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for sender in channel_senders:
        await outbox.flush(sender, SHUTDOWN_FLUSH_SECONDS)
    if hooks_session is not None:
        await hooks_session.close()
    for channel in channels:
        await channel.close()
    await assistant.close()


def create_app(assistant: Assistant, *, telegram_request: RequestFactory | None = None,
               dashboard: Registry | None = None) -> web.Application:
    """`telegram_request` makes the HTTP client python-telegram-bot uses (tests pass a loopback-only one);
    the Telegram channel is on when XASO_TELEGRAM_TOKEN is set (bots/channels/registry.py). `dashboard` is
    what the staff dashboard shows (bots/dashboard/registry.py by default)."""
    app = web.Application(middlewares=[timed, json_errors],
                          client_max_size=assistant.settings.max_request_bytes)
    app[ASSISTANT] = assistant
    channels = configured_channels(channel_kit(assistant), telegram_request=telegram_request)
    app[CHANNELS] = {channel.name: channel for channel in channels}
    for channel in channels:
        app.add_routes(channel.routes())
    app.add_routes([
        web.get("/healthz", healthz),
        web.get("/metrics", metrics),
        web.get("/media/{media_id}", media),
        *VerifyPages(assistant).routes(),
        *Dashboard(assistant, dashboard or default_registry(assistant.assembly)).routes(),
        *PayPage(assistant).routes(),
        *StripeWebhook(assistant).routes(),
        *LoudspeakerFeed(assistant).routes(),
        *HookReceiver(assistant, {"onestop": OnestopInbound.serving(assistant)}).routes(),
    ])
    shops = [(local.kit.products, commune_path(assistant.settings.data_dir, local.services.commune.code,
                                               "products"))
             for local in assistant.locals() if local.kit.products is not None]
    if shops:
        app.add_routes(ProductPhotos(shops).routes())
    lessons = {name: path for local in assistant.locals()
               for name, path in local.kit.courses.picture_files().items()}
    app.add_routes(Pictures("/lessons/img", lessons).routes())  # the digital-skills lessons' pictures
    places = PlacePages(assistant)  # the audio-guide pages the places' QR posters open
    app.add_routes([*places.routes(), *places.photos().routes()])
    app.router.add_get("/", home)
    app.add_routes(OpenAPI(assistant.settings.public_url).routes())  # GET /openapi.json (bots/openapi.py)
    app.cleanup_ctx.append(_lifecycle)
    return app
