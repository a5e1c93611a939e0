"""What both Zalo modes share on the input side: the durable inbox and its processor, a short in-memory
backlog for the rare moment the database refuses a write (Zalo must never see a 5xx, or it may turn the
webhook off), downloads under the upload limits, and handing each event to the pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bots.assistant import PUSHED_REPLY_PREFIXES, Assistant
from bots.telegram.processor import InboxProcessor
from bots.zalo import buttons
from bots.zalo.inbox import ZaloInbox
from core.messages import Incoming, Reply

log = logging.getLogger(__name__)
BACKLOG_LIMIT = 1000
STOP_TIMEOUT = 10.0
# Zalo's own file hosts; an attachment anywhere else is never fetched.
MEDIA_HOST_SUFFIXES = (".zdn.vn", ".zadn.vn", ".zalo.me", ".zaloapp.com", ".zaloplatforms.com")
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=30)


class ZaloReceiver:
    channel: str

    def __init__(self, assistant: Assistant, fetch_hosts: tuple[str, ...] = ()) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self.inbox = ZaloInbox(assistant.database, self.channel)
        # At least the 24 h de-duplication window.
        keep = timedelta(days=max(1.0, self.settings.telegram_inbox_keep_days))
        self.processor = InboxProcessor(self.inbox, self.handle_stored,  # type: ignore[arg-type]
                                        workers=self.settings.telegram_inbox_workers, keep=keep)
        self.fetch_hosts = fetch_hosts
        self.http: aiohttp.ClientSession | None = None
        self._backlog: deque[tuple[str, str, dict[str, Any]]] = deque(maxlen=BACKLOG_LIMIT)
        self._tasks: list[asyncio.Task[None]] = []
        self._processing: asyncio.Task[None] | None = None

    # Lifecycle

    def start_processing(self) -> None:
        self._processing = asyncio.create_task(self.processor.run(), name=f"{self.channel}-inbox")
        self._tasks.append(asyncio.create_task(self._retry_backlog(), name=f"{self.channel}-backlog"))

    async def stop_receiving(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._processing is not None:
            self.processor.stop()
            try:
                await asyncio.wait_for(self._processing, STOP_TIMEOUT)
            except TimeoutError:
                log.warning("%s: events still in hand at shutdown; retaken when their lease expires",
                            self.channel)
            except Exception:
                log.exception("%s: the inbox processor failed", self.channel)
            self._processing = None

    # Receipt

    async def store(self, event_key: str, chat_key: str, payload: dict[str, Any]) -> None:
        """Stores an event; if the database refuses, keeps it in memory and retries (Zalo gets its 200)."""
        try:
            await self.inbox.accept(event_key, chat_key, payload)
        except Exception:
            log.exception("%s: event could not be stored; kept in memory for a retry", self.channel)
            self._backlog.append((event_key, chat_key, payload))
        self.processor.wake()

    async def _retry_backlog(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            while self._backlog:
                key, chat, payload = self._backlog[0]
                try:
                    await self.inbox.accept(key, chat, payload)
                except Exception:
                    break
                self._backlog.popleft()
                self.processor.wake()

    # Processing

    async def handle_stored(self, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    async def as_button(self, incoming: Incoming) -> Incoming:
        """A text equal to a button this chat was sent becomes that button's press."""
        if incoming.text is None:
            return incoming
        async with self.assistant.database.session() as session:
            data = await buttons.resolve(session, self.channel, incoming.chat_id, incoming.text)
        if data is None:
            return incoming
        return Incoming(channel=incoming.channel, chat_id=incoming.chat_id, user_id=incoming.user_id,
                        message_id=incoming.message_id, button=data, language=incoming.language,
                        display_name=incoming.display_name, raw=incoming.raw)

    async def run(self, incoming: Incoming) -> str:
        outcome = await self.assistant.handle(incoming)
        if outcome.status == "error":
            # A failed turn rolled back, replies included: its apology goes out on its own.
            await self.push(incoming, outcome.replies, "e")
        await self.assistant.services.outbox.wake(self.channel)
        return outcome.status

    async def push(self, incoming: Incoming, replies: tuple[Reply, ...], tag: str) -> None:
        prefix = PUSHED_REPLY_PREFIXES[self.channel]
        async with self.assistant.database.session() as session:
            for number, reply in enumerate(replies):
                await self.assistant.services.outbox.enqueue(
                    session, channel=self.channel, chat_id=incoming.chat_id, reply=reply,
                    key=f"{prefix}:{incoming.message_id}:{tag}{number}")

    async def refuse_too_large(self, incoming: Incoming) -> None:
        text = self.assistant.services.catalogue.t("upload.too_large", "vi")
        await self.push(incoming, (Reply(text),), "big")
        await self.assistant.services.outbox.wake(self.channel)

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
