"""A channel sender that records what it is given and can be told to fail."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.messages import Reply
from core.outbox import SendError


@dataclass(frozen=True, slots=True)
class Delivery:
    chat_id: str
    reply: Reply
    key: str
    at: float | None  # the sender's clock at delivery, when it was given one


class RecordingSender:
    """`calls` holds every key it was asked to send (repeats and failures included); `delivered`
    holds what a user would see: a repeated key is dropped, as the real channels do."""

    def __init__(self, name: str = "fake", *, per_chat_rate: float = math.inf,
                 global_rate: float = math.inf, clock: Callable[[], float] | None = None,
                 delay: float = 0.0) -> None:
        self.name = name
        self.per_chat_rate = per_chat_rate
        self.global_rate = global_rate
        self.calls: list[str] = []
        self.delivered: list[Delivery] = []
        self.repeats: list[str] = []
        self._seen: set[str] = set()
        self._clock = clock
        self._delay = delay
        self._failures: deque[Exception] = deque()
        self._changed = asyncio.Condition()

    def fail(self, times: int = 1, *, retry_after: float | None = None, permanent: bool = False,
             error: Exception | None = None) -> None:
        """The next `times` sends raise `error`, or a SendError built from the other arguments."""
        for _ in range(times):
            self._failures.append(error or SendError("fake failure", retry_after=retry_after,
                                                     permanent=permanent))

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        self.calls.append(key)
        if self._delay:
            await asyncio.sleep(self._delay)
        if self._failures:
            raise self._failures.popleft()
        if key in self._seen:
            self.repeats.append(key)
            return
        self._seen.add(key)
        at = self._clock() if self._clock else None
        self.delivered.append(Delivery(chat_id, reply, key, at))
        async with self._changed:
            self._changed.notify_all()

    async def wait_delivered(self, count: int) -> None:
        """Returns once `count` messages have been delivered (bound it with asyncio.timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.delivered) >= count)

    @property
    def keys(self) -> list[str]:
        return [delivery.key for delivery in self.delivered]
