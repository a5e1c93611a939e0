"""Erasing one's own data (/mydata → 🗑): first a warning that lists what is still open and what will
happen to each, then, once confirmed, the erasure, all of it in the turn's transaction (a savepoint:
if any step fails nothing is erased or cancelled, and the villager is told so politely).

Each service says what it keeps about the villager and erases its part (its `Holdings`,
bots/dialogue/service.py, declared in its unit.py); they run in order of position:
- An order not yet delivered is cancelled: unpaid, its pending payments are cancelled (and withdrawn
  at the provider after the commit) and the stock is released; paid, the refund rule is stated to the
  villager, who keeps the order code; the seller is told either way. The order stays as a commercial
  record without the person (bots/services/shop/holdings.py).
- An upcoming appointment is cancelled and its reminder withdrawn; the doctors are told the place is
  free. An open consult ends with the account; the doctors who had it are told
  (bots/services/health/holdings.py).
- Dossiers stay with their code, procedure, history and signed result; the declared values and papers
  go, the history records it, and for a dossier still in progress the staff are told it cannot go on
  (bots/services/dossiers/holdings.py).
- Village reports stay without the person (bots/services/reports/holdings.py).
Then the account itself is deleted here (the database cascades to what hangs on it: roles, sessions,
consents, files, state, inbox, address code, consults, appointments).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from bots.dialogue.base import Context
from bots.services.account.flows import holdings
from core.identity import identities_changed
from core.messages import Button, Reply
from core.models import OutboxMessage, User, utcnow
from core.pipeline import AuditScalar

log = logging.getLogger(__name__)
FollowUp = Callable[[Context], Awaitable[None]]


async def _hold_account(session: AsyncSession, user_id: int) -> None:
    """A write first: the account row is locked until the turn ends (PostgreSQL), and on SQLite the
    turn's transaction takes the write lock before the savepoint. A savepoint opened before any write
    would start a read transaction there, which cannot become a writer once another connection (an
    outbox sender) has written meanwhile."""
    await session.execute(update(User).where(User.id == user_id).values(last_seen_at=utcnow())
                          .execution_options(synchronize_session=False))


def _forget_identity(context: Context) -> None:
    """The account is gone: nothing may be stored for it after this turn (its state went with it), and
    what the turn still writes, the farewell pushed through the outbox on Telegram or Zalo, names no
    one (a row naming the deleted user would break its foreign key and undo the whole erasure)."""
    context.extras["user_deleted"] = True
    context.next_state, context.state_changed = None, False
    context.turn.identity = None


class Erasure:
    """The two steps of the deletion, over what the services declare they hold."""

    # -- the warning

    async def ask(self, context: Context) -> list[Reply]:
        text = context.t("mydata.delete_confirm")
        lines = [line for held in holdings(context) if held.open_items is not None
                 for line in await held.open_items(context)]
        if lines:
            text = context.t("mydata.delete_open", lines="\n".join(lines)) + "\n\n" + text
        return [Reply(text, (
            Button(context.t("mydata.button.delete_yes"), "mydata:delete-confirm", means="yes"),
            Button(context.t("mydata.button.keep"), "mydata:keep", means="no"),
        ))]

    # -- the erasure

    async def erase(self, context: Context) -> list[Reply]:
        user_id = context.identity.id
        noted = len(context.turn.audit_notes)
        await _hold_account(context.session, user_id)
        try:
            async with context.session.begin_nested():
                done, follow_ups = await self._erase(context)
        except Exception:
            log.exception("erasing user %s failed: nothing was erased", user_id)
            del context.turn.audit_notes[noted:]  # what was undone is not recorded as done
            context.audit("mydata.delete", subject=f"user:{user_id}", outcome="error")
            return [Reply(context.t("mydata.delete_failed"), (
                Button(context.t("mydata.button.retry"), "mydata:delete"),))]
        farewell = Reply("\n\n".join([context.t("mydata.deleted"), *done]))
        for follow_up in follow_ups:
            await self._follow_up(context, follow_up)
        _forget_identity(context)
        return [farewell]

    async def _erase(self, context: Context) -> tuple[list[str], list[FollowUp]]:
        """Each service's step in order, then the account's own; returns the farewell's lines and the
        work to run once the savepoint is released."""
        done: list[str] = []
        follow_ups: list[FollowUp] = []
        audited: dict[str, AuditScalar] = {}
        for held in holdings(context):
            if held.erase is None:
                continue
            erased = await held.erase(context)
            done.extend(erased.done)
            follow_ups.extend(erased.after)
            audited.update(erased.audited)
        await self._forget_account(context, audited)
        return done, follow_ups

    @staticmethod
    async def _follow_up(context: Context, follow_up: FollowUp) -> None:
        """The erasure is committed: a follow-up that fails is logged, it undoes nothing."""
        try:
            await follow_up(context)
        except Exception:
            log.exception("a follow-up of erasing user %s failed", context.identity.id)

    async def _forget_account(self, context: Context, audited: dict[str, AuditScalar]) -> None:
        """Messages already sent to them stay without their words; the database cascades the rest
        with the user row. `audited`: what the services' steps add to the record (reports kept)."""
        session, user_id = context.session, context.identity.id
        mine = OutboxMessage.user_id == user_id
        await session.execute(delete(OutboxMessage).where(mine, OutboxMessage.status != "sent"))
        # What was sent keeps its key (a retry must never send it again) but not its words or address.
        await session.execute(update(OutboxMessage).where(mine).values(chat_id="-", payload={}, user_id=None)
                              .execution_options(synchronize_session=False))
        user = await session.get(User, user_id)
        if user is not None:
            await session.delete(user)
        await session.flush()
        await identities_changed(session)
        context.audit("mydata.delete", subject=f"user:{user_id}", detail=audited or None)
