"""`/deadletters` for admins (core/roles.py): the outbox's dead letters, with a replay button each
(`admin:replay:<id>`, checked like the command). No message content is shown: id, channel, attempts,
the last error (short) and the age. A replay puts the letter back in line, in the turn's transaction,
and is audited (`outbox.replay`), as on the dashboard's dead-letter page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from bots.dialogue.base import Context
from core.messages import Button, Reply
from core.models import utcnow
from core.outbox import DeadLetter

FAMILY = "admin"
LISTED = 20
ERROR_CHARS = 80


def _age(context: Context, created: dt.datetime, now: dt.datetime) -> str:
    minutes = max(0, int((now - created).total_seconds() // 60))
    if minutes < 60:
        return context.t("deadletters.age.minutes", count=minutes)
    if minutes < 48 * 60:
        return context.t("deadletters.age.hours", count=minutes // 60)
    return context.t("deadletters.age.days", count=minutes // (24 * 60))


def _error(context: Context, letter: DeadLetter) -> str:
    error = " ".join((letter.last_error or "").split())
    if not error:
        return context.t("deadletters.no_error")
    return error if len(error) <= ERROR_CHARS else error[:ERROR_CHARS - 1] + "…"


@dataclass
class DeadLetterDesk:
    clock: Callable[[], dt.datetime] = field(default=utcnow)

    async def command(self, context: Context) -> list[Reply]:
        letters = await context.services.outbox.dead_letters(limit=LISTED + 1, session=context.session)
        context.audit("outbox.dead_letters", detail={"listed": min(len(letters), LISTED)})
        if not letters:
            return [Reply(context.t("deadletters.none"))]
        now = self.clock()
        shown = letters[:LISTED]
        lines = [context.t("deadletters.line", id=letter.id, channel=letter.channel, attempts=letter.attempts,
                           error=_error(context, letter), age=_age(context, letter.created_at, now))
                 for letter in shown]
        head = context.t("deadletters.head", count=len(shown))
        more = [context.t("deadletters.more", count=LISTED)] if len(letters) > LISTED else []
        buttons = tuple(Button(context.t("deadletters.button.replay", id=letter.id),
                               f"{FAMILY}:replay:{letter.id}") for letter in shown)
        return [Reply("\n".join([head, *lines, *more]), buttons)]

    async def replay(self, context: Context) -> list[Reply]:
        arg = context.pressed.arg
        if not (arg.isascii() and arg.isdigit()) or len(arg) > 18:  # "²".isdigit() is true
            return await self.unknown(context)
        replayed = await context.services.outbox.replay(int(arg), session=context.session)
        context.audit("outbox.replay", subject=f"outbox:{arg}", outcome="ok" if replayed else "not_dead")
        key = "deadletters.replayed" if replayed else "deadletters.not_dead"
        back = Button(context.t("deadletters.button.list"), f"{FAMILY}:list")
        return [Reply(context.t(key, id=arg), (back,))]

    async def unknown(self, context: Context) -> list[Reply]:
        """An action that is not ours, or a replay of no letter: refused, and audited as a bad request."""
        context.audit("outbox.replay", subject=f"outbox:{context.pressed.arg[:18]}", outcome="bad_request")
        return [Reply(context.t("deadletters.unknown"))]
