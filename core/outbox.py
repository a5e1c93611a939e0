"""The outbox: replies and notifications wait in a table until a channel sender delivers them.

Nothing committed is lost, and only what was in flight when a node died may arrive twice:

- a sender reserves a batch of due rows (`sending`, `sent_at` empty, `next_attempt_at` = the end of the
  reservation, `lease` seconds away) so that chats can be paced round-robin; a row it has not started
  yet goes back to the others when the reservation ends, with no attempt counted;
- right before sending one row it takes that row alone in flight (`sent_at` = when the try began, a
  lease of its own renewed every third of `lease` while the send lasts), sends it, and records the
  outcome, each write fenced by the lease so that a sender that lost its lease changes nothing;
- a reply the platform takes as several messages (text, then a voice note) records each part as it is
  delivered (`PARTS` in the payload, through `in_flight()`), so that a retry, on any node, resumes
  after the parts already delivered.

A node killed mid-send thus leaves one row in flight per channel sender (`IN_FLIGHT_PER_SENDER`), and
of that row only the part being sent may have reached the platform: once its lease runs out another
node sends that part again, counted as an interrupted attempt. The platforms we send to have no
idempotency key, so that one part is the window; the row's unique key still goes with every send so
that a channel able to (the web chat's inbox) drops a repeat.

Pacing: a bucket per chat, and for the whole channel evenly spaced send slots, one per platform call
(each part of a multi-part reply takes its own, `InFlight.pace`), at `PACE_HEADROOM` of the channel's
rate since the platform counts calls in a sliding second and they reach it with some jitter. On
PostgreSQL the slots are the nodes' together (`SharedPace`): a platform's limit is per bot, not per node,
so any number of nodes sharing a token stays within one rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, cast

from sqlalchemy import and_, case, delete, func, or_, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import Insert

from core.config import Settings
from core.crypto import FieldCipher
from core.db import Database, upsert
from core.messages import Reply
from core.models import OutboxMessage, OutboxPace, utcnow
from core.questions import remember_push
from core.ratelimit import KeyedLimiter

logger = logging.getLogger(__name__)

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"
STATUSES = (PENDING, SENDING, SENT, DEAD)
SEALED = "sealed"

MAX_ERROR_CHARS = 200
INTERRUPTED = "interrupted: lease expired"
# A sender sends one message at a time, one platform call of it at a time: what a node killed mid-send
# may leave half-done, per channel it sends on.
IN_FLIGHT_PER_SENDER = 1
DEFAULT_LEASE = 10.0  # seconds; XASO_LEASE_SECONDS
PARTS = "parts_delivered"  # payload key: parts of a multi-part reply already delivered
MAX_PAUSE = 10.0  # the longest back-off of the drain loop after database errors
# Column sizes of OutboxMessage, checked before inserting so that SQLite (which ignores them)
# and PostgreSQL (which would abort the caller's transaction) behave alike.
MAX_KEY_CHARS = 160
MAX_CHANNEL_CHARS = 16
MAX_CHAT_ID_CHARS = 128
# A paced channel aims at this share of its rate: the platform counts calls in a sliding second and they
# reach it a few milliseconds apart from when they were meant to, so at the full rate a second would now
# and then hold one call too many (a 429). 3 % leaves about 30 ms for that jitter.
PACE_HEADROOM = 0.97
# How late after its slot a call still uses it (the schedule is kept: a sleep that overshoots, or a send
# that took a little long, costs nothing); a call later than that starts the schedule again from now.
PACE_CATCH_UP = 0.010
# Nodes sharing a rate reserve blocks of slots covering about this long (a database write each).
SHARED_BLOCK_SECONDS = 0.1


class SendError(Exception):
    """A send failure the channel understood. Any other exception from a sender counts as transient."""

    def __init__(self, reason: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent


class ChannelSender(Protocol):
    """The output side of a channel. Rates are messages per second; `math.inf` means unpaced."""

    name: str
    per_chat_rate: float
    global_rate: float

    async def send(self, chat_id: str, reply: Reply, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 2.0
    max_delay: float = 600.0
    jitter: Literal["full", "equal"] = "equal"

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay <= 0 or self.max_delay < self.base_delay:
            raise ValueError("retry policy needs max_attempts >= 1 and 0 < base_delay <= max_delay")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.outbox_max_attempts, settings.outbox_base_delay, settings.outbox_max_delay)

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds to wait after the `attempts`-th failure: capped exponential back-off with jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(max(attempts - 1, 0), 64))
        if self.jitter == "full":
            return ceiling * rng.random()
        return ceiling / 2 + ceiling / 2 * rng.random()


@dataclass(frozen=True, slots=True)
class Claimed:
    """A reserved row: ours to start sending until `lease_until`."""

    id: int
    key: str
    channel: str
    chat_id: str
    user_id: int | None
    reply: Reply
    attempts: int
    lease_until: datetime
    parts_delivered: int = 0
    last_error: str | None = None
    payload: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


_IN_FLIGHT: contextvars.ContextVar[InFlight | None] = contextvars.ContextVar("outbox_in_flight",
                                                                              default=None)


def in_flight() -> InFlight | None:
    """The outbox message the calling sender is sending now (None outside an outbox send)."""
    return _IN_FLIGHT.get()


class InFlight:
    """One message being sent: its own lease, renewed while the send lasts, and the parts of it the
    platform already has. Every write is fenced by the lease and serialised by `lock`."""

    def __init__(self, outbox: Outbox, message: Claimed, lease_until: datetime,
                 pacer: _Pacer | None = None) -> None:
        self.outbox = outbox
        self.message = message
        self.lease_until = lease_until
        self.parts_delivered = message.parts_delivered
        self.lost = False
        self.lock = asyncio.Lock()
        self._pacer = pacer

    @property
    def id(self) -> int:
        return self.message.id

    async def renew(self) -> None:
        """Extends the lease; a database error is logged and the send goes on (the outcome's own write
        tells whether the lease held)."""
        async with self.lock:
            if self.lost:
                return
            until = self.outbox._clock() + timedelta(seconds=self.outbox.lease)
            try:
                held = await self.outbox._fenced(self.id, self.lease_until, next_attempt_at=until)
            except Exception as error:
                logger.warning("outbox: lease on message %d not renewed (%s)", self.id, type(error).__name__)
                return
            if held:
                self.lease_until = until
            else:
                self.lost = True
                logger.warning("outbox: lease on message %d lost while sending", self.id)

    async def pace(self) -> None:
        """Waits for the channel's next send slot before another platform call of this message (the
        outbox waited for its first): a reply the platform takes as several messages counts as several
        against the channel's rate. Parts of one message are not spaced by the per-chat pace."""
        if self._pacer is not None:
            await self._pacer.next_part()

    async def parts_done(self, count: int) -> None:
        """Records that the first `count` parts were delivered. Best effort: a database error is logged,
        and the parts are remembered in the sender's memory too."""
        async with self.lock:
            if self.lost or count <= self.parts_delivered:
                return
            payload = {**self.message.payload, PARTS: count}
            try:
                # Not waiting for PostgreSQL's disk flush (as `_begin`): a node that dies leaves it
                # recorded; only a crash of PostgreSQL itself could lose it, and then at most this
                # message's part in flight goes again, the repeat allowed anyway (the outcome flushes it).
                if await self.outbox._fenced(self.id, self.lease_until, flush=False, payload=payload):
                    self.parts_delivered = count
            except Exception as error:
                logger.warning("outbox: parts of message %d not recorded (%s)", self.id, type(error).__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    key: str
    channel: str
    chat_id: str
    user_id: int | None
    reply: Reply
    attempts: int
    last_error: str | None
    created_at: datetime


class SharedPace:
    """A channel's send time shared by the nodes on one database: each reserves blocks of it from one
    row (`outbox_pace`), whose `next_slot` is the end of the last block reserved, in seconds since the
    epoch on the nodes' clocks (kept in step by NTP, as the leases need). A block begins where the last
    one ended, or now if that is past; an idle node reserves nothing, so a lone busy node gets the whole
    rate and two busy nodes get about half each. Slots a node reserved and did not use (it died, or its
    batch ended early) are lost for that moment, never given twice."""

    def __init__(self, database: Database, channel: str, wall: Callable[[], float],
                 monotonic: Callable[[], float]) -> None:
        self.database = database
        self.channel = channel
        self._wall = wall
        self._monotonic = monotonic
        self._round_trip = 0.0  # seconds a reservation takes, smoothed: blocks start once it is back
        self._last_end = math.nan  # where this node's last block ended (epoch seconds)
        self.others = False  # whether the last block came after another node's

    async def reserve(self, seconds: float) -> float:
        """Reserves the next `seconds` of the channel's send time; where they begin, on this process's
        monotonic clock (possibly later than now, after other nodes' blocks)."""
        offset = self._wall_minus_monotonic()
        asked = self._monotonic()
        wall = asked + offset
        fresh = wall + self._round_trip  # about when the answer is back
        # Right after the last block (even a little late: `PACE_CATCH_UP`), or afresh once it is back.
        start = case((OutboxPace.next_slot >= fresh - PACE_CATCH_UP, OutboxPace.next_slot), else_=fresh)
        insert = upsert(self.database.engine.dialect.name)
        statement = (insert(OutboxPace).values(channel=self.channel, next_slot=fresh + seconds)
                     .on_conflict_do_update(index_elements=[OutboxPace.channel],
                                            set_={"next_slot": start + seconds})
                     .returning(OutboxPace.next_slot))
        async with self.database.session() as session:
            if not self.database.is_sqlite:
                # Pacing, not data: a reservation lost in a crash of PostgreSQL itself only lets a few
                # slots be given twice, for a moment.
                await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            end = float((await session.execute(statement)).scalar_one())
        took = self._monotonic() - asked
        self._round_trip = max(0.0, 0.8 * self._round_trip + 0.2 * took)
        # Neither afresh nor right after our own last block: another node holds slots now.
        self.others = not any(math.isclose(end, begin + seconds, rel_tol=0.0, abs_tol=1e-6)
                              for begin in (fresh, self._last_end))
        self._last_end = end
        return end - seconds - offset

    def _wall_minus_monotonic(self) -> float:
        """The wall clock's lead over the monotonic one, read between two monotonic readings (the
        tightest of three tries): a process paused between two plain readings on a busy machine would
        shift every slot of the block by the pause, and a slot early is a call too many."""
        best_width, best_offset = math.inf, 0.0
        for _ in range(3):
            before = self._monotonic()
            wall = self._wall()
            after = self._monotonic()
            if after - before < best_width:
                best_width, best_offset = after - before, wall - (before + after) / 2
            if best_width < 1e-4:
                break
        return best_offset


class _Slots:
    """A channel's global pace: evenly spaced send slots, one per platform call, at `PACE_HEADROOM` of
    the rate. A call takes the next slot once its time has come, or up to `PACE_CATCH_UP` after it;
    slots missed by more are skipped, never made up in a burst. Alone (SQLite, one process) the
    schedule is this process's; with `share`, the slots come in blocks reserved from the database.

    A block is as many slots as this node used of its last one, twice as many when it used them all
    (up to `SHARED_BLOCK_SECONDS`, and to the calls it expects), and one slot at a time while other
    nodes reserve too: a node's block is sent at the full rate, which a node alone can keep up with,
    while nodes sharing the rate take turns slot by slot, each at its share of the rate, so that their
    speeds add up (a slow platform, a busy machine) rather than each having to reach the whole rate."""

    def __init__(self, rate: float, monotonic: Callable[[], float], share: SharedPace | None = None) -> None:
        self.interval = 1.0 / (rate * PACE_HEADROOM)
        self._monotonic = monotonic
        self._share = share
        self._most = max(1, int(rate * PACE_HEADROOM * SHARED_BLOCK_SECONDS))
        self._size = 1  # slots to reserve next time
        self._reserved = self._used = 0  # of the block held
        self._crowded = False  # other nodes reserved between our blocks
        self._next = -math.inf  # the next slot, monotonic
        self._end = -math.inf if share is not None else math.inf  # the end of the block held

    async def wait_time(self, upcoming: int = 1) -> float:
        """Seconds until the next slot (0 when it is now); `upcoming`: the calls expected soon, the size
        of a block to reserve if one is needed."""
        now = self._monotonic()
        if self._next < now - PACE_CATCH_UP:
            # Idle, or too late. Alone, the schedule starts again now; sharing, the slots missed are
            # skipped, since the blocks around ours are fixed on the nodes' common timeline.
            self._next = now if self._share is None or math.isinf(self._next) else self._skip(now)
        # A slot is in the block if it starts half a slot or more before its end: `_next` grows by adding
        # `interval`, and the rounding could otherwise leave the slot just past the block, the next
        # node's first, looking like this node's last.
        while self._next > self._end - self.interval / 2:
            assert self._share is not None
            if self._reserved and not self._crowded:
                used_all = self._used >= self._reserved
                self._size = min(self._most, 2 * self._size if used_all else max(1, self._used))
            count = min(self._size, max(1, upcoming))
            self._next = await self._share.reserve(count * self.interval)
            self._end = self._next + count * self.interval
            self._reserved, self._used = count, 0
            self._crowded = self._share.others
            if self._crowded:
                self._size = 1
            now = self._monotonic()
            if self._next < now - PACE_CATCH_UP:  # the answer came later than expected
                self._next = self._skip(now)
        return max(0.0, self._next - now)

    def _skip(self, now: float) -> float:
        """The first slot after `_next` that is at most `PACE_CATCH_UP` old."""
        missed = math.ceil((now - PACE_CATCH_UP - self._next) / self.interval)
        return self._next + missed * self.interval

    def take(self) -> None:
        """Uses the slot `wait_time` found due (call it right after, with no await between)."""
        self._next += self.interval
        self._used += 1


class _Pacer:
    """One channel's outbound pace: a bucket per chat, and the channel's send slots.

    A sender may also have `chat_rate(chat_id) -> float` when chats differ (Telegram paces groups
    slower than private chats); `per_chat_rate` is then only its default."""

    def __init__(self, sender: ChannelSender, monotonic: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]], share: SharedPace | None = None) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._rate_of: Callable[[str], float] = getattr(sender, "chat_rate", lambda _: sender.per_chat_rate)
        self._per_chat: dict[float, KeyedLimiter] = {}
        self._overall = (_Slots(sender.global_rate, monotonic, share)
                         if _paced(sender.global_rate) else None)
        self.upcoming = 1  # messages of the batch still to send: how many slots to reserve at once

    @property
    def shared(self) -> bool:
        return self._overall is not None and self._overall._share is not None

    def _chat_limiter(self, chat_id: str) -> KeyedLimiter | None:
        rate = self._rate_of(chat_id)
        if not _paced(rate):
            return None
        if rate not in self._per_chat:
            self._per_chat[rate] = KeyedLimiter(rate, 1.0, clock=self._monotonic)
        return self._per_chat[rate]

    async def wait_time(self, chat_id: str) -> float:
        limiter = self._chat_limiter(chat_id)
        chat = limiter.wait_time(chat_id) if limiter else 0.0
        overall = await self._overall.wait_time(self.upcoming) if self._overall else 0.0
        return max(chat, overall)

    def take(self, chat_id: str) -> None:
        limiter = self._chat_limiter(chat_id)
        if limiter:
            limiter.allow(chat_id)
        if self._overall:
            self._overall.take()

    async def claim(self, chat_id: str) -> None:
        """Takes the chat's and the channel's slot found due, once the row is in flight: the call goes
        out right after, so a slot is spent at the platform call and not a database write earlier (a
        slot the write made late by more than `PACE_CATCH_UP` is skipped for the next one)."""
        while (wait := await self.wait_time(chat_id)) > 0:
            await self._sleep(wait)
        self.take(chat_id)

    async def next_part(self) -> None:
        """Waits for, and takes, the channel's next slot (another part of a message under way)."""
        if self._overall is None:
            return
        while (wait := await self._overall.wait_time(self.upcoming)) > 0:
            await self._sleep(wait)
        self._overall.take()


