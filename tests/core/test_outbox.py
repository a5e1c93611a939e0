"""The outbox against the real database (SQLite, or PostgreSQL when XASO_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from core.config import Settings
from core.db import Database
from core.messages import Button, Reply
from core.models import OutboxMessage, User
from core.outbox import (
    INTERRUPTED,
    PACE_CATCH_UP,
    PACE_HEADROOM,
    Outbox,
    RetryPolicy,
    SendError,
    SharedPace,
    _Slots,
)
from tests.support.fake_channel import RecordingSender

LEASE = 60.0


def bounded(seconds: float) -> Callable[[Callable[..., Coroutine[Any, Any, None]]],
                                        Callable[..., Coroutine[Any, Any, None]]]:
    """Fails a test that runs longer than `seconds` instead of letting it hang."""
    def decorate(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Coroutine[Any, Any, None]]:
        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> None:
            async with asyncio.timeout(seconds):
                await test(*args, **kwargs)
        return run
    return decorate


class FakeClock:
    """Wall clock, monotonic clock and sleep in one: sleeping moves both clocks, instantly."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        self.mono = 1000.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


class FixedRandom(random.Random):
    """Jitter pinned to one point of its range."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def make_outbox(database: Database, clock: FakeClock, policy: RetryPolicy | None = None,
                **options: Any) -> Outbox:
    return Outbox(database, policy or RetryPolicy(max_attempts=5, base_delay=2.0, max_delay=600.0),
                  clock=clock.now, monotonic=clock.monotonic, sleep=clock.sleep,
                  rng=FixedRandom(0.5), lease=LEASE, **options)


async def put(outbox: Outbox, database: Database, key: str, chat_id: str = "c1", channel: str = "fake",
              **options: Any) -> bool:
    async with database.session() as session:
        return await outbox.enqueue(session, channel=channel, chat_id=chat_id, reply=Reply(f"text {key}"),
                                    key=key, **options)


async def row(database: Database, key: str) -> OutboxMessage:
    async with database.session() as session:
        return (await session.execute(select(OutboxMessage).where(OutboxMessage.key == key))).scalar_one()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# Enqueuing


@bounded(10)
async def test_enqueue_in_a_rolled_back_transaction_leaves_nothing(database: Database,
                                                                   clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    with pytest.raises(RuntimeError):
        async with database.session() as session:
            session.add(User(channel="telegram", external_id="42"))
            assert await outbox.enqueue(session, channel="fake", chat_id="42", reply=Reply("hi"), key="k1")
            raise RuntimeError("the state change failed")
    assert await outbox.stats() == {"pending": 0, "sending": 0, "sent": 0, "dead": 0}
    async with database.session() as session:
        assert (await session.execute(select(User))).first() is None


@bounded(10)
async def test_duplicate_key_adds_one_row_and_the_caller_still_commits(database: Database,
                                                                      clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    assert await put(outbox, database, "order-1-paid")
    async with database.session() as session:
        session.add(User(channel="telegram", external_id="42"))
        await session.flush()
        added = await outbox.enqueue(session, channel="fake", chat_id="other", reply=Reply("again"),
                                     key="order-1-paid")
        session.add(User(channel="telegram", external_id="43"))
    assert added is False
    async with database.session() as session:
        users = (await session.execute(select(User.external_id).order_by(User.external_id))).scalars()
        assert list(users) == ["42", "43"]
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    assert len(rows) == 1 and rows[0].chat_id == "c1" and rows[0].payload["text"] == "text order-1-paid"


@bounded(10)
async def test_enqueue_keeps_the_whole_reply_and_rejects_oversized_keys(database: Database,
                                                                        clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    reply = Reply("Chọn:", buttons=(Button("Có", "yes"), Button("Không", "no")), request_phone=True)
    async with database.session() as session:
        await outbox.enqueue(session, channel="fake", chat_id="c1", reply=reply, key="k")
        with pytest.raises(ValueError):
            await outbox.enqueue(session, channel="fake", chat_id="c1", reply=reply, key="k" * 161)
    sender = RecordingSender()
    assert await outbox.drain_once(sender) == 1
    assert sender.delivered[0].reply == reply


# Retries and dead letters


def test_backoff_doubles_up_to_the_cap_with_jitter_inside_its_range() -> None:
    equal = RetryPolicy(max_attempts=8, base_delay=2.0, max_delay=60.0, jitter="equal")
    full = RetryPolicy(max_attempts=8, base_delay=2.0, max_delay=60.0, jitter="full")
    assert [equal.delay(n, FixedRandom(1.0)) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert [equal.delay(n, FixedRandom(0.0)) for n in (1, 2, 10)] == [1, 2, 30]
    assert full.delay(3, FixedRandom(0.0)) == 0 and full.delay(3, FixedRandom(0.25)) == 2
    rng = random.Random(7)
    assert all(16 <= equal.delay(5, rng) <= 32 for _ in range(200))
    assert equal.delay(10_000, rng) <= 60
    settings = Settings(outbox_max_attempts=3, outbox_base_delay=1.5, outbox_max_delay=90)
    assert RetryPolicy.from_settings(settings) == RetryPolicy(3, 1.5, 90.0)


@bounded(10)
async def test_fails_twice_then_sends_once_following_the_backoff(database: Database,
                                                                 clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)  # base 2 s, jitter pinned at 0.75 of the ceiling
    sender = RecordingSender()
    sender.fail(2)
    await put(outbox, database, "k")
    start = clock.now()

    assert await outbox.drain_once(sender) == 0
    first = await row(database, "k")
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "fake failure")
    assert first.next_attempt_at == start + timedelta(seconds=1.5)

    clock.advance(1.4)
    assert await outbox.drain_once(sender) == 0 and len(sender.calls) == 1  # not due yet
    clock.advance(0.1)
    assert await outbox.drain_once(sender) == 0
    second = await row(database, "k")
    assert second.attempts == 2 and second.next_attempt_at == clock.now() + timedelta(seconds=3.0)

    clock.advance(3.0)
    assert await outbox.drain_once(sender) == 1
    done = await row(database, "k")
    assert (done.status, done.attempts, done.sent_at) == ("sent", 2, clock.now())
    assert sender.calls == ["k"] * 3 and sender.keys == ["k"]
    assert await outbox.drain_once(sender) == 0


@bounded(10)
async def test_retry_after_from_the_platform_wins_over_the_backoff(database: Database,
                                                                   clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    sender = RecordingSender()
    sender.fail(retry_after=17.0)
    await put(outbox, database, "k")
    await outbox.drain_once(sender)
    assert (await row(database, "k")).next_attempt_at == clock.now() + timedelta(seconds=17)
    clock.advance(16.9)
    assert await outbox.drain_once(sender) == 0
    clock.advance(0.1)
    assert await outbox.drain_once(sender) == 1


@bounded(10)
async def test_permanent_error_goes_to_dead_letters_at_once(database: Database, clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    sender = RecordingSender()
    sender.fail(error=SendError("Forbidden: bot was blocked by the user", permanent=True))
    await put(outbox, database, "k", chat_id="blocked")
    await put(outbox, database, "other", chat_id="fine")
    assert await outbox.drain_once(sender) == 1
    dead = await outbox.dead_letters()
    assert [(d.key, d.chat_id, d.attempts, d.last_error) for d in dead] == [
        ("k", "blocked", 1, "Forbidden: bot was blocked by the user")]
    assert dead[0].reply == Reply("text k")
    assert await outbox.stats() == {"pending": 0, "sending": 0, "sent": 1, "dead": 1}


@bounded(10)
async def test_max_attempts_ends_in_dead_letters_with_a_short_error(database: Database,
                                                                   clock: FakeClock) -> None:
    outbox = make_outbox(database, clock, RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=5.0))
    sender = RecordingSender()
    sender.fail(5, error=ConnectionError("https://api.telegram.org/bot123:SECRET/sendMessage" * 20))
    await put(outbox, database, "k")
    for _ in range(3):
        await outbox.drain_once(sender)
        clock.advance(10)
    assert await outbox.drain_once(sender) == 0
    dead = await row(database, "k")
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 3, "ConnectionError")
    assert len(sender.calls) == 3


@bounded(10)
async def test_staff_replay_a_dead_letter(database: Database, clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    sender = RecordingSender()
    sender.fail(permanent=True)
    await put(outbox, database, "k", channel="fake")
    await put(outbox, database, "z", channel="zalo")
    await outbox.drain_once(sender)
    (dead,) = await outbox.dead_letters("fake")
    assert await outbox.dead_letters("zalo") == []
    assert await outbox.replay(dead.id)
    assert await outbox.replay(dead.id) is False  # no longer dead
    replayed = await row(database, "k")
    assert (replayed.status, replayed.attempts) == ("pending", 0)
    assert await outbox.drain_once(sender) == 1 and sender.keys == ["k"]
    assert await outbox.replay(dead.id) is False  # sent rows are not replayed


# Restarts and several senders


class HangingSender(RecordingSender):
    """Its sends never end: the process is killed while one is in flight (its task cancelled)."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        self.calls.append(key)
        self.sending.set()
        await asyncio.Event().wait()


