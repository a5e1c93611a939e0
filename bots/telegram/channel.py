"""The Telegram channel's input side and lifecycle.

Receipt follows one fixed order: secret (401) → content type and JSON (400) → stored in the inbox table
(a repeated update_id changes nothing) → 200; a database failure answers 500, so that Telegram retries.
The shared inbox processor (bots/channels/) then handles it off the request path, in order within its
chat: callback data checked and answered, files fetched under the upload limits, the pipeline run (which
puts the replies in the outbox), the sender woken. Polling stores what getUpdates returns before
acknowledging its offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

from aiohttp import web
from telegram import Bot, CallbackQuery, Update
from telegram.error import TelegramError
from telegram.ext import Application
from telegram.request import BaseRequest

from bots.channels.base import Handler
from bots.channels.processor import Receipt
from bots.channels.turns import Turns
from bots.telegram import callbacks
from bots.telegram.inbox import TelegramInbox, bot_id_of
from bots.telegram.parse import CHANNEL, Parsed, parse_callback, parse_message
from bots.telegram.sender import TelegramSender
from bots.web_input import INT64_MAX, BadInput, read_json, storable
from bots.web_json import refusal
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.db import Database
from core.i18n import Catalogue
from core.messages import Incoming
from core.metrics import Metrics
from core.outbox import Outbox
from core.security import verify_telegram_secret

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
WEBHOOK_PATH = "/telegram/webhook"
ALLOWED_UPDATES = ("message", "callback_query")
OUTBOX_PREFIX = "tg"
MAX_RETRY_DELAY = 300.0
RequestFactory = Callable[[], BaseRequest]


def file_base(settings: Settings) -> str:
    if settings.telegram_file_base:
        return settings.telegram_file_base
    base = settings.telegram_api_base
    return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base.rstrip("/") + "/file/bot"


def build_application(settings: Settings, request: RequestFactory | None = None) -> Application[
        Any, Any, Any, Any, Any, Any]:
    """An Application with no Updater of its own: updates come from our webhook or our poller."""
    assert settings.telegram_token is not None
    builder = (Application.builder().token(settings.telegram_token.get_secret_value())
               .base_url(settings.telegram_api_base).base_file_url(file_base(settings)).updater(None))
    if request is not None:
        builder = builder.request(request()).get_updates_request(request())
    return builder.build()


class TelegramChannel:
    name: ClassVar[str] = CHANNEL
    outbox_prefix: ClassVar[str | None] = OUTBOX_PREFIX

    def __init__(self, settings: Settings, handle: Handler, *, database: Database, outbox: Outbox,
                 catalogue: Catalogue, hasher: Hasher, cipher: FieldCipher, metrics: Metrics,
                 request: RequestFactory | None = None) -> None:
        self.settings = settings
        self.database = database
        self.outbox = outbox
        self.catalogue = catalogue
        self.hasher = hasher
        self.metrics = metrics
        self.application = build_application(settings, request)
        self.sender = TelegramSender(self.application.bot, database, hasher, settings, catalogue,
                                     cipher=cipher)
        self.turns = Turns(CHANNEL, OUTBOX_PREFIX, handle, database=database, outbox=outbox,
                           catalogue=catalogue)
        token = settings.telegram_token
        assert token is not None
        self.inbox = TelegramInbox(database, bot_id_of(token.get_secret_value()),
                                   lease=settings.lease_seconds)
        # Updates of a chat in order, one worker per chat (bots/channels/processor.py). No in-memory
        # backlog: a database failure answers 500, so that Telegram retries.
        self.receipt = Receipt(CHANNEL, self.inbox, self._handle_stored, workers=settings.inbox_workers,
                               keep=timedelta(days=settings.inbox_keep_days))
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def ready(self) -> bool:
        return self._connected.is_set()

    async def wait_ready(self) -> None:
        await self._connected.wait()

    @property
    def bot(self) -> Bot:
        return self.application.bot

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post(WEBHOOK_PATH, self.webhook)]

    # Lifecycle

    async def start(self) -> None:
        """Returns at once: reaching Telegram is retried in the background, since commune internet
        is unreliable and the rest of the service must not wait for it."""
        self._tasks.append(asyncio.create_task(self._connect(), name="telegram-connect"))

    async def _connect(self) -> None:
        delay = 1.0
        while True:
            try:
                await self.application.initialize()
                break
            except Exception as error:
                # Only the type: the messages of HTTP errors can carry the URL, which holds the token.
                log.warning("telegram: cannot reach the Bot API (%s), retrying in %.0f s",
                            type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(MAX_RETRY_DELAY, delay * 2)
        await self.application.start()
        self._connected.set()
        log.info("telegram: connected as @%s (%s)", self.bot.username,
                 "polling" if self.settings.telegram_polling else "webhook")
        # Updates stored before a restart (or while Telegram was unreachable) are taken up here.
        self.receipt.start()
        if self.settings.telegram_polling:
            self._tasks.append(asyncio.create_task(self._poll(), name="telegram-poll"))

    async def stop_receiving(self) -> None:
        """Stops taking updates and finishes the ones queued; sending keeps working until `close`."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.receipt.stop()
        self._connected.clear()
        if self.application.running:
            await self.application.stop()

    async def close(self) -> None:
        await self.stop_receiving()
        with contextlib.suppress(Exception):
            await self.application.shutdown()

    # Receiving

    async def webhook(self, request: web.Request) -> web.Response:
        rejections = self.metrics.webhook_rejections
        secret = self.settings.telegram_webhook_secret
        if not verify_telegram_secret(request.headers.get(SECRET_HEADER),
                                      secret.get_secret_value() if secret else None):
            rejections.labels(source=CHANNEL, reason="secret").inc()
            return refusal(401)
        update = await _read_update(request, self.bot)
        if update is None:
            rejections.labels(source=CHANNEL, reason="malformed").inc()
            return refusal(400)
        # Stored even before Telegram is reachable from here: processing starts once it is.
        await self.receipt.store(update)
        return web.Response(status=200)

    async def _poll(self) -> None:
        """getUpdates in a loop, for a server Telegram cannot reach; same processing as the webhook."""
        offset: int | None = None
        delay = 1.0
        webhook_removed = False
        while True:
            try:
                if not webhook_removed:
                    await self.bot.delete_webhook()
                    webhook_removed = True
                updates = await self.bot.get_updates(
                    offset=offset, timeout=self.settings.telegram_poll_timeout,
                    allowed_updates=list(ALLOWED_UPDATES))
                delay = 1.0
            except TelegramError as error:
                log.warning("telegram: polling failed (%s), retrying in %.0f s", type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
                continue
            try:
                for update in updates:
                    try:
                        payload = storable(update.to_dict())  # as for the webhook
                    except BadInput:
                        log.warning("telegram: polled update %d nested too deep; skipped", update.update_id)
                    else:
                        await self.receipt.store(payload)
                    # Acknowledged by the next getUpdates, only once stored.
                    offset = update.update_id + 1
            except Exception:
                log.exception("telegram: polled updates could not be stored, retrying in %.0f s", delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)

    # Processing

    async def _handle_stored(self, raw: dict[str, Any]) -> None:
        update = Update.de_json(raw, self.bot)
        await self.process(update)

    async def process(self, update: object) -> None:
        if not isinstance(update, Update):
            return
        incoming: Incoming | None = None
        if update.callback_query is not None:
            incoming = await self._button(update, update.callback_query)
        elif update.message is not None:
            parsed = parse_message(update, update.message, self.bot.username if self.ready else "")
            incoming = await self._fetch(parsed) if parsed is not None and parsed.file else (
                parsed.incoming if parsed is not None else None)
        if incoming is None:
            return
        await self.turns.run(incoming)

    async def _button(self, update: Update, query: CallbackQuery) -> Incoming | None:
        # Checked against the chat the pressed message is in and the member who pressed, as Telegram
        # reports them: a button copied from another chat or member does not check (callbacks.py).
        chat = query.message.chat.id if query.message is not None else None
        async with self.database.session() as session:
            button = await callbacks.unpack(self.hasher, session, query.data, chat, query.from_user.id)
        if button is None:
            self.metrics.webhook_rejections.labels(source=CHANNEL, reason="forged_button").inc()
        # Always answered, so that the client stops its spinner; a refused button says why.
        text = None if button is not None else self.catalogue.t(
            "telegram.button_expired", query.from_user.language_code or "vi")
        try:
            await query.answer(text=text)
        except TelegramError as error:
            log.info("telegram: answerCallbackQuery failed (%s)", type(error).__name__)
        return parse_callback(update, query, button) if button is not None else None

    async def _fetch(self, parsed: Parsed) -> Incoming | None:
        """Downloads a photo or document under the size limit, only from the Bot API's file address
        (a `file_path` pointing anywhere else, a local file included, is never read)."""
        assert parsed.file is not None
        limit = self.settings.max_attachment_bytes
        if (parsed.file.file_size or 0) > limit:
            await self._refuse_too_large(parsed.incoming)
            return None
        file = await self.bot.get_file(parsed.file.file_id)
        if (file.file_size or 0) > limit:
            await self._refuse_too_large(parsed.incoming)
            return None
        path = file.file_path or ""
        if not path.startswith(self._file_prefix()):
            log.warning("telegram: getFile gave a path outside the Bot API's file address; ignored")
            return None
        data = bytes(await self.bot.request.retrieve(path))
        if len(data) > limit:
            await self._refuse_too_large(parsed.incoming)
            return None
        return parsed.with_attachment(data)

    def _file_prefix(self) -> str:
        token = self.settings.telegram_token
        assert token is not None
        return f"{file_base(self.settings)}{token.get_secret_value()}/"

    async def _refuse_too_large(self, incoming: Incoming) -> None:
        language = "en" if (incoming.language or "").startswith("en") else "vi"
        await self.turns.refuse_too_large(incoming, language)


async def _read_update(request: web.Request, bot: Bot) -> dict[str, Any] | None:
    """The update as Telegram sent it, once it parses as an Update; None when malformed."""
    if request.content_type != "application/json":
        return None
    try:
        # Text made storable (a lone surrogate or NUL becomes U+FFFD); too deep or not JSON: malformed.
        data = await read_json(request)
    except BadInput:
        return None
    # update_id is the inbox's BIGINT key: a number past it could never be stored.
    if not isinstance(data, dict) or type(data.get("update_id")) is not int or \
            not 0 <= data["update_id"] <= INT64_MAX:
        return None
    try:
        Update.de_json(data, bot)
    except Exception:  # the library raises many types on a malformed but valid-JSON update
        return None
    return data
