"""Drains the Telegram inbox: a few workers, one chat per worker at a time, each chat in update_id order.

The dispatcher leases a batch of due rows, groups them by chat and hands each group to a worker (at most
`workers` at once). A worker handles its rows in order and marks each done; on a failure the row backs
off and the rest of its chat is handed back, so nothing of that chat overtakes it. On stop, workers
finish the update in hand and hand back the rest; a row cut off by a crash is retaken when its lease
expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bots.telegram.inbox import Leased, TelegramInbox

log = logging.getLogger(__name__)
Handle = Callable[[dict[str, Any]], Awaitable[None]]


class InboxProcessor:
    def __init__(self, inbox: TelegramInbox, handle: Handle, *, workers: int = 4, batch: int = 100,
                 idle: float = 1.0, keep: timedelta = timedelta(days=3), purge_every: float = 3600.0) -> None:
        if workers < 1 or batch < 1:
            raise ValueError("the inbox processor needs at least one worker and a positive batch")
        self.inbox = inbox
        self._handle = handle
        self._slots = asyncio.Semaphore(workers)
        self.batch = batch
        self.idle = idle
        self.keep = keep
        self.purge_every = purge_every
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._workers: set[asyncio.Task[None]] = set()
        self._next_purge = 0.0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        """Until `stop()`; then waits for the workers, which finish the update in hand."""
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    await self._purge_now_and_then()
                    claimed = await self._dispatch_once()
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("telegram inbox: claiming failed (%d in a row)", failures)
                    await self._pause(min(60.0, self.idle * 2.0 ** min(failures, 16)))
                    continue
                if claimed < self.batch:
                    await self._pause(self.idle)
        finally:
            if self._workers:
                await asyncio.gather(*self._workers, return_exceptions=True)

    async def _dispatch_once(self) -> int:
        leased = await self.inbox.claim(self.batch)
        groups: dict[str, list[Leased]] = {}
        for item in leased:
            groups.setdefault(item.chat_key, []).append(item)
        pending = list(groups.values())
        while pending:
            await self._slots.acquire()
            if self._stop.is_set():
                self._slots.release()
                await self.inbox.release([item for group in pending for item in group])
                break
            task = asyncio.create_task(self._work(pending.pop(0)), name="telegram-inbox-worker")
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        return len(leased)

    async def _work(self, rows: list[Leased]) -> None:
        try:
            for index, row in enumerate(rows):
                if self._stop.is_set():
                    await self.inbox.release(rows[index:])
                    return
                try:
                    await self._handle(row.payload)
                except Exception:
                    log.exception("telegram: update %d could not be processed", row.update_id)
                    if await self.inbox.failed(row):
                        log.error("telegram: update %d given up", row.update_id)
                    await self.inbox.release(rows[index + 1:])
                    return
                await self.inbox.done(row)
        except Exception:
            log.exception("telegram inbox: recording an outcome failed (the lease will expire)")
        finally:
            self._slots.release()
            self._wake.set()  # this chat's later updates may be due now

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _purge_now_and_then(self) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + self.purge_every
        purged = await self.inbox.purge(self.keep)
        if purged:
            log.info("telegram inbox: %d old update(s) purged", purged)