async def killed_mid_send(outbox: Outbox) -> list[str]:
    """Drains with a sender that hangs in its first send, then kills the drain: no outcome written."""
    sender = HangingSender()
    drain = asyncio.create_task(outbox.drain_once(sender))
    async with asyncio.timeout(5):
        await sender.sending.wait()
    drain.cancel()
    with pytest.raises(asyncio.CancelledError):
        await drain
    return sender.calls


@bounded(10)
async def test_restart_mid_send_resumes_and_repeats_only_the_message_in_flight(database: Database,
                                                                               clock: FakeClock) -> None:
    first = make_outbox(database, clock)
    for n in range(3):
        await put(first, database, f"k{n}", chat_id=f"c{n}")
    assert await killed_mid_send(first) == ["k0"]  # k1 and k2 were reserved, not started
    assert await first.stats() == {"pending": 0, "sending": 3, "sent": 0, "dead": 0}

    sender = RecordingSender()
    second = make_outbox(database, clock)
    assert await second.drain_once(sender) == 0  # the leases still hold
    clock.advance(LEASE + 1)
    assert await second.drain_once(sender) == 3
    assert sender.calls == ["k0", "k1", "k2"] and sender.repeats == []
    resumed = await row(database, "k0")  # it may have reached the platform: counted, and said so
    assert (resumed.status, resumed.attempts, resumed.last_error) == ("sent", 1, INTERRUPTED)
    untouched = await row(database, "k1")
    assert (untouched.status, untouched.attempts, untouched.last_error) == ("sent", 0, None)


