"""What both Zalo modes share on the input side: the durable receipt (bots/channels/), with an in-memory
backlog for the rare moment the database refuses a write (Zalo must never see a 5xx, or it may turn the
webhook off), downloads under the upload limits, and handing each event to the pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bots.channels.base import Handler
from bots.channels.inbox import DurableInbox
from bots.channels.processor import Receipt
from bots.channels.turns import Turns
from bots.web_json import refusal
from bots.zalo import buttons
from bots.zalo.models import MAX_KEY_CHARS, ZALO_INBOX
from core.config import Settings
from core.db import Database
from core.i18n import Catalogue
from core.messages import Incoming
from core.metrics import Metrics
from core.outbox import Outbox

log = logging.getLogger(__name__)
# Zalo's own file hosts; an attachment anywhere else is never fetched.
MEDIA_HOST_SUFFIXES = (".zdn.vn", ".zadn.vn", ".zalo.me", ".zaloapp.com", ".zaloplatforms.com")
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=30)


class ZaloReceiver:
    name: ClassVar[str]
    outbox_prefix: ClassVar[str | None]

    def __init__(self, settings: Settings, handle: Handler, *, database: Database, outbox: Outbox,
                 catalogue: Catalogue, metrics: Metrics, fetch_hosts: tuple[str, ...] = ()) -> None:
        assert self.outbox_prefix is not None
        self.settings = settings
        self.database = database
        self.outbox = outbox
        self.catalogue = catalogue
        self.metrics = metrics
        self.turns = Turns(self.name, self.outbox_prefix, handle, database=database, outbox=outbox,
                           catalogue=catalogue)
        self.inbox = DurableInbox(database, ZALO_INBOX, self.name, self._identify,
                                  lease=settings.lease_seconds)
        # Done rows are kept at least the 24 h of de-duplication.
        self.receipt = Receipt(self.name, self.inbox, self.handle_stored, workers=settings.inbox_workers,
                               keep=timedelta(days=max(1.0, settings.inbox_keep_days)), backlog=True)
        self.fetch_hosts = fetch_hosts
        self.http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _refuse(self, reason: str, status: int) -> web.Response:
        """A webhook delivery refused: counted in `xaso_webhook_rejections`, answered without detail."""
        self.metrics.webhook_rejections.labels(source=self.name, reason=reason).inc()
        return refusal(status)

    def _identify(self, payload: dict[str, Any]) -> tuple[str, str]:
        key, chat = self.identify(payload)
        return key[:MAX_KEY_CHARS], chat

    # What each mode says

    def identify(self, payload: dict[str, Any]) -> tuple[str, str]:
        """The event's key (a repeat is the same event) and the chat whose order it belongs to."""
        raise NotImplementedError

    async def handle_stored(self, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    # Lifecycle

    async def stop_receiving(self) -> None:
        """Stops taking events (polling included) and finishes the ones in hand."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.receipt.stop()

    # Processing

    async def as_button(self, incoming: Incoming) -> Incoming:
        """A text equal to a button this chat was sent becomes that button's press."""
        if incoming.text is None:
            return incoming
        async with self.database.session() as session:
            data = await buttons.resolve(session, self.name, incoming.chat_id, incoming.text)
        if data is None:
            return incoming
        return Incoming(channel=incoming.channel, chat_id=incoming.chat_id, user_id=incoming.user_id,
                        message_id=incoming.message_id, button=data, language=incoming.language,
                        display_name=incoming.display_name, raw=incoming.raw)

    async def run(self, incoming: Incoming) -> str:
        return (await self.turns.run(incoming)).status

    def may_fetch(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and any(host.endswith(suffix) for suffix in MEDIA_HOST_SUFFIXES):
            return True
        return any(url.startswith(base.rstrip("/") + "/") for base in self.fetch_hosts)

    async def download(self, url: str, size_hint: int | None) -> bytes | None:
        """The file's bytes, or None when it is over the limit; ValueError for an address we never fetch."""
        limit = self.settings.max_attachment_bytes
        if not self.may_fetch(url):
            raise ValueError("not a Zalo file address")
        if size_hint is not None and size_hint > limit:
            return None
        assert self.http is not None
        async with self.http.get(url, timeout=DOWNLOAD_TIMEOUT, allow_redirects=False) as response:
            response.raise_for_status()
            if (response.content_length or 0) > limit:
                return None
            data = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                data += chunk
                if len(data) > limit:
                    return None
        return bytes(data)

    async def close_http(self) -> None:
        if self.http is not None:
            with contextlib.suppress(Exception):
                await self.http.close()
            self.http = None
