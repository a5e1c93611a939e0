"""A reply that a platform takes as several messages (split text, buttons, media) is sent part by part.
If a part fails, the outbox retries the whole reply later; the parts already delivered are remembered
for an hour by the outbox key, so the retry resumes after them instead of sending them twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from core.ttlcache import TTLCache

Step = Callable[[], Awaitable[Any]]
PROGRESS_SECONDS = 3600.0


class PartProgress:
    def __init__(self, seconds: float = PROGRESS_SECONDS, max_items: int = 50_000) -> None:
        self._delivered = TTLCache[int](seconds, max_items=max_items)

    async def run(self, key: str, steps: Sequence[Step]) -> None:
        done = self._delivered.get(key) or 0
        for number, step in enumerate(steps):
            if number < done:
                continue
            await step()
            self._delivered.put(key, number + 1)
        self._delivered.discard(key)
