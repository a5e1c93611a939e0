"""The policy every message passes through, in a fixed order, before any dialogue sees it:

de-duplicate → rate limit → identity and role → input limits and link filter → audit → handler.

Each step is a small middleware `async (turn, next) -> Outcome`. A step whose own check raises
refuses the message (fails closed); errors further down are the pipeline's to answer politely.
What is slow (a remote call) a turn leaves for after its commit, outside the lock (Turn.after_commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.i18n import Catalogue
from core.identity import Identity
from core.messages import Incoming, Reply

log = logging.getLogger(__name__)
AuditScalar = str | int | float | bool | None


class AuditSink(Protocol):
    async def record(self, actor: str, action: str, *, subject: str | None = None, outcome: str = "ok",
                     detail: Mapping[str, AuditScalar] | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class AuditNote:
    actor: str
    action: str
    subject: str | None = None
    outcome: str = "ok"
    detail: Mapping[str, AuditScalar] | None = None


# After the message's transaction (Turn.after_commit): a step runs once that transaction has committed
# and SQLite's writer lock is released, so the slow part of a turn (a remote call, a synthesis) stalls
# no one. It returns what to write and answer then, run in a short transaction of its own taken like a
# message's, or None when there is nothing to write.
Finish = Callable[["Turn"], Awaitable[Sequence[Reply]]]
AfterCommit = Callable[[], Awaitable[Finish | None]]
# How replies made after the commit reach a pushed channel's outbox (set by EnqueueReplies).
LateDelivery = Callable[[AsyncSession, Sequence[Reply]], Awaitable[None]]


@dataclass
class Turn:
    """One message on its way through: what came in, the unit of work, and what the steps learnt."""

    incoming: Incoming
    session: AsyncSession
    identity: Identity | None = None
    audit_notes: list[AuditNote] = field(default_factory=list)
    after: list[AfterCommit] = field(default_factory=list)
    deliver_late: LateDelivery | None = None

    def after_commit(self, step: AfterCommit) -> None:
        """Runs `step` once this message's transaction has committed and the writer lock is free (never
        if it rolled back); the replies of what it returns follow the message's, in order."""
        self.after.append(step)

    def audit(self, actor: str, action: str, *, subject: str | None = None, outcome: str = "ok",
              detail: Mapping[str, AuditScalar] | None = None) -> None:
        """Notes an audit entry; the pipeline writes the notes once the message's transaction is over
        (committed or not), so that no database write lock is held while the audit chain is appended."""
        self.audit_notes.append(AuditNote(actor, action, subject, outcome, detail))

    @property
    def language(self) -> str:
        if self.identity is not None:
            return self.identity.language
        return "en" if (self.incoming.language or "").startswith("en") else "vi"


@dataclass(frozen=True, slots=True)
class Outcome:
    replies: tuple[Reply, ...]
    # ok | duplicate | rate_limited | too_long | refused | denied | unknown_user | policy_error | error
    status: str = "ok"


Handler = Callable[[Turn], Awaitable[Outcome]]


class Middleware(Protocol):
    async def __call__(self, turn: Turn, handler: Handler) -> Outcome: ...


class Pipeline:
    def __init__(self, database: Database, catalogue: Catalogue, middlewares: Sequence[Middleware],
                 handler: Handler, audit: AuditSink) -> None:
        self.database = database
        self.catalogue = catalogue
        self.middlewares = tuple(middlewares)
        self.handler = handler
        self.audit = audit
        self.audit_failures = 0
        # SQLite has one writer at a time: queueing here is fairer and cheaper than busy-waiting on it.
        self._serial = asyncio.Lock() if database.is_sqlite else contextlib.nullcontext()
        self._chained = self._chain()  # built once: the steps do not change

    async def handle(self, incoming: Incoming) -> Outcome:
        """Runs one message in one transaction: its state changes and the outbox rows they cause
        commit together, or nothing is written. Then, the lock released, what the turn left to do
        after the commit (Turn.after_commit)."""
        notes: list[AuditNote] = []
        try:
            try:
                async with self._serial, self.database.session() as session:
                    turn = Turn(incoming, session, audit_notes=notes)
                    outcome = await self._chained(turn)
            except Exception:
                log.exception("message from %s/%s failed", incoming.channel, incoming.user_id)
                lang = "en" if (incoming.language or "").startswith("en") else "vi"
                return Outcome((Reply(self.catalogue.t("error.generic", lang)),), "error")
            if turn.after:
                outcome = await self._after_commit(turn, outcome)
            return outcome
        finally:
            await self._write_audit(notes)

    async def _after_commit(self, turn: Turn, outcome: Outcome) -> Outcome:
        """The turn's steps in order, each outside any transaction and lock, then what it returns in a
        short transaction of its own with its replies (enqueued there for a pushed channel). A step
        that fails is logged and answered politely; the message's committed work stands, and the
        steps after it still run. A step may add steps."""
        late: list[Reply] = []
        index = 0
        while index < len(turn.after):
            step, index = turn.after[index], index + 1
            try:
                finish = await step()
                if finish is None:
                    continue
                async with self._serial, self.database.session() as session:
                    later = Turn(turn.incoming, session, identity=turn.identity, audit_notes=turn.audit_notes,
                                 after=turn.after)
                    replies = tuple(await finish(later))
                    if turn.deliver_late is not None:
                        await turn.deliver_late(session, replies)
                late.extend(replies)
            except Exception:
                log.exception("a step after the message from %s/%s failed", turn.incoming.channel,
                              turn.incoming.user_id)
                late.append(await self._late_apology(turn))
        return Outcome(outcome.replies + tuple(late), outcome.status)

    async def _late_apology(self, turn: Turn) -> Reply:
        sorry = Reply(self.catalogue.t("error.generic", turn.language))
        if turn.deliver_late is not None:
            try:
                async with self._serial, self.database.session() as session:
                    await turn.deliver_late(session, (sorry,))
            except Exception:
                log.exception("the apology for %s/%s could not be queued", turn.incoming.channel,
                              turn.incoming.user_id)
        return sorry

    async def _write_audit(self, notes: list[AuditNote]) -> None:
        if not notes:
            return
        results = await asyncio.gather(*(
            self.audit.record(n.actor, n.action, subject=n.subject, outcome=n.outcome, detail=n.detail)
            for n in notes), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                self.audit_failures += 1
                log.error("audit entry could not be written: %r", result)

    def _chain(self) -> Handler:
        chain: Handler = self.handler
        for middleware in reversed(self.middlewares):
            chain = functools.partial(_fail_closed, middleware, self.catalogue, chain)
        return chain


async def _fail_closed(middleware: Middleware, catalogue: Catalogue, handler: Handler,
                       turn: Turn) -> Outcome:
    downstream_failed = False

    async def call_next(next_turn: Turn) -> Outcome:
        nonlocal downstream_failed
        try:
            return await handler(next_turn)
        except BaseException:
            downstream_failed = True
            raise

    try:
        return await middleware(turn, call_next)
    except Exception:
        if downstream_failed:
            raise
        log.exception("policy step %s failed: message refused", type(middleware).__name__)
        return Outcome((Reply(catalogue.t("error.policy", turn.language)),), "policy_error")