@bounded(10)
async def test_reserved_rows_never_count_an_attempt_however_often_their_sender_dies(
        database: Database, clock: FakeClock) -> None:
    outbox = make_outbox(database, clock, RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=5.0))
    await put(outbox, database, "k")
    for _ in range(5):
        assert len(await outbox.claim("fake", 10)) == 1  # the sender dies before its turn comes
        clock.advance(LEASE + 1)
    sender = RecordingSender()
    assert await outbox.drain_once(sender) == 1
    assert (await row(database, "k")).attempts == 0


@bounded(10)
async def test_a_message_that_keeps_killing_its_sender_ends_dead(database: Database,
                                                                 clock: FakeClock) -> None:
    outbox = make_outbox(database, clock, RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=5.0))
    await put(outbox, database, "poison")
    for _ in range(2):
        assert await killed_mid_send(outbox) == ["poison"]
        clock.advance(LEASE + 1)
    sender = RecordingSender()
    assert await outbox.drain_once(sender) == 0
    assert sender.calls == [] and (await row(database, "poison")).status == "dead"


@bounded(10)
async def test_a_reserved_row_taken_over_is_not_sent_by_its_first_sender(database: Database,
                                                                         clock: FakeClock) -> None:
    slow, rival = make_outbox(database, clock), make_outbox(database, clock)
    await put(slow, database, "k")
    [reserved] = await slow.claim("fake", 10)
    clock.advance(LEASE + 1)  # the reservation ends before its turn comes
    rival_sender = RecordingSender()
    assert await rival.drain_once(rival_sender) == 1
    assert await slow._deliver(RecordingSender(), reserved) is False
    assert rival_sender.keys == ["k"] and (await row(database, "k")).status == "sent"


@bounded(10)
async def test_the_lease_of_a_long_send_is_renewed_so_no_one_takes_it_over(database: Database) -> None:
    # A lease long enough that a renewal (every third of it) is not lost to a busy machine: the send
    # still outlasts it three times over.
    lease = 1.0
    outbox, rival = Outbox(database, lease=lease), Outbox(database, lease=lease)
    await put(outbox, database, "slow")
    sender = RecordingSender(delay=3 * lease)
    sending = asyncio.create_task(outbox.drain_once(sender))
    for _ in range(500):  # until the send has begun
        if sender.calls:
            break
        await asyncio.sleep(0.01)
    taken: list[str] = []
    while not sending.done():
        taken.extend(message.key for message in await rival.claim("fake", 10))
        await asyncio.sleep(lease / 4)
    assert await sending == 1 and taken == [] and sender.calls == ["slow"]
    assert (await row(database, "slow")).status == "sent"


