"""The outbox: replies and notifications wait in a table until a channel sender delivers them.

Delivery is at-least-once. A sender leases a batch of due rows, sends them one by one at the pace the
platform allows, and records each outcome. A process killed mid-send leaves its lease behind; once the
lease expires another sender (or the same one after a restart) claims the row again. The row's unique
key goes with every send so that a channel can drop a repeat.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, cast

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from core.config import Settings
from core.crypto import FieldCipher
from core.db import Database
from core.messages import Reply
from core.models import OutboxMessage, utcnow
from core.questions import remember_push
from core.ratelimit import KeyedLimiter, TokenBucket

logger = logging.getLogger(__name__)

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"
STATUSES = (PENDING, SENDING, SENT, DEAD)
SEALED = "sealed"

MAX_ERROR_CHARS = 200
INTERRUPTED = "interrupted: lease expired"
# Column sizes of OutboxMessage, checked before inserting so that SQLite (which ignores them)
# and PostgreSQL (which would abort the caller's transaction) behave alike.
MAX_KEY_CHARS = 160
MAX_CHANNEL_CHARS = 16
MAX_CHAT_ID_CHARS = 128


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
    """A leased row: ours to send until `lease_until`."""

    id: int
    key: str
    channel: str
    chat_id: str
    user_id: int | None
    reply: Reply
    attempts: int
    lease_until: datetime


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


class _Pacer:
    """One channel's outbound pace: a bucket per chat and one for the whole channel, no bursts.

    A sender may also have `chat_rate(chat_id) -> float` when chats differ (Telegram paces groups
    slower than private chats); `per_chat_rate` is then only its default."""

    def __init__(self, sender: ChannelSender, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._rate_of: Callable[[str], float] = getattr(sender, "chat_rate", lambda _: sender.per_chat_rate)
        self._per_chat: dict[float, KeyedLimiter] = {}
        self._overall = (TokenBucket(sender.global_rate, 1.0, 1.0, monotonic())
                         if _paced(sender.global_rate) else None)

    def _chat_limiter(self, chat_id: str) -> KeyedLimiter | None:
        rate = self._rate_of(chat_id)
        if not _paced(rate):
            return None
        if rate not in self._per_chat:
            self._per_chat[rate] = KeyedLimiter(rate, 1.0, clock=self._monotonic)
        return self._per_chat[rate]

    def wait_time(self, chat_id: str) -> float:
        limiter = self._chat_limiter(chat_id)
        chat = limiter.wait_time(chat_id) if limiter else 0.0
        overall = self._overall.wait_time(self._monotonic()) if self._overall else 0.0
        return max(chat, overall)

    def take(self, chat_id: str) -> None:
        limiter = self._chat_limiter(chat_id)
        if limiter:
            limiter.allow(chat_id)
        if self._overall:
            self._overall.take(self._monotonic())


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


def _check_sizes(channel: str, chat_id: str, key: str) -> None:
    if not 0 < len(key) <= MAX_KEY_CHARS:
        raise ValueError(f"outbox key must be 1 to {MAX_KEY_CHARS} characters")
    if not 0 < len(channel) <= MAX_CHANNEL_CHARS or not 0 < len(chat_id) <= MAX_CHAT_ID_CHARS:
        raise ValueError("outbox channel or chat id empty or too long")


def _insert_unless_key_exists(dialect: str, values: dict[str, Any]) -> Insert:
    # ON CONFLICT DO NOTHING, unlike catching IntegrityError, leaves the caller's transaction usable.
    if dialect == "postgresql":
        return postgresql.insert(OutboxMessage).values(values).on_conflict_do_nothing(
            index_elements=[OutboxMessage.key])
    if dialect == "sqlite":
        return sqlite.insert(OutboxMessage).values(values).on_conflict_do_nothing(
            index_elements=[OutboxMessage.key])
    raise NotImplementedError(f"outbox enqueue on {dialect}")


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
        lease: float = 60.0,
        send_timeout: float = 20.0,
        batch: int = 50,
        cipher: FieldCipher | None = None,
    ) -> None:
        if not 0 < send_timeout < lease:
            raise ValueError("send_timeout must be positive and shorter than the lease")
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
        """Leases up to `limit` due rows, oldest first. A row left in `sending` by a dead process
        is due again once its lease has expired; that interrupted try counts as an attempt."""
        now = self._clock()
        lease_until = now + timedelta(seconds=self.lease)
        due = (select(OutboxMessage.id)
               .where(OutboxMessage.channel == channel,
                      OutboxMessage.status.in_((PENDING, SENDING)),
                      OutboxMessage.next_attempt_at <= now)
               .order_by(OutboxMessage.id)
               .limit(limit)
               # PostgreSQL: concurrent senders skip each other's rows; SQLite compiles this away,
               # and its single UPDATE statement is atomic anyway.
               .with_for_update(skip_locked=True))
        interrupted = OutboxMessage.status == SENDING
        statement = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due))
            .values(status=SENDING, next_attempt_at=lease_until,
                    attempts=OutboxMessage.attempts + case((interrupted, 1), else_=0),
                    last_error=case((interrupted, INTERRUPTED), else_=OutboxMessage.last_error))
            .returning(OutboxMessage.id, OutboxMessage.key, OutboxMessage.chat_id, OutboxMessage.user_id,
                       OutboxMessage.payload, OutboxMessage.attempts)
            .execution_options(synchronize_session=False)
        )
        async with self.database.session() as session:
            rows = (await session.execute(statement)).all()
        claimed = [Claimed(row.id, row.key, channel, row.chat_id, row.user_id,
                           self.reply_of(row.payload, row.key), row.attempts, lease_until) for row in rows]
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
            except Exception:
                failures += 1
                logger.exception("outbox %s: drain failed (%d in a row)", sender.name, failures)
                await self._pause(sender.name, stop, min(60.0, idle * 2.0 ** min(failures, 16)))
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
        for index, message in enumerate(batch):
            if message.attempts >= self.policy.max_attempts:
                await self._give_up(message, message.attempts, INTERRUPTED)
                continue
            if (stop is not None and stop.is_set()) or not await self._wait_turn(pacer, message):
                await self._release(batch[index:])
                break
            sent += await self._deliver(sender, message)
        return len(batch), sent

    async def _wait_turn(self, pacer: _Pacer, message: Claimed) -> bool:
        """Waits for the chat's and the channel's turn; False when the send could outlast the lease."""
        while True:
            wait = pacer.wait_time(message.chat_id)
            if self._clock() + timedelta(seconds=wait + self.send_timeout) > message.lease_until:
                return False
            if wait <= 0:
                pacer.take(message.chat_id)
                return True
            await self._sleep(wait)

    async def _deliver(self, sender: ChannelSender, message: Claimed) -> bool:
        try:
            async with asyncio.timeout(self.send_timeout):
                await sender.send(message.chat_id, message.reply, message.key)
        except SendError as error:
            await self._failed(message, error.reason, error.retry_after, error.permanent)
            return False
        except Exception as error:
            # Only the type: messages of HTTP errors can carry URLs, and Telegram's hold the bot token.
            await self._failed(message, type(error).__name__, None, False)
            return False
        await self._record(message, status=SENT, sent_at=self._clock())
        return True

    async def _failed(self, message: Claimed, reason: str, retry_after: float | None,
                      permanent: bool) -> None:
        attempts = message.attempts + 1
        reason = reason[:MAX_ERROR_CHARS]
        if permanent or attempts >= self.policy.max_attempts:
            await self._give_up(message, attempts, reason)
            return
        delay = max(0.0, retry_after) if retry_after is not None else self.policy.delay(attempts, self._rng)
        logger.info("outbox: message %d failed (%s), attempt %d, retry in %.1f s",
                    message.id, reason, attempts, delay)
        await self._record(message, status=PENDING, attempts=attempts, last_error=reason,
                           next_attempt_at=self._clock() + timedelta(seconds=delay))

    async def _give_up(self, message: Claimed, attempts: int, reason: str) -> None:
        logger.warning("outbox: message %d dead after %d attempt(s): %s", message.id, attempts, reason)
        await self._record(message, status=DEAD, attempts=attempts, last_error=reason)

    async def _record(self, message: Claimed, **values: Any) -> None:
        """Writes an outcome, fenced by the lease: if the lease expired and another sender took the
        row over, this sender's outcome is stale and dropped."""
        statement = (update(OutboxMessage)
                     .where(OutboxMessage.id == message.id, OutboxMessage.status == SENDING,
                            OutboxMessage.next_attempt_at == message.lease_until)
                     .values(**values)
                     .returning(OutboxMessage.id)
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            if (await session.execute(statement)).scalar_one_or_none() is None:
                logger.warning("outbox: lease on message %d lost, outcome %s dropped",
                               message.id, values.get("status"))

    async def _release(self, messages: Sequence[Claimed]) -> None:
        """Hands unsent rows of a batch back without counting an attempt."""
        if not messages:
            return
        statement = (update(OutboxMessage)
                     .where(OutboxMessage.id.in_([message.id for message in messages]),
                            OutboxMessage.status == SENDING,
                            OutboxMessage.next_attempt_at == messages[0].lease_until)
                     .values(status=PENDING, next_attempt_at=self._clock())
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            await session.execute(statement)

    def _pacer(self, sender: ChannelSender) -> _Pacer:
        if sender.name not in self._pacers:
            self._pacers[sender.name] = _Pacer(sender, self._monotonic)
        return self._pacers[sender.name]

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
