"""A reply that a platform takes as several messages (split text, buttons, media) is sent part by part.
If a part fails, the outbox retries the whole reply later; the parts already delivered are recorded on
the outbox row as they go (`core.outbox.in_flight`), so that the retry resumes after them instead of
sending them twice, on any node and after a crash too. They are also remembered here for an hour by the
outbox key, for a send outside the outbox or a moment the database refused the record. Each part after
the first waits for the channel's next send slot (`InFlight.pace`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from core.outbox import in_flight
from core.ttlcache import TTLCache

Step = Callable[[], Awaitable[Any]]
PROGRESS_SECONDS = 3600.0


class PartProgress:
    def __init__(self, seconds: float = PROGRESS_SECONDS, max_items: int = 50_000) -> None:
        self._delivered = TTLCache[int](seconds, max_items=max_items)

    async def run(self, key: str, steps: Sequence[Step]) -> None:
        flight = in_flight()
        if flight is not None and flight.message.key != key:
            flight = None
        done = max(self._delivered.get(key) or 0, flight.parts_delivered if flight is not None else 0)
        for number, step in enumerate(steps):
            if number < done:
                continue
            if flight is not None and number > done:
                await flight.pace()  # each part is a platform call of its own against the channel's rate
            await step()
            self._delivered.put(key, number + 1)
            if flight is not None and number + 1 < len(steps):
                # The last part needs no record: the outbox marks the whole reply sent.
                await flight.parts_done(number + 1)
        self._delivered.discard(key)
