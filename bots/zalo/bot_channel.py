"""The Zalo Bot API channel: `POST /zalo/bot/webhook` (secret in `X-Bot-Api-Secret-Token`), or polling
with `getUpdates` when the server has no public https address.

Mode (XASO_ZALO_BOT_MODE): `webhook`, `polling`, or `auto` (the default): polling unless XASO_PUBLIC_URL
is https, since Zalo only delivers webhooks to https. `xaso serve --zalo-polling` forces polling.
Receipt: secret (401) → JSON update, with or without the `result` wrapper (400) → stored, a repeated
message_id changing nothing → 200; never a 5xx. Processing as for the OA.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from bots.channels.base import Handler
from bots.web_input import BadInput, read_json, storable
from bots.zalo import BOT_CHANNEL
from bots.zalo.bot_api import BotAPIError, BotClient
from bots.zalo.bot_parse import chat_of, parse_update, unwrap, update_key
from bots.zalo.bot_sender import BotSender
from bots.zalo.receiver import ZaloReceiver
from core.config import Settings
from core.crypto import Hasher
from core.db import Database
from core.i18n import Catalogue
from core.messages import Attachment, Incoming
from core.metrics import Metrics
from core.outbox import Outbox
from core.security import verify_telegram_secret

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/zalo/bot/webhook"
SECRET_HEADER = "X-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
ACTION_TIMEOUT = 3.0


def polling(settings: Settings) -> bool:
    if settings.zalo_bot_mode != "auto":
        return settings.zalo_bot_mode == "polling"
    return not settings.public_url.startswith("https://")


class BotChannel(ZaloReceiver):
    name: ClassVar[str] = BOT_CHANNEL
    outbox_prefix: ClassVar[str | None] = "zb"

    def __init__(self, settings: Settings, handle: Handler, *, database: Database, outbox: Outbox,
                 catalogue: Catalogue, hasher: Hasher, metrics: Metrics) -> None:
        super().__init__(settings, handle, database=database, outbox=outbox, catalogue=catalogue,
                         metrics=metrics, fetch_hosts=(settings.zalo_bot_api_base,))
        token = settings.zalo_bot_token
        assert token is not None
        self.client = BotClient(None, settings.zalo_bot_api_base, token.get_secret_value())
        self.sender = BotSender(self.client, database, hasher, settings, catalogue)
        self.polling = polling(settings)
        self._typing_tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post(WEBHOOK_PATH, self.webhook)]

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(trust_env=False)
        self.client.http = self.http
        self.receipt.start()
        if self.polling:
            self._tasks.append(asyncio.create_task(self._poll(), name="zalobot-poll"))
        log.info("zalo bot: %s", "polling with getUpdates" if self.polling else f"webhook at {WEBHOOK_PATH}")

    async def close(self) -> None:
        await self.stop_receiving()
        await asyncio.gather(*self._typing_tasks, return_exceptions=True)
        await self.close_http()

    # Receipt

    async def webhook(self, request: web.Request) -> web.Response:
        secret = self.settings.zalo_bot_webhook_secret
        if not verify_telegram_secret(request.headers.get(SECRET_HEADER),
                                      secret.get_secret_value() if secret else None):
            return self._refuse("secret", 401)
        try:
            # Text made storable (a lone surrogate or NUL becomes U+FFFD), so the update is handled.
            update = unwrap(await read_json(request))
        except (BadInput, web.HTTPException):
            update = None
        if update is None:
            return self._refuse("malformed", 400)
        await self.receipt.store(update)
        return web.Response(status=200)

    async def _poll(self) -> None:
        delay = 1.0
        webhook_removed = False
        while True:
            try:
                if not webhook_removed:
                    with contextlib.suppress(BotAPIError):
                        await self.client.call("deleteWebhook")
                    webhook_removed = True
                timeout = self.settings.zalo_poll_timeout
                result = await self.client.call("getUpdates", {"timeout": timeout}, timeout=timeout + 10)
                delay = 1.0
            except (BotAPIError, aiohttp.ClientError, TimeoutError) as error:
                log.warning("zalo bot: polling failed (%s), retrying in %.0f s", type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
                continue
            found = result if isinstance(result, list) else [result] if result else []
            for item in found:
                try:
                    update = unwrap(storable(item))  # as for the webhook: text every database stores
                except BadInput:
                    update = None
                if update is not None:
                    await self.receipt.store(update)

    # Processing

    def identify(self, payload: dict[str, Any]) -> tuple[str, str]:
        return update_key(payload), chat_of(payload)

    async def handle_stored(self, payload: dict[str, Any]) -> None:
        parsed = parse_update(payload)
        if parsed is None:
            return
        incoming, photo = parsed
        # The typing indicator goes alongside the turn, never in front of it.
        typing = asyncio.create_task(self._typing(incoming.chat_id), name="zalobot-typing")
        self._typing_tasks.add(typing)
        typing.add_done_callback(self._typing_tasks.discard)
        if photo is not None:
            fetched = await self._fetch(incoming, photo)
            if fetched is None:
                return
            incoming = fetched
        else:
            incoming = await self.as_button(incoming)
        await self.run(incoming)

    async def _typing(self, chat_id: str) -> None:
        """Best effort, not a message: no outbox row, never holds the turn up for long."""
        try:
            async with asyncio.timeout(ACTION_TIMEOUT):
                await self.client.send_chat_action(chat_id, "typing")
        except Exception as error:
            log.debug("zalo bot: sendChatAction failed (%s)", type(error).__name__)

    async def _fetch(self, incoming: Incoming, url: str) -> Incoming | None:
        try:
            data = await self.download(url, None)
        except ValueError:
            log.warning("zalo bot: a photo outside Zalo's file hosts was ignored")
            return None
        if data is None:
            await self.turns.refuse_too_large(incoming)
            return None
        return Incoming(channel=incoming.channel, chat_id=incoming.chat_id, user_id=incoming.user_id,
                        message_id=incoming.message_id, text=incoming.text, language=incoming.language,
                        display_name=incoming.display_name, raw=incoming.raw,
                        attachment=Attachment("photo.jpg", "image/jpeg", data))