@bounded(20)
async def test_a_database_failure_when_recording_the_outcome_is_retried(
        database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox = make_outbox(database, clock)
    await put(outbox, database, "k")
    fenced = outbox._fenced
    refused: list[str] = []

    async def flaky(message_id: int, lease_until: datetime, **values: Any) -> bool:
        if values.get("status") == "sent" and len(refused) < 2:
            refused.append("sent")
            raise OperationalError("UPDATE", {}, ConnectionError("connection was closed"))
        return await fenced(message_id, lease_until, **values)

    monkeypatch.setattr(outbox, "_fenced", flaky)
    sender = RecordingSender()
    assert await outbox.drain_once(sender) == 1
    assert refused == ["sent", "sent"] and sender.calls == ["k"]
    assert (await row(database, "k")).status == "sent"


class OvertakenSender(RecordingSender):
    """Its first send is so slow that the lease expires and another node sends the row meanwhile."""

    def __init__(self, clock: FakeClock, rival: Callable[[], Awaitable[int]]) -> None:
        super().__init__()
        self._fake_clock = clock
        self._rival = rival

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        if not self.calls:
            self.calls.append(key)
            self._fake_clock.advance(LEASE + 1)
            assert await self._rival() == 1
            raise TimeoutError("too late")
        await super().send(chat_id, reply, key)


@bounded(10)
async def test_a_sender_whose_lease_expired_cannot_overwrite_the_outcome(database: Database,
                                                                         clock: FakeClock) -> None:
    rival, rival_sender = make_outbox(database, clock), RecordingSender()
    slow = make_outbox(database, clock, send_timeout=LEASE - 1)
    await put(slow, database, "k")
    sender = OvertakenSender(clock, lambda: rival.drain_once(rival_sender))
    assert await slow.drain_once(sender) == 0
    done = await row(database, "k")
    assert (done.status, done.attempts) == ("sent", 1)  # not put back to pending by the stale failure
    assert await rival.drain_once(rival_sender) == 0 and rival_sender.keys == ["k"]


@bounded(60)
async def test_two_outboxes_draining_one_table_send_each_message_once(database: Database) -> None:
    other_node = Database(database.url)
    try:
        first, second = Outbox(database, batch=5), Outbox(other_node, batch=5)
        async with database.session() as session:
            for n in range(200):
                await first.enqueue(session, channel="fake", chat_id=f"c{n % 17}", reply=Reply(str(n)),
                                    key=f"m{n}")
        sender = RecordingSender()
        counts = await asyncio.gather(first.flush(sender, 30), second.flush(sender, 30))
    finally:
        await other_node.close()
    assert sum(counts) == 200 and all(counts)  # both nodes took part
    assert sorted(sender.calls) == sorted(f"m{n}" for n in range(200))  # no key was sent twice
    assert sender.repeats == []
    assert await first.stats() == {"pending": 0, "sending": 0, "sent": 200, "dead": 0}


# Order within a chat


@bounded(10)
async def test_a_failed_message_holds_its_chats_later_ones_but_not_other_chats(database: Database,
                                                                               clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    sender = RecordingSender()
    sender.fail(retry_after=5.0)
    await put(outbox, database, "taken", chat_id="a")
    await put(outbox, database, "needs-more", chat_id="a")
    await put(outbox, database, "other", chat_id="b")
    assert await outbox.drain_once(sender) == 1 and sender.keys == ["other"]
    held = await row(database, "needs-more")
    assert (held.status, held.attempts) == ("pending", 0)  # handed back, not counted as a try
    assert await outbox.drain_once(sender) == 0  # still behind "taken", which waits for its retry
    clock.advance(5.0)
    assert await outbox.drain_once(sender) == 2
    assert sender.keys == ["other", "taken", "needs-more"]


@bounded(10)
async def test_a_dead_letter_does_not_hold_its_chat_back(database: Database, clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    sender = RecordingSender()
    sender.fail(permanent=True)
    await put(outbox, database, "refused", chat_id="a")
    await put(outbox, database, "next", chat_id="a")
    await outbox.drain_once(sender)
    await outbox.drain_once(sender)
    assert sender.keys == ["next"] and [d.key for d in await outbox.dead_letters()] == ["refused"]


@bounded(30)
async def test_a_second_sender_leaves_a_chats_later_message_to_the_one_holding_its_earlier(
        database: Database, clock: FakeClock) -> None:
    other_node = Database(database.url)
    try:
        holder, second = make_outbox(database, clock, batch=1), make_outbox(other_node, clock, batch=10)
        await put(holder, database, "taken", chat_id="a")
        await put(holder, database, "needs-more", chat_id="a")
        await put(holder, database, "other", chat_id="b")
        [held] = await holder.claim("fake", 1)
        assert held.key == "taken"
        assert [message.key for message in await second.claim("fake", 10)] == ["other"]
        clock.advance(LEASE + 1)  # the holder died: its reservation ends, and the chat's order holds
        sender = RecordingSender()
        assert await second.drain_once(sender) == 3
    finally:
        await other_node.close()
    assert sender.keys == ["taken", "other", "needs-more"]


@bounded(60)
async def test_concurrent_senders_keep_every_chats_order(database: Database) -> None:
    other_node = Database(database.url)
    try:
        first, second = Outbox(database, batch=3), Outbox(other_node, batch=3)
        async with database.session() as session:
            for n in range(120):
                await first.enqueue(session, channel="fake", chat_id=f"c{n % 7}", reply=Reply(str(n)),
                                    key=f"m{n:03d}")
        sender = RecordingSender(delay=0.001)
        await asyncio.gather(first.flush(sender, 30), second.flush(sender, 30))
    finally:
        await other_node.close()
    for chat in range(7):
        keys = [d.key for d in sender.delivered if d.chat_id == f"c{chat}"]
        assert keys == sorted(keys) and len(keys) == len(range(chat, 120, 7))


# Scheduling and pacing


@bounded(10)
async def test_not_before_holds_a_message_until_its_time(database: Database, clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    sender = RecordingSender()
    await put(outbox, database, "reminder", not_before=clock.now() + timedelta(hours=1))
    await put(outbox, database, "now")
    assert await outbox.drain_once(sender) == 1 and sender.keys == ["now"]
    clock.advance(3599)
    assert await outbox.drain_once(sender) == 0
    clock.advance(1)
    assert await outbox.drain_once(sender) == 1 and sender.keys == ["now", "reminder"]


@bounded(10)
async def test_per_chat_pace_spaces_one_chat_without_holding_back_others(database: Database,
                                                                         clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    sender = RecordingSender(per_chat_rate=1.0, clock=clock.monotonic)
    for n in range(3):
        await put(outbox, database, f"a{n}", chat_id="a")
    await put(outbox, database, "b0", chat_id="b")
    start = clock.monotonic()
    assert await outbox.drain_once(sender) == 4
    times = {d.key: d.at - start for d in sender.delivered if d.at is not None}
    assert sender.keys == ["a0", "b0", "a1", "a2"]
    assert times["a0"] == 0 and times["b0"] == 0
    assert times["a1"] == pytest.approx(1.0) and times["a2"] == pytest.approx(2.0)


@bounded(10)
async def test_global_pace_spaces_the_whole_channel(database: Database, clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    sender = RecordingSender(global_rate=4.0, clock=clock.monotonic)
    for n in range(4):
        await put(outbox, database, f"k{n}", chat_id=f"c{n}")
    start = clock.monotonic()
    assert await outbox.drain_once(sender) == 4
    slot = 1 / (4.0 * PACE_HEADROOM)  # a little under the rate: jitter must not make a second hold 5
    assert [d.at - start for d in sender.delivered if d.at is not None] == pytest.approx(
        [0, slot, 2 * slot, 3 * slot], abs=1e-5)


class OvershootingClock(FakeClock):
    """Every sleep lasts a little longer than asked, as a loaded event loop's do."""

    def __init__(self, overshoot: float) -> None:
        super().__init__()
        self.overshoot = overshoot

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + self.overshoot)


class SlowSender(RecordingSender):
    """Each send takes `took(n)` seconds of the fake clock (n: the send's number)."""

    def __init__(self, clock: FakeClock, took: Callable[[int], float], **options: Any) -> None:
        super().__init__(clock=clock.monotonic, **options)
        self._fake_clock = clock
        self._took = took

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        await super().send(chat_id, reply, key)
        self._fake_clock.advance(self._took(len(self.calls)))


@bounded(10)
async def test_a_late_call_keeps_the_schedule_so_overshooting_sleeps_cost_no_rate(database: Database) -> None:
    clock = OvershootingClock(overshoot=0.002)  # 2 ms late at every slot: within PACE_CATCH_UP
    outbox = make_outbox(database, clock)
    sender = SlowSender(clock, lambda _n: 0.004, global_rate=100.0)
    for n in range(30):
        await put(outbox, database, f"k{n}", chat_id=f"c{n}")
    assert await outbox.drain_once(sender) == 30
    times = [d.at for d in sender.delivered if d.at is not None]
    slot = 1 / (100.0 * PACE_HEADROOM)
    # A bucket refilled from the moment it was found empty would lose each overshoot: 29 × (slot + 2 ms).
    assert times[-1] - times[0] == pytest.approx(29 * slot + 0.002, abs=1e-5)
    assert min(b - a for a, b in itertools.pairwise(times)) >= slot - PACE_CATCH_UP - 1e-9


@bounded(10)
async def test_a_call_later_than_the_catch_up_is_not_made_up_in_a_burst(database: Database,
                                                                        clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    # The fifth send takes 200 ms (a slow platform answer): the slots it missed are gone.
    sender = SlowSender(clock, lambda n: 0.2 if n == 5 else 0.0, global_rate=100.0)
    for n in range(12):
        await put(outbox, database, f"k{n}", chat_id=f"c{n}")
    assert await outbox.drain_once(sender) == 12
    times = [d.at for d in sender.delivered if d.at is not None]
    slot = 1 / (100.0 * PACE_HEADROOM)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[4] == pytest.approx(0.2, abs=1e-6)  # the sixth went as soon as the fifth was done
    assert all(gap >= slot - 1e-6 for gap in gaps)  # and the others kept their distance after it


@bounded(10)
async def test_real_pacing_is_measurable_and_short(database: Database) -> None:
    outbox = Outbox(database)
    sender = RecordingSender(per_chat_rate=20.0, clock=time.monotonic)
    for n in range(3):
        await put(outbox, database, f"k{n}")
    assert await outbox.drain_once(sender) == 3
    first, second, third = (d.at for d in sender.delivered if d.at is not None)
    assert second - first >= 0.045 and third - second >= 0.045


@bounded(10)
async def test_a_pace_that_would_outlast_the_lease_hands_the_rest_back(database: Database,
                                                                       clock: FakeClock) -> None:
    outbox = make_outbox(database, clock)
    sender = RecordingSender(per_chat_rate=0.01)  # one message per 100 s, longer than the lease
    await put(outbox, database, "k0")
    await put(outbox, database, "k1")
    assert await outbox.drain_once(sender) == 1
    handed_back = await row(database, "k1")
    assert (handed_back.status, handed_back.attempts) == ("pending", 0)


# A rate shared by the nodes


async def test_the_rate_is_shared_by_default_on_postgresql_only(database: Database) -> None:
    assert Outbox(database).shared_pace is (not database.is_sqlite)
    assert Outbox(database, shared_pace=True).shared_pace is True


@bounded(10)
async def test_nodes_reserve_consecutive_blocks_and_start_afresh_after_a_pause(database: Database,
                                                                              clock: FakeClock) -> None:
    def wall() -> float:
        return clock.now().timestamp()

    first = SharedPace(database, "fake", wall, clock.monotonic)
    second = SharedPace(database, "fake", wall, clock.monotonic)
    start = clock.monotonic()
    a = await first.reserve(0.1)
    b = await second.reserve(0.1)
    c = await first.reserve(0.05)
    # The first begins about when its answer is back (the fake clock stands still: at once); the
    # others after the blocks already given, whoever asks.
    assert a - start == pytest.approx(0.0, abs=0.003)
    assert (b - a, c - a) == pytest.approx((0.1, 0.2), abs=1e-5)
    clock.advance(0.1)  # the first block is over; the others are still to come
    assert await second.reserve(0.1) - a == pytest.approx(0.25, abs=1e-5)
    clock.advance(5.0)  # nobody sent for a while: the next block starts now, not in the past
    assert await first.reserve(0.1) - clock.monotonic() == pytest.approx(0.0, abs=0.003)


@bounded(10)
async def test_a_block_just_past_is_continued_but_an_old_one_is_not(database: Database,
                                                                    clock: FakeClock) -> None:
    pace = SharedPace(database, "fake", lambda: clock.now().timestamp(), clock.monotonic)
    begin = await pace.reserve(0.1)
    clock.advance(0.1 + PACE_CATCH_UP / 2)  # asked a little after its end: seamless, the node caught up
    assert await pace.reserve(0.1) - begin == pytest.approx(0.1, abs=1e-5)
    clock.advance(0.1 + 3 * PACE_CATCH_UP)  # too late for that: afresh, from now
    assert await pace.reserve(0.1) - clock.monotonic() == pytest.approx(0.0, abs=0.003)


class RecordingShare:
    """A shared pace where every block begins now; the sizes asked are noted. `others`: whether another
    node reserved since (as the real one tells)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.asked: list[float] = []
        self.others = False

    async def reserve(self, seconds: float) -> float:
        self.asked.append(seconds)
        return self.clock.monotonic()


async def test_a_node_holds_as_many_slots_as_it_uses(clock: FakeClock) -> None:
    share = RecordingShare(clock)
    slots = _Slots(100.0, clock.monotonic, cast(SharedPace, share))

    async def call(took: float) -> None:
        clock.advance(await slots.wait_time(upcoming=50))
        slots.take()
        clock.advance(took)

    for _ in range(30):  # a node keeping up with the rate: its blocks double, up to 0.1 s
        await call(0.0)
    sizes = [round(seconds / slots.interval) for seconds in share.asked]
    assert sizes[:5] == [1, 2, 4, 8, 9] and set(sizes[5:]) == {9}
    share.asked.clear()
    for _ in range(12):  # now each call takes three slots' time: it holds one or two slots, not 9
        await call(3 * slots.interval)
    assert max(round(seconds / slots.interval) for seconds in share.asked[2:]) <= 2


async def test_nodes_sharing_the_rate_take_turns_slot_by_slot(clock: FakeClock) -> None:
    share = RecordingShare(clock)
    slots = _Slots(100.0, clock.monotonic, cast(SharedPace, share))

    async def calls(count: int) -> list[int]:
        share.asked.clear()
        for _ in range(count):
            clock.advance(await slots.wait_time(upcoming=50))
            slots.take()
        return [round(seconds / slots.interval) for seconds in share.asked]

    assert await calls(15) == [1, 2, 4, 8]  # alone: blocks double
    share.others = True  # another node reserves between ours: one slot at a time, theirs in between
    assert await calls(14) == [9, 1, 1, 1, 1, 1]
    share.others = False  # alone again: blocks grow again
    assert (await calls(15))[:4] == [1, 2, 4, 8]


class TimelineShare:
    """The shared pace's row in memory: each block begins where the last one ended, or now if that is
    past; `others` as the real one tells it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.next_slot = -math.inf
        self.last: object = None

    def node(self) -> RecordingShare:
        timeline = self

        class Node(RecordingShare):
            async def reserve(self, seconds: float) -> float:
                start = max(timeline.next_slot, self.clock.monotonic())
                self.others = timeline.last not in (None, self)
                timeline.next_slot, timeline.last = start + seconds, self
                return start

        return Node(self.clock)


async def test_two_nodes_never_take_the_same_slot(clock: FakeClock) -> None:
    """Blocks end on sums of the interval: a node's last slot must not be the next node's first by
    rounding (it was, at 100 calls a second: two calls in one slot, now and then)."""
    clock.mono = 4540.354634015  # where CI's run found it: the sums of the interval round down here
    timeline = TimelineShare(clock)
    nodes = [_Slots(100.0, clock.monotonic, cast(SharedPace, timeline.node())) for _ in range(2)]
    taken: list[float] = []
    for _ in range(400):
        waits = [await node.wait_time(upcoming=50) for node in nodes]
        turn = min(range(2), key=lambda n: waits[n])
        clock.advance(waits[turn])
        if await nodes[turn].wait_time(upcoming=50) == 0:
            taken.append(nodes[turn]._next)
            nodes[turn].take()
    gaps = [later - earlier for earlier, later in itertools.pairwise(sorted(taken))]
    assert len(taken) > 300 and min(gaps) >= nodes[0].interval * (1 - 1e-9)


async def test_a_shared_pace_tells_whether_another_node_reserved_in_between(database: Database,
                                                                           clock: FakeClock) -> None:
    def wall() -> float:
        return clock.now().timestamp()

    first = SharedPace(database, "fake", wall, clock.monotonic)
    second = SharedPace(database, "fake", wall, clock.monotonic)
    await first.reserve(0.05)
    assert not first.others  # afresh
    await first.reserve(0.05)
    assert not first.others  # right after its own
    await second.reserve(0.05)
    assert second.others  # after the first's
    await first.reserve(0.05)
    assert first.others  # after the second's


@bounded(30)
async def test_two_nodes_sharing_a_rate_send_no_faster_together_than_one(database: Database) -> None:
    other_node = Database(database.url)
    rate, count = 100.0, 60
    try:
        first = Outbox(database, batch=10, shared_pace=True)
        second = Outbox(other_node, batch=10, shared_pace=True)
        async with database.session() as session:
            for n in range(count):
                await first.enqueue(session, channel="fake", chat_id=f"c{n}", reply=Reply(str(n)),
                                    key=f"m{n}")
        sender = RecordingSender(global_rate=rate, clock=time.monotonic)
        counts = await asyncio.gather(first.flush(sender, 20), second.flush(sender, 20))
    finally:
        await other_node.close()
    assert sum(counts) == count and all(counts)  # both nodes took part
    assert sender.repeats == []
    times = sorted(d.at for d in sender.delivered if d.at is not None)
    slot = 1 / (rate * PACE_HEADROOM)
    # Every call at its own slot or a little after: alone, each node would have taken half as long.
    # A call reaches the platform a few milliseconds after its slot (the row taken in flight first, on
    # a busy machine longer): the headroom's ~30 ms a second is there for that jitter.
    jitter = 1 - PACE_HEADROOM
    assert times[-1] - times[0] >= (count - 1) * slot - PACE_CATCH_UP - jitter


# The loop


@bounded(10)
async def test_run_survives_a_raising_sender_and_stops_promptly(database: Database) -> None:
    outbox = Outbox(database, RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.05))
    sender = RecordingSender()
    sender.fail(3, error=RuntimeError("boom"))
    async with database.session() as session:
        await outbox.enqueue(session, channel="fake", chat_id="c", reply=Reply("hi"), key="k")
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(sender, stop, idle=0.01))
    await asyncio.wait_for(sender.wait_delivered(1), 3.0)
    assert sender.keys == ["k"]
    assert len(sender.calls) == 4 and (await row(database, "k")).attempts == 3
    stopped_at = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 1.0)
    assert time.monotonic() - stopped_at < 0.5


@bounded(10)
async def test_run_survives_a_database_error_and_backs_off(database: Database,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    outbox = Outbox(database)
    claim = outbox.claim
    failures: list[str] = []

    async def flaky_claim(channel: str, limit: int) -> list[Any]:
        if not failures:
            failures.append(channel)
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return await claim(channel, limit)

    monkeypatch.setattr(outbox, "claim", flaky_claim)
    await put(outbox, database, "k")
    sender, stop = RecordingSender(), asyncio.Event()
    task = asyncio.create_task(outbox.run(sender, stop, idle=0.01))
    await asyncio.wait_for(sender.wait_delivered(1), 3.0)
    assert sender.keys == ["k"]
    stop.set()
    await asyncio.wait_for(task, 1.0)
    assert failures == ["fake"]


@bounded(10)
async def test_stop_finishes_the_send_in_flight_and_hands_back_the_rest(database: Database) -> None:
    outbox = Outbox(database)
    stop = asyncio.Event()

    class StoppingSender(RecordingSender):
        async def send(self, chat_id: str, reply: Reply, key: str) -> None:
            stop.set()  # the shutdown signal arrives while this message is in flight
            await asyncio.sleep(0.01)
            await super().send(chat_id, reply, key)

    for n in range(3):
        await put(outbox, database, f"k{n}", chat_id=f"c{n}")
    sender = StoppingSender()
    await asyncio.wait_for(outbox.run(sender, stop, idle=5.0), 1.0)
    assert sender.keys == ["k0"]
    assert await outbox.stats() == {"pending": 2, "sending": 0, "sent": 1, "dead": 0}
    assert await outbox.flush(sender, timeout=2.0) == 2  # what a graceful shutdown still sends


@bounded(10)
async def test_wake_sends_a_new_message_without_waiting_for_idle(database: Database) -> None:
    outbox = Outbox(database)
    sender, stop = RecordingSender(), asyncio.Event()
    task = asyncio.create_task(outbox.run(sender, stop, idle=30.0))
    await asyncio.sleep(0.05)  # the loop has found nothing and idles
    await put(outbox, database, "k")
    await outbox.wake("fake")
    await asyncio.wait_for(sender.wait_delivered(1), 2.0)
    assert sender.keys == ["k"]
    stop.set()
    await asyncio.wait_for(task, 1.0)  # the stop event also cuts the idle wait short


async def test_a_scheduled_message_waits_for_its_time_and_can_be_withdrawn(database: Database,
                                                                            clock: FakeClock) -> None:
    outbox = Outbox(database, clock=clock.now)
    later = clock.now() + timedelta(hours=20)
    async with database.session() as session:
        assert await outbox.enqueue(session, channel="console", chat_id="c1", reply=Reply("mai khám"),
                                    key="reminder:1", not_before=later)
        assert await outbox.enqueue(session, channel="console", chat_id="c1", reply=Reply("mai tiêm"),
                                    key="reminder:2", not_before=later)
    assert await outbox.claim("console", 10) == []
    async with database.session() as session:
        assert await outbox.cancel(session, "reminder:2")
        assert not await outbox.cancel(session, "reminder:2")  # nothing left under that key
    clock.advance(20 * 3600)
    assert [message.key for message in await outbox.claim("console", 10)] == ["reminder:1"]
    async with database.session() as session:
        assert not await outbox.cancel(session, "reminder:1")  # taken by a sender: not withdrawn