_CLAIM_TURN = text("SELECT pg_advisory_xact_lock(hashtext(:channel))")


def _paced(rate: float) -> bool:
    if rate <= 0 or math.isnan(rate):
        raise ValueError(f"a send rate must be positive (math.inf for none), got {rate}")
    return not math.isinf(rate)


def _round_robin(batch: Sequence[Claimed]) -> list[Claimed]:
    """One message per chat at a time, each chat's own order kept, so a busy chat waiting for its
    pace does not hold back the others."""
    queues: dict[str, list[Claimed]] = {}
    for message in batch:
        queues.setdefault(message.chat_id, []).append(message)
    rounds = itertools.zip_longest(*queues.values())
    return [message for round_ in rounds for message in round_ if message is not None]


def _parts_of(payload: dict[str, Any]) -> int:
    parts = payload.get(PARTS, 0)
    return parts if isinstance(parts, int) and parts > 0 else 0


def _check_sizes(channel: str, chat_id: str, key: str) -> None:
    if not 0 < len(key) <= MAX_KEY_CHARS:
        raise ValueError(f"outbox key must be 1 to {MAX_KEY_CHARS} characters")
    if not 0 < len(channel) <= MAX_CHANNEL_CHARS or not 0 < len(chat_id) <= MAX_CHAT_ID_CHARS:
        raise ValueError("outbox channel or chat id empty or too long")


