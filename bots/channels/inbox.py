"""The durable inbox every webhook channel uses: each accepted event is a row before the platform gets
its 200 (Telegram never redelivers an update it got a 200 for; Zalo retries slow webhooks and may turn
them off), so nothing is lost to a crash, and the heavy work happens off the request path.

A processor (bots/channels/processor.py) leases pending rows, in arrival order within each chat, and
marks them done. Leases are short (`XASO_LEASE_SECONDS`, 10 s) and renewed every third of that while the
rows are in hand (`renew`), so a row left `processing` by a process that died is due again within
seconds, like the outbox. Done rows are purged after a few days (`XASO_INBOX_KEEP_DAYS`).

A chat is served by one worker at a time: a row is only claimed when no earlier unfinished row of its
chat is waiting (leased by a live worker, or backing off after a failure).

The rows live in each channel's own table (`telegram_inbox`, `zalo_inbox`), described by an
`InboxTable`: which column tells the bots or sources sharing the table apart, which is the event's key
(a repeated key changes nothing, which is the de-duplication), and which gives the order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, delete, exists, func, select, text, update
from sqlalchemy.orm import aliased

from core.db import Database, upsert
from core.models import utcnow

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
UNFINISHED = (PENDING, PROCESSING)
MAX_CHAT_KEY_CHARS = 64
DEFAULT_LEASE = 10.0  # seconds; XASO_LEASE_SECONDS
# An event's key (unique within the scope) and the chat whose order it belongs to.
Identify = Callable[[dict[str, Any]], tuple[Any, str]]


@dataclass(frozen=True, slots=True)
class InboxTable:
    """One inbox table. Each needs the columns `id`, `chat_key`, `payload`, `status`, `attempts`,
    `next_attempt_at` (when a pending row is due; while processing, when its lease ends), `received_at`
    and `done_at`, plus the three named here. Claims are serialised on PostgreSQL (several `xaso serve`
    on one database) with `lock_key`, so that two processes never lease rows of one chat at once."""

    model: Any
    scope: str  # the column telling apart the bots or sources sharing the table
    key: str  # unique within a scope: a repeated key is the same event
    order: str  # arrival order within a chat
    lock_key: int

    def column(self, name: str, alias: Any = None) -> Any:
        return getattr(self.model if alias is None else alias, name)


@dataclass(frozen=True, slots=True)
class Leased:
    id: int
    update_id: int  # the row's place in its chat's order (Telegram's update_id; the row id for Zalo)
    chat_key: str
    payload: dict[str, Any]
    attempts: int
    lease_until: datetime


class DurableInbox:
    """The rows of one bot or source (`scope`) in an inbox table; `identify` gives an event's key and
    chat."""

    def __init__(self, database: Database, table: InboxTable, scope: Any, identify: Identify, *,
                 lease: float = DEFAULT_LEASE, max_attempts: int = 5) -> None:
        if lease <= 0:
            raise ValueError("the inbox lease must be positive")
        self.database = database
        self.table = table
        self.scope = scope
        self.identify = identify
        self.lease = lease
        self.max_attempts = max_attempts

    async def accept(self, payload: dict[str, Any]) -> bool:
        """Stores an event (committed on return); False when its key was already stored."""
        key, chat_key = self.identify(payload)
        now = utcnow()
        table = self.table
        values = {table.scope: self.scope, table.key: key, "chat_key": chat_key[:MAX_CHAT_KEY_CHARS],
                  "payload": payload, "status": PENDING, "attempts": 0, "next_attempt_at": now,
                  "received_at": now}
        insert = upsert(self.database.engine.dialect.name)
        statement = (insert(table.model).values(values)
                     .on_conflict_do_nothing(index_elements=[table.scope, table.key])
                     .returning(table.model.id))
        async with self.database.session() as session:
            return (await session.execute(statement)).scalar_one_or_none() is not None

    async def claim(self, limit: int) -> list[Leased]:
        """Leases up to `limit` due rows, earliest first, skipping every chat that has an earlier
        unfinished row not due yet (in the hands of a live worker, or waiting to be retried)."""
        now = utcnow()
        lease_until = now + timedelta(seconds=self.lease)
        table, model = self.table, self.table.model
        row, earlier = aliased(model), aliased(model)
        order = table.column(table.order, row)
        blocked = exists().where(and_(table.column(table.scope, earlier) == table.column(table.scope, row),
                                      earlier.chat_key == row.chat_key,
                                      table.column(table.order, earlier) < order,
                                      earlier.status.in_(UNFINISHED), earlier.next_attempt_at > now))
        due = (select(row.id)
               .where(table.column(table.scope, row) == self.scope, row.status.in_(UNFINISHED),
                      row.next_attempt_at <= now, ~blocked)
               .order_by(order).limit(limit))
        statement = (update(model)
                     .where(model.id.in_(due))
                     .values(status=PROCESSING, next_attempt_at=lease_until)
                     .returning(model.id, table.column(table.order).label("seq"), model.chat_key,
                                model.payload, model.attempts)
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            if self.database.engine.dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": table.lock_key})
            rows = (await session.execute(statement)).all()
        return sorted((Leased(r.id, r.seq, r.chat_key, r.payload, r.attempts, lease_until) for r in rows),
                      key=lambda leased: leased.update_id)

    async def renew(self, leased: Sequence[Leased]) -> list[Leased]:
        """Extends the lease of rows in hand; returns those still held, with their new lease (a row whose
        lease ran out and was taken by another worker is not among them)."""
        if not leased:
            return []
        until = utcnow() + timedelta(seconds=self.lease)
        model = self.table.model
        held: set[int] = set()
        async with self.database.session() as session:
            for lease_until in {item.lease_until for item in leased}:
                ids = [item.id for item in leased if item.lease_until == lease_until]
                statement = (update(model)
                             .where(model.id.in_(ids), model.status == PROCESSING,
                                    model.next_attempt_at == lease_until)
                             .values(next_attempt_at=until)
                             .returning(model.id)
                             .execution_options(synchronize_session=False))
                held.update((await session.execute(statement)).scalars())
        return [replace(item, lease_until=until) for item in leased if item.id in held]

    async def done(self, leased: Leased) -> None:
        await self._record(leased, status=DONE, done_at=utcnow())

    async def failed(self, leased: Leased) -> bool:
        """Puts a row back for a later try (with back-off); True when it was given up for good."""
        attempts = leased.attempts + 1
        if attempts >= self.max_attempts:
            await self._record(leased, status=FAILED, attempts=attempts, done_at=utcnow())
            return True
        delay = min(60.0, 2.0 ** attempts)
        await self._record(leased, status=PENDING, attempts=attempts,
                           next_attempt_at=utcnow() + timedelta(seconds=delay))
        return False

    async def release(self, leased: list[Leased]) -> None:
        """Hands rows not started back, due at once, without counting an attempt."""
        for item in leased:
            await self._record(item, status=PENDING, next_attempt_at=utcnow())

    async def purge(self, older_than: timedelta) -> int:
        model = self.table.model
        cutoff = utcnow() - older_than
        statement = delete(model).where(self._scope(), model.status.in_((DONE, FAILED)),
                                        model.received_at < cutoff)
        async with self.database.session() as session:
            result = await session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    async def counts(self) -> dict[str, int]:
        model = self.table.model
        query = select(model.status, func.count()).where(self._scope()).group_by(model.status)
        async with self.database.session() as session:
            found = dict(cast("list[tuple[str, int]]", (await session.execute(query)).all()))
        return {status: found.get(status, 0) for status in (PENDING, PROCESSING, DONE, FAILED)}

    def _scope(self) -> Any:
        return self.table.column(self.table.scope) == self.scope

    async def _record(self, leased: Leased, **values: Any) -> None:
        """Fenced by the lease: a worker whose lease ran out and was taken over changes nothing."""
        model = self.table.model
        statement = (update(model)
                     .where(model.id == leased.id, model.status == PROCESSING,
                            model.next_attempt_at == leased.lease_until)
                     .values(**values)
                     .execution_options(synchronize_session=False))
        async with self.database.session() as session:
            await session.execute(statement)
