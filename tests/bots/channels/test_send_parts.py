"""A reply sent as several platform messages: a retry, on another node after a crash too, resumes after
the parts already delivered (recorded on the outbox row as they go)."""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import pytest

from bots.channels.send_parts import PartProgress, Step
from core.db import Database
from core.messages import Reply
from core.outbox import PACE_CATCH_UP, PACE_HEADROOM, PARTS, Outbox, RetryPolicy


class PartSender:
    """Sends a reply as three parts; `hang_at` (a part number) never returns, as if the node died."""

    name = "fake"
    per_chat_rate = math.inf
    global_rate = math.inf

    def __init__(self, delivered: list[str], hang_at: int | None = None) -> None:
        self.delivered = delivered
        self.hang_at = hang_at
        self.hanging = asyncio.Event()
        self.progress = PartProgress()  # one per node: a new node starts with an empty memory

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        await self.progress.run(key, [self._part(key, number) for number in range(3)])

    def _part(self, key: str, number: int) -> Step:
        async def step() -> None:
            if number == self.hang_at:
                self.hanging.set()
                await asyncio.Event().wait()
            self.delivered.append(f"{key}/{number}")
        return step


async def test_a_retry_on_another_node_resumes_after_the_parts_delivered(database: Database) -> None:
    lease = 0.3
    first, second = Outbox(database, lease=lease), Outbox(database, lease=lease)
    async with database.session() as session:
        await first.enqueue(session, channel="fake", chat_id="c", reply=Reply("hi", audio_url="x"), key="k")
    delivered: list[str] = []
    hanging = PartSender(delivered, hang_at=1)
    drain = asyncio.create_task(first.drain_once(hanging))
    async with asyncio.timeout(5):
        await hanging.hanging.wait()
    assert delivered == ["k/0"]
    drain.cancel()  # killed while sending the second part
    with pytest.raises(asyncio.CancelledError):
        await drain
    await asyncio.sleep(lease + 0.1)  # its lease runs out
    resumed = PartSender(delivered)
    taken = await second.drain_once(resumed)
    for _ in range(20):  # a busy machine may have run the first node's last renewal late
        if taken:
            break
        await asyncio.sleep(lease / 2)
        taken = await second.drain_once(resumed)
    assert taken == 1
    assert delivered == ["k/0", "k/1", "k/2"]  # the first part was not sent again
    assert await second.stats() == {"pending": 0, "sending": 0, "sent": 1, "dead": 0}


async def test_a_failed_part_is_retried_alone_even_by_another_node(database: Database) -> None:
    outbox = Outbox(database, RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02))
    async with database.session() as session:
        await outbox.enqueue(session, channel="fake", chat_id="c", reply=Reply("hi"), key="k")
    delivered: list[str] = []

    class FailingAtTheLastPart(PartSender):
        def _part(self, key: str, number: int) -> Step:
            inner = super()._part(key, number)

            async def step() -> None:
                if number == 2:
                    raise ConnectionError("network")
                await inner()
            return step

    assert await outbox.drain_once(FailingAtTheLastPart(delivered)) == 0
    await asyncio.sleep(0.05)
    [claimed] = await outbox.claim("fake", 1)
    assert claimed.parts_delivered == 2 and claimed.payload[PARTS] == 2 and claimed.attempts == 1
    await outbox._release([claimed])
    assert await Outbox(database).drain_once(PartSender(delivered)) == 1
    assert delivered == ["k/0", "k/1", "k/2"]


class TimedPartSender(PartSender):
    """Three parts, each noted with when it went out; paced by the channel's global rate."""

    def __init__(self, delivered: list[str], rate: float) -> None:
        super().__init__(delivered)
        self.global_rate = rate
        self.times: list[float] = []

    def _part(self, key: str, number: int) -> Step:
        inner = super()._part(key, number)

        async def step() -> None:
            self.times.append(time.monotonic())
            await inner()
        return step


async def test_each_part_takes_a_slot_of_the_channel_rate(database: Database) -> None:
    outbox = Outbox(database)
    for n in range(2):
        async with database.session() as session:
            await outbox.enqueue(session, channel="fake", chat_id=f"c{n}", reply=Reply("hi", audio_url="x"),
                                 key=f"k{n}")
    sender = TimedPartSender([], rate=20.0)
    assert await outbox.drain_once(sender) == 2
    assert sender.delivered == ["k0/0", "k0/1", "k0/2", "k1/0", "k1/1", "k1/2"]
    slot = 1 / (20.0 * PACE_HEADROOM)
    # Six platform calls, each at its own slot or a little after: a part never rides on its message's
    # turn. (A message's first part goes a database write after its slot, the others right at theirs.)
    gaps = [b - a for a, b in itertools.pairwise(sender.times)]
    assert all(gap >= slot - PACE_CATCH_UP - 0.02 for gap in gaps)
    assert all(gaps[n] >= slot - PACE_CATCH_UP for n in (1, 4))  # part 2 after part 3, of each
    assert sender.times[-1] - sender.times[0] >= 5 * slot - PACE_CATCH_UP - 0.02