def _insert_unless_key_exists(dialect: str, values: dict[str, Any]) -> Insert:
    # ON CONFLICT DO NOTHING, unlike catching IntegrityError, leaves the caller's transaction usable.
    statement: Insert = upsert(dialect)(OutboxMessage).values(values).on_conflict_do_nothing(
        index_elements=[OutboxMessage.key])
    return statement


class Outbox:
    def __init__(
        self,
        database: Database,
        policy: RetryPolicy | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        lease: float = DEFAULT_LEASE,
        send_timeout: float = 20.0,
        batch: int = 50,
        cipher: FieldCipher | None = None,
        shared_pace: bool | None = None,
    ) -> None:
        if send_timeout <= 0 or lease <= 0:
            raise ValueError("send_timeout and lease must be positive")
        self.database = database
        self.policy = policy or RetryPolicy()
        self.lease = lease
        self.send_timeout = send_timeout
        self.batch = batch
        # Messages may carry a doctor's answer or a dossier decision: sealed at rest when a cipher is given.
        self._cipher = cipher
        self._clock = clock
        self._rng = rng or random.Random()
        # Pacing runs on a monotonic clock: a wall-clock jump backwards must not stall the buckets.
        self._monotonic = monotonic
        self._sleep = sleep
        self._pacers: dict[str, _Pacer] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        # The channels' global rates are the nodes' together (`SharedPace`): by default on PostgreSQL,
        # where several nodes may share a bot; SQLite is one node's.
        self.shared_pace = not database.is_sqlite if shared_pace is None else shared_pace

    # Producing

    async def enqueue(self, session: AsyncSession, *, channel: str, chat_id: str, reply: Reply, key: str,
                      user_id: int | None = None, not_before: datetime | None = None,
                      asks: bool = True) -> bool:
        """Adds a message in the caller's transaction; False (and nothing changed) if `key` exists.

        A notice with buttons sent now to a user is the question they may answer by typing
        (core/questions.py); `asks=False` for answers the dialogue records itself and for broadcasts."""
        _check_sizes(channel, chat_id, key)
        now = self._clock()
        values: dict[str, Any] = {
            "key": key, "channel": channel, "chat_id": chat_id, "user_id": user_id,
            "payload": self._seal(reply, key), "status": PENDING, "attempts": 0,
            "next_attempt_at": not_before or now, "created_at": now,
        }
        statement = _insert_unless_key_exists(session.get_bind().dialect.name, values)
        added = await session.execute(statement.returning(OutboxMessage.id))
        if added.scalar_one_or_none() is None:
            return False
        if asks and user_id is not None and not_before is None and reply.buttons:
            await remember_push(session, user_id, reply.buttons, now)
        return True

    async def cancel(self, session: AsyncSession, key: str) -> bool:
        """Withdraws, in the caller's transaction, a message no sender has taken yet (a scheduled
        reminder whose appointment was cancelled); False when there is none pending under `key`."""
        result = cast(CursorResult[Any], await session.execute(
            delete(OutboxMessage).where(OutboxMessage.key == key, OutboxMessage.status == PENDING)))
        return bool(result.rowcount)

    async def wake(self, channel: str) -> None:
        """Nudges this process's sender for `channel` (call it after the enqueuing commit)."""
        self._wake_event(channel).set()

    # Consuming

    async def claim(self, channel: str, limit: int) -> list[Claimed]:
        """Reserves up to `limit` due rows, oldest first. A row a dead process had reserved is due again
        once its reservation ends; one it had in flight once its lease ends, and that interrupted try
        counts as an attempt (its part in flight may have reached the platform)."""
        now = self._clock()
        lease_until = now + timedelta(seconds=self.lease)
        # A chat's messages go out in the order they were written: a chat waits while one of its rows
        # is held by another sender or waits for its retry (not for one scheduled later). Those are
        # few, so they are found once for the claim rather than looked up for every due row (a
        # correlated lookup cost 2 ms per message claimed). A held row is never due itself, and no
        # later row of its chat can have gone before it, so the chat's due rows all come after it.
        held = aliased(OutboxMessage)
        held_chats = select(held.chat_id).where(
            held.channel == channel, held.status.in_((PENDING, SENDING)), held.next_attempt_at > now,
            or_(held.status == SENDING, held.attempts > 0))
        due = (select(OutboxMessage.id)
               .where(OutboxMessage.channel == channel,
                      OutboxMessage.status.in_((PENDING, SENDING)),
                      OutboxMessage.next_attempt_at <= now,
                      OutboxMessage.chat_id.not_in(held_chats))
               .order_by(OutboxMessage.id)
               .limit(limit)
               # PostgreSQL: rows a webhook's turn holds are left for the next claim; SQLite
               # compiles this away, and its single UPDATE statement is atomic anyway.
               .with_for_update(skip_locked=True))
        # In flight when its sender stopped: `sent_at` holds when that try began.
        interrupted = and_(OutboxMessage.status == SENDING, OutboxMessage.sent_at.is_not(None))
        statement = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due))
            .values(status=SENDING, next_attempt_at=lease_until, sent_at=None,
                    attempts=OutboxMessage.attempts + case((interrupted, 1), else_=0),
                    last_error=case((interrupted, INTERRUPTED), else_=OutboxMessage.last_error))
            .returning(OutboxMessage.id, OutboxMessage.key, OutboxMessage.chat_id, OutboxMessage.user_id,
                       OutboxMessage.payload, OutboxMessage.attempts, OutboxMessage.last_error)
            .execution_options(synchronize_session=False)
        )
        async with self.database.session() as session:
            if not self.database.is_sqlite:
                # Claims of one channel take turns, so that none sees an earlier row of a chat as due
                # while another claim is taking it (SKIP LOCKED would let it take the later one).
                await session.execute(_CLAIM_TURN, {"channel": f"outbox:{channel}"})
            rows = (await session.execute(statement)).all()
        claimed = [Claimed(row.id, row.key, channel, row.chat_id, row.user_id,
                           self.reply_of(row.payload, row.key), row.attempts, lease_until,
                           _parts_of(row.payload), row.last_error, row.payload) for row in rows]
        return sorted(claimed, key=lambda message: message.id)

    async def drain_once(self, sender: ChannelSender, stop: asyncio.Event | None = None) -> int:
        """Claims one batch and sends it; returns how many were sent."""
        _claimed, sent = await self._drain(sender, stop)
        return sent

    # A graceful deadline, not asyncio.timeout: cancelling would abandon the send in flight.
    async def flush(self, sender: ChannelSender, timeout: float) -> int:  # noqa: ASYNC109
        """Sends what is due now, for about `timeout` seconds at most (plus the send in flight)."""
        expired = asyncio.Event()
        timer = asyncio.get_running_loop().call_later(timeout, expired.set)
        sent = 0
        try:
            while not expired.is_set():
                claimed, done = await self._drain(sender, expired)
                sent += done
                if claimed == 0:
                    break
        finally:
            timer.cancel()
        return sent

    async def run(self, sender: ChannelSender, stop: asyncio.Event, idle: float = 0.5) -> None:
        """Drains `sender`'s channel until `stop` is set; the message in flight is finished first."""
        failures = 0
        while not stop.is_set():
            try:
                claimed, _sent = await self._drain(sender, stop)
            except Exception as error:
                failures += 1
                if failures == 1:
                    logger.exception("outbox %s: drain failed", sender.name)
                else:
                    logger.warning("outbox %s: drain failed (%d in a row): %s", sender.name, failures,
                                   type(error).__name__)
                await self._pause(sender.name, stop, min(MAX_PAUSE, idle * 2.0 ** min(failures, 16)))
                continue
            failures = 0
            if claimed < self.batch:
                await self._pause(sender.name, stop, idle)

    # Staff and monitoring

    def _seal(self, reply: Reply, key: str) -> dict[str, Any]:
        if self._cipher is None:
            return reply.to_json()
        plain = json.dumps(reply.to_json(), ensure_ascii=False)
        return {SEALED: self._cipher.encrypt(plain, f"outbox:{key}")}

    def reply_of(self, payload: dict[str, Any], key: str) -> Reply:
        """The message of a stored row, sealed or not."""
        if SEALED not in payload:
            return Reply.from_json(payload)
        if self._cipher is None:
            raise ValueError("a sealed outbox message needs the cipher to be read")
        return Reply.from_json(json.loads(self._cipher.decrypt(payload[SEALED], f"outbox:{key}")))

    async def dead_letters(self, channel: str | None = None, limit: int = 100,
                           session: AsyncSession | None = None) -> list[DeadLetter]:
        """The dead messages, oldest first; in the caller's `session` when given (a chat turn)."""
        query = select(OutboxMessage).where(OutboxMessage.status == DEAD)
        if channel is not None:
            query = query.where(OutboxMessage.channel == channel)
        query = query.order_by(OutboxMessage.id).limit(limit)
        if session is not None:
            rows = (await session.execute(query)).scalars().all()
        else:
            async with self.database.session() as own:
                rows = (await own.execute(query)).scalars().all()
        return [DeadLetter(row.id, row.key, row.channel, row.chat_id, row.user_id,
                           self.reply_of(row.payload, row.key), row.attempts, row.last_error, row.created_at)
                for row in rows]

    async def replay(self, message_id: int, session: AsyncSession | None = None) -> bool:
        """Puts a dead message back in line with a fresh set of attempts; in the caller's `session`
        (and transaction) when given, else in one of its own."""
        statement = (update(OutboxMessage)
                     .where(OutboxMessage.id == message_id, OutboxMessage.status == DEAD)
                     .values(status=PENDING, attempts=0, next_attempt_at=self._clock())
                     .returning(OutboxMessage.id)
                     .execution_options(synchronize_session=False))
        if session is not None:
            return (await session.execute(statement)).scalar_one_or_none() is not None
        async with self.database.session() as own:
            return (await own.execute(statement)).scalar_one_or_none() is not None

    async def stats(self) -> dict[str, int]:
        query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        async with self.database.session() as session:
            counts = {status: count for status, count in (await session.execute(query)).all()}
        return {status: counts.get(status, 0) for status in STATUSES}

    # Inside

    async def _drain(self, sender: ChannelSender, stop: asyncio.Event | None) -> tuple[int, int]:
        batch = _round_robin(await self.claim(sender.name, self.batch))
        pacer = self._pacer(sender)
        sent = 0
        # Chats whose message did not go out: their later messages of the batch wait for it.
        stalled: set[str] = set()
        held_back: list[Claimed] = []
        try:
            for index, message in enumerate(batch):
                if message.chat_id in stalled:
                    held_back.append(message)
                    continue
                outcome = await self._drain_one(sender, pacer, batch, index, stop)
                if outcome is None:
                    break
                if outcome == "sent":
                    sent += 1
                elif outcome == "unsent":
                    stalled.add(message.chat_id)
        finally:
            with contextlib.suppress(Exception):
                await self._release(held_back)
        return len(batch), sent

    async def _drain_one(self, sender: ChannelSender, pacer: _Pacer, batch: Sequence[Claimed], index: int,
                         stop: asyncio.Event | None) -> Literal["sent", "unsent", "dead"] | None:
        """Sends the batch's `index`th message; None when the rest of the batch was handed back."""
        message = batch[index]
        if message.attempts >= self.policy.max_attempts:
            logger.warning("outbox: message %d dead after %d interrupted attempt(s)", message.id,
                           message.attempts)
            await self._fenced(message.id, message.lease_until, status=DEAD, last_error=INTERRUPTED)
            return "dead"  # a dead letter does not hold its chat's later messages back
        pacer.upcoming = len(batch) - index
        try:
            turn = (stop is None or not stop.is_set()) and await self._wait_turn(pacer, message)
        except Exception:
            # The shared pace's database failed: what was not started goes back at once.
            with contextlib.suppress(Exception):
                await self._release(batch[index:])
            raise
        if not turn:
            await self._release(batch[index:])
            return None
        return "sent" if await self._deliver(sender, message, pacer) else "unsent"

    async def _wait_turn(self, pacer: _Pacer, message: Claimed) -> bool:
        """Waits for the chat's and the channel's turn; False when it would come after the reservation
        ends (the rest of the batch is then handed back)."""
        while True:
            wait = await pacer.wait_time(message.chat_id)
            if self._clock() + timedelta(seconds=wait) > message.lease_until:
                return False
            if wait <= 0:
                return True  # taken by `_deliver`, once the row is in flight
            await self._sleep(wait)

    async def _deliver(self, sender: ChannelSender, message: Claimed, pacer: _Pacer | None = None) -> bool:
        flight = await self._begin(message, pacer)
        if flight is None:
            logger.info("outbox: message %d was taken over before its turn came", message.id)
            return False
        if pacer is not None:
            await pacer.claim(message.chat_id)
        if message.last_error == INTERRUPTED:
            logger.warning("outbox: message %d (%s) was in flight on a sender that stopped; sending it "
                           "again from part %d, which may arrive twice", message.id, message.key,
                           message.parts_delivered + 1)
        token = _IN_FLIGHT.set(flight)
        try:
            send = asyncio.ensure_future(self._send(sender, message))
        finally:
            _IN_FLIGHT.reset(token)
        try:
            while not send.done():
                await asyncio.wait({send}, timeout=self.lease / 3)
                if not send.done():
                    await flight.renew()
        except BaseException:
            send.cancel()
            raise
        try:
            send.result()
        except SendError as error:
            await self._failed(flight, error.reason, error.retry_after, error.permanent)
            return False
        except Exception as error:
            # Only the type: messages of HTTP errors can carry URLs, and Telegram's hold the bot token.
            await self._failed(flight, type(error).__name__, None, False)
            return False
        await self._settle(flight, status=SENT, sent_at=self._clock())
        return True

    async def _send(self, sender: ChannelSender, message: Claimed) -> None:
        async with asyncio.timeout(self.send_timeout):
            await sender.send(message.chat_id, message.reply, message.key)

    async def _begin(self, message: Claimed, pacer: _Pacer | None = None) -> InFlight | None:
        """Takes one reserved row in flight, with a lease of its own; None when the reservation was lost
        (it ended and another sender took the row)."""
        now = self._clock()
        until = now + timedelta(seconds=self.lease)
        statement = (update(OutboxMessage)
                     .where(OutboxMessage.id == message.id, OutboxMessage.status == SENDING,
                            OutboxMessage.sent_at.is_(None),
                            OutboxMessage.next_attempt_at == message.lease_until)
                     .values(sent_at=now, next_attempt_at=until)
                     .returning(OutboxMessage.id)
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            if not self.database.is_sqlite:
                # Not worth a disk flush: only a crash of PostgreSQL itself could lose this write, and
                # the row would then be sent again as a reserved one, the repeat the lease allows anyway.
                await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            if (await session.execute(statement)).scalar_one_or_none() is None:
                return None
        return InFlight(self, message, until, pacer)

    async def _failed(self, flight: InFlight, reason: str, retry_after: float | None,
                      permanent: bool) -> None:
        attempts = flight.message.attempts + 1
        reason = reason[:MAX_ERROR_CHARS]
        if permanent or attempts >= self.policy.max_attempts:
            logger.warning("outbox: message %d dead after %d attempt(s): %s", flight.id, attempts, reason)
            await self._settle(flight, status=DEAD, attempts=attempts, last_error=reason, sent_at=None)
            return
        delay = max(0.0, retry_after) if retry_after is not None else self.policy.delay(attempts, self._rng)
        logger.info("outbox: message %d failed (%s), attempt %d, retry in %.1f s",
                    flight.id, reason, attempts, delay)
        await self._settle(flight, status=PENDING, attempts=attempts, last_error=reason, sent_at=None,
                           next_attempt_at=self._clock() + timedelta(seconds=delay))

    async def _settle(self, flight: InFlight, **values: Any) -> None:
        """Writes the outcome of a send. The send happened: a database that fails now (a restart, a
        network blip) is retried for a while, since a row left in flight would be sent again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(30.0, 3 * self.lease)
        delay = 0.2
        async with flight.lock:
            while True:
                try:
                    held = await self._fenced(flight.id, flight.lease_until, **values)
                    break
                except Exception as error:
                    if loop.time() + delay > deadline:
                        raise
                    logger.warning("outbox: outcome of message %d not recorded yet (%s), retrying",
                                   flight.id, type(error).__name__)
                    await asyncio.sleep(delay)
                    delay = min(2.0, delay * 2)
        if not held:
            logger.warning("outbox: lease on message %d lost, outcome %s dropped", flight.id,
                           values.get("status"))

    async def _fenced(self, message_id: int, lease_until: datetime, *, flush: bool = True,
                      **values: Any) -> bool:
        """Writes `values` to a row this sender holds (reserved or in flight) until `lease_until`; False
        when the lease was lost (it ended and another sender took the row), and nothing changed.
        `flush=False`: PostgreSQL need not wait for the disk (only its own crash could lose the write)."""
        statement = (update(OutboxMessage)
                     .where(OutboxMessage.id == message_id, OutboxMessage.status == SENDING,
                            OutboxMessage.next_attempt_at == lease_until)
                     .values(**values)
                     .returning(OutboxMessage.id)
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            if not flush and not self.database.is_sqlite:
                await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            return (await session.execute(statement)).scalar_one_or_none() is not None

    async def _release(self, messages: Sequence[Claimed]) -> None:
        """Hands reserved rows not started back, due at once, without counting an attempt."""
        if not messages:
            return
        statement = (update(OutboxMessage)
                     .where(OutboxMessage.id.in_([message.id for message in messages]),
                            OutboxMessage.status == SENDING, OutboxMessage.sent_at.is_(None),
                            OutboxMessage.next_attempt_at == messages[0].lease_until)
                     .values(status=PENDING, next_attempt_at=self._clock())
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            await session.execute(statement)

    def _pacer(self, sender: ChannelSender) -> _Pacer:
        if sender.name not in self._pacers:
            share = (SharedPace(self.database, sender.name, self._wall, self._monotonic)
                     if self.shared_pace else None)
            self._pacers[sender.name] = _Pacer(sender, self._monotonic, self._sleep, share)
        return self._pacers[sender.name]

    def _wall(self) -> float:
        return self._clock().timestamp()

    def _wake_event(self, channel: str) -> asyncio.Event:
        return self._wakes.setdefault(channel, asyncio.Event())

    async def _pause(self, channel: str, stop: asyncio.Event, seconds: float) -> None:
        """Sleeps up to `seconds`, cut short by `stop` or by `wake(channel)`."""
        wake = self._wake_event(channel)
        waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())}
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        wake.clear()
