"""Drains a durable inbox: a few workers, one chat per worker at a time, each chat in arrival order.

The dispatcher leases a batch of due rows, groups them by chat and hands each group to a worker (at most
`workers` at once, `XASO_INBOX_WORKERS`). A worker handles its rows in order and marks each done; on a
failure the row backs off and the rest of its chat is handed back, so nothing of that chat overtakes it.
Whoever holds rows (the dispatcher while a group waits for a worker, then the worker) renews their lease
every third of it, so leases stay short and a row cut off by a crash is retaken by another node within
`XASO_LEASE_SECONDS`. On stop, workers finish the event in hand and hand back the rest.

`Receipt` is what a channel holds: the inbox, its processor, their lifecycle, and (for platforms that
must never see a 5xx) a short in-memory backlog for the rare moment the database refuses a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bots.channels.inbox import DurableInbox, Leased

log = logging.getLogger(__name__)
Handle = Callable[[dict[str, Any]], Awaitable[None]]
STOP_TIMEOUT = 10.0  # for the workers to finish the event in hand
BACKLOG_LIMIT = 1000
BACKLOG_RETRY_SECONDS = 2.0
MAX_PAUSE = 10.0  # the longest back-off of the claiming loop after database errors


class InboxProcessor:
    def __init__(self, inbox: DurableInbox, handle: Handle, *, workers: int = 4, batch: int = 100,
                 idle: float = 1.0, keep: timedelta = timedelta(days=3), purge_every: float = 3600.0,
                 name: str = "inbox") -> None:
        if workers < 1 or batch < 1:
            raise ValueError("the inbox processor needs at least one worker and a positive batch")
        self.inbox = inbox
        self._handle = handle
        self._slots = asyncio.Semaphore(workers)
        self.batch = batch
        self.idle = idle
        self.keep = keep
        self.purge_every = purge_every
        self.name = name
        self._renew_every = inbox.lease / 3
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
        """Until `stop()`; then waits for the workers, which finish the event in hand."""
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    await self._purge_now_and_then()
                    claimed = await self._dispatch_once()
                    failures = 0
                except Exception as error:
                    failures += 1
                    if failures == 1:
                        log.exception("%s inbox: claiming failed", self.name)
                    else:
                        log.warning("%s inbox: claiming failed (%d in a row): %s", self.name, failures,
                                    type(error).__name__)
                    await self._pause(min(MAX_PAUSE, self.idle * 2.0 ** min(failures, 16)))
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
            if not await self._free_slot():
                # Still waiting for a worker: keep the rows.
                pending = [group for group in await self._renew(pending) if group]
                continue
            if self._stop.is_set():
                self._slots.release()
                await self.inbox.release([item for group in pending for item in group])
                break
            task = asyncio.create_task(self._work(pending.pop(0)), name=f"{self.name}-inbox-worker")
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        return len(leased)

    async def _free_slot(self) -> bool:
        """Takes a worker slot; False when none came free before the leases need renewing."""
        try:
            async with asyncio.timeout(self._renew_every):
                await self._slots.acquire()
        except TimeoutError:
            return False
        return True

    async def _work(self, rows: list[Leased]) -> None:
        try:
            while rows:
                if self._stop.is_set():
                    await self.inbox.release(rows)
                    return
                row = rows[0]
                handling = asyncio.ensure_future(self._handle(row.payload))
                try:
                    while not handling.done():
                        await asyncio.wait({handling}, timeout=self._renew_every)
                        if not handling.done():
                            rows = (await self._renew([rows]))[0]
                except BaseException:
                    handling.cancel()
                    raise
                if not rows or rows[0].id != row.id:
                    # Held too long without a renewal (a stalled process): another worker has it now.
                    log.warning("%s: event %d was taken over while in hand", self.name, row.update_id)
                    return
                row = rows[0]
                try:
                    handling.result()
                except Exception:
                    log.exception("%s: event %d could not be processed", self.name, row.update_id)
                    if await self.inbox.failed(row):
                        log.error("%s: event %d given up", self.name, row.update_id)
                    await self.inbox.release(rows[1:])
                    return
                await self.inbox.done(row)
                rows = rows[1:]
        except Exception:
            log.exception("%s inbox: recording an outcome failed (the lease will expire)", self.name)
        finally:
            self._slots.release()
            self._wake.set()  # this chat's later events may be due now

    async def _renew(self, groups: list[list[Leased]]) -> list[list[Leased]]:
        """Renews the leases of the chats' rows in hand; of each chat keeps the rows up to the first one
        lost (any later one still held is handed back, so that nothing overtakes the lost one)."""
        try:
            renewed = await self.inbox.renew([item for group in groups for item in group])
        except Exception as error:
            log.warning("%s inbox: leases not renewed (%s)", self.name, type(error).__name__)
            return groups
        held = {item.id: item for item in renewed}
        kept: list[list[Leased]] = []
        for group in groups:
            prefix: list[Leased] = []
            for item in group:
                if item.id not in held:
                    break
                prefix.append(held[item.id])
            if len(prefix) < len(group):
                log.warning("%s inbox: lease lost on %d event(s) of a chat", self.name,
                            len(group) - len(prefix))
                later = [held[item.id] for item in group[len(prefix):] if item.id in held]
                with contextlib.suppress(Exception):
                    await self.inbox.release(later)
            kept.append(prefix)
        return kept

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
            log.info("%s inbox: %d old event(s) purged", self.name, purged)


class Receipt:
    """A channel's durable receipt: `store` before the 200, `start` the processing (stored events of an
    earlier run are taken up at once), `stop` it at shutdown.

    With `backlog` on, an event the database refuses is kept in memory (up to `BACKLOG_LIMIT`) and stored
    on retry, so the webhook can still answer 200 (Zalo); off, `store` raises and the webhook answers 500
    so that the platform retries (Telegram)."""

    def __init__(self, name: str, inbox: DurableInbox, handle: Handle, *, workers: int,
                 keep: timedelta, backlog: bool = False) -> None:
        self.name = name
        self.inbox = inbox
        self.processor = InboxProcessor(inbox, handle, workers=workers, keep=keep, name=name)
        self._backlog: deque[dict[str, Any]] | None = (
            deque(maxlen=BACKLOG_LIMIT) if backlog else None)
        self._processing: asyncio.Task[None] | None = None
        self._retrying: asyncio.Task[None] | None = None

    async def store(self, payload: dict[str, Any]) -> None:
        """Stores an event (a repeated key changes nothing) and wakes the processor."""
        self.inbox.identify(payload)  # an event without a key is refused here, never kept in the backlog
        try:
            await self.inbox.accept(payload)
        except Exception:
            if self._backlog is None:
                raise
            log.exception("%s: event could not be stored; kept in memory for a retry", self.name)
            self._backlog.append(payload)
        self.processor.wake()

    def start(self) -> None:
        self._processing = asyncio.create_task(self.processor.run(), name=f"{self.name}-inbox")
        if self._backlog is not None:
            self._retrying = asyncio.create_task(self._retry_backlog(), name=f"{self.name}-backlog")

    async def stop(self) -> None:
        """Finishes the events in hand (for up to `STOP_TIMEOUT`); the rest wait in the table."""
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)
            self._retrying = None
        if self._processing is None:
            return
        self.processor.stop()
        try:
            await asyncio.wait_for(self._processing, STOP_TIMEOUT)
        except TimeoutError:
            log.warning("%s: events still in hand at shutdown; retaken when their lease expires", self.name)
        except Exception:
            log.exception("%s: the inbox processor failed", self.name)
        self._processing = None

    async def _retry_backlog(self) -> None:
        assert self._backlog is not None
        while True:
            await asyncio.sleep(BACKLOG_RETRY_SECONDS)
            while self._backlog:
                try:
                    await self.inbox.accept(self._backlog[0])
                except Exception:
                    break
                self._backlog.popleft()
                self.processor.wake()
