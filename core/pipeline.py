"""The policy every message passes through, in a fixed order, before any dialogue sees it:

de-duplicate → rate limit → identity and role → input limits and link filter → audit → handler.

Each step is a small middleware `async (turn, next) -> Outcome`. A step whose own check raises
refuses the message (fails closed); errors further down are the pipeline's to answer politely.
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


@dataclass
class Turn:
    """One message on its way through: what came in, the unit of work, and what the steps learnt."""

    incoming: Incoming
    session: AsyncSession
    identity: Identity | None = None
    audit_notes: list[AuditNote] = field(default_factory=list)

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

    async def handle(self, incoming: Incoming) -> Outcome:
        """Runs one message in one transaction: its state changes and the outbox rows they cause
        commit together, or nothing is written."""
        notes: list[AuditNote] = []
        try:
            async with self._serial, self.database.session() as session:
                turn = Turn(incoming, session, audit_notes=notes)
                return await self._chain()(turn)
        except Exception:
            log.exception("message from %s/%s failed", incoming.channel, incoming.user_id)
            lang = "en" if (incoming.language or "").startswith("en") else "vi"
            return Outcome((Reply(self.catalogue.t("error.generic", lang)),), "error")
        finally:
            await self._write_audit(notes)

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
