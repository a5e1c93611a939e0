"""Token buckets: inbound flood control per user/chat, and outbound pacing per platform."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    capacity: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self, now: float, amount: float = 1.0) -> bool:
        self._refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def wait_time(self, now: float, amount: float = 1.0) -> float:
        """Seconds until `amount` tokens are there (0 when they already are)."""
        self._refill(now)
        return max(0.0, (amount - self.tokens) / self.rate)


class KeyedLimiter:
    """One bucket per key (user, chat), bounded in memory: the least recently used keys are dropped,
    which only ever forgives a flooder, never blocks an innocent user."""

    def __init__(self, rate: float, capacity: float, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = capacity
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.capacity, self.capacity, self.clock())
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    def allow(self, key: str) -> bool:
        return self._bucket(key).take(self.clock())

    def wait_time(self, key: str) -> float:
        return self._bucket(key).wait_time(self.clock())
