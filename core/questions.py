"""The last question each user was asked, kept so that a typed answer counts as the button it names.

Whatever a button offers must also work when typed. The dialogue records the buttons of every answer
it gives (`remember`), the outbox those of every notice it pushes (`remember_push`); the router reads
them back (`offered`) and turns a typed "co", "dong y", "5 sao" or "chua" into the press it means
(core/answers.py decides). Only buttons this user was really sent count, so typing can never reach a
button a tap could not; the pipeline still checks the roles a converted press needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from core.answers import Choice
from core.db import upsert
from core.messages import Button, Reply
from core.models import OfferedChoices, utcnow

# A pushed question ("is it fixed?", a rating) may be answered days later; a direct one is the turn's.
PUSHED_LIFETIME = timedelta(days=7)
REPLY_LIFETIME = timedelta(hours=12)
REFRESH_AFTER = timedelta(hours=1)  # the same question asked again is rewritten at most this often
MAX_CHOICES = 40


@dataclass(frozen=True, slots=True)
class Offered:
    reply: tuple[Choice, ...]
    reply_at: datetime | None
    pushed: tuple[Choice, ...]
    pushed_at: datetime | None

    def asks_again(self, buttons: Sequence[Button], now: datetime) -> bool:
        """Whether `buttons` are the question already recorded, recently enough to need no new write
        (most turns end on the same menu)."""
        if self.pushed_at is not None and (self.reply_at is None or self.pushed_at > self.reply_at):
            return False  # a notice came since: this answer must become the latest question again
        if not buttons:
            return not self.reply
        fresh = self.reply_at is not None and now - self.reply_at < REFRESH_AFTER
        return fresh and self.reply == _load(_dump(buttons))

    def latest(self, now: datetime) -> tuple[Choice, ...]:
        """The most recent question still open: the last answer's, or a notice pushed since."""
        reply = self.reply if self.reply_at and now - self.reply_at < REPLY_LIFETIME else ()
        pushed = self.pushed if self.pushed_at and now - self.pushed_at < PUSHED_LIFETIME else ()
        # An answer given since the notice, even one asking nothing, closes the notice's question.
        answered_since = self.reply_at is not None and self.pushed_at is not None \
            and self.reply_at >= self.pushed_at
        return reply if not pushed or answered_since else pushed


# Buttons that ask nothing: the main menu and «🔊 Nghe». A reply offering only these leaves no question
# open (typed, the menu's words go to the NLU, which knows them), and most turns end on it: no write.
NOT_A_QUESTION = ("menu:", "listen:", "commune:show")  # the menu, «🔊 Nghe», a province's «Đổi xã»


def last_buttons(replies: Sequence[Reply]) -> tuple[Button, ...]:
    """The question of a turn: its last message with buttons, unless those only offer the menu."""
    for reply in reversed(replies):
        if reply.buttons:
            if all(button.data.startswith(NOT_A_QUESTION) for button in reply.buttons):
                return ()
            return reply.buttons
    return ()


def _dump(buttons: Sequence[Button]) -> list[list[Any]]:
    return [[b.label, b.data, b.means, list(b.synonyms)] for b in buttons[:MAX_CHOICES] if b.url is None]


def _load(raw: Any) -> tuple[Choice, ...]:
    if not isinstance(raw, list):
        return ()
    choices = []
    for item in raw:
        if isinstance(item, list) and len(item) >= 2 and all(isinstance(x, str) for x in item[:2]):
            means = item[2] if len(item) > 2 and isinstance(item[2], str) else None
            synonyms = tuple(s for s in item[3] if isinstance(s, str)) if len(item) > 3 and \
                isinstance(item[3], list) else ()
            choices.append(Choice(item[1], (item[0],), synonyms, means))
    return tuple(choices)


async def offered(session: AsyncSession, user_id: int) -> Offered | None:
    row = await session.get(OfferedChoices, user_id)
    if row is None:
        return None
    return offered_from(row.reply, row.reply_at, row.pushed, row.pushed_at)


def offered_from(reply: Any, reply_at: datetime | None, pushed: Any, pushed_at: datetime | None) -> Offered:
    """The question as stored (the JSON lists of `remember` and `remember_push`) made readable."""
    return Offered(_load(reply), reply_at, _load(pushed), pushed_at)


_UPSERTS: dict[tuple[str, tuple[str, ...]], Any] = {}


def _upsert_statement(dialect: str, columns: tuple[str, ...]) -> Any:
    """Built once per dialect and set of columns: it runs on most turns."""
    key = (dialect, columns)
    if key not in _UPSERTS:
        insert = upsert(dialect)
        statement = insert(OfferedChoices).values(user_id=bindparam("user_id"),
                                                  **{name: bindparam(name) for name in columns})
        _UPSERTS[key] = statement.on_conflict_do_update(
            index_elements=["user_id"], set_={name: statement.excluded[name] for name in columns})
    return _UPSERTS[key]


async def _upsert(session: AsyncSession, user_id: int, values: dict[str, Any]) -> None:
    statement = _upsert_statement(session.get_bind().dialect.name, tuple(values))
    await session.execute(statement, {"user_id": user_id, **values})


async def remember(session: AsyncSession, user_id: int, buttons: Sequence[Button],
                   now: datetime | None = None) -> None:
    """The buttons of this turn's answer (none: no question is open any more)."""
    dumped = _dump(buttons)
    await _upsert(session, user_id, {"reply": dumped or None, "reply_at": now or utcnow()})


async def remember_push(session: AsyncSession, user_id: int, buttons: Sequence[Button],
                        now: datetime | None = None) -> None:
    dumped = _dump(buttons)
    if dumped:
        await _upsert(session, user_id, {"pushed": dumped, "pushed_at": now or utcnow()})


async def forget(session: AsyncSession, user_id: int) -> None:
    await _upsert(session, user_id, {"reply": None, "reply_at": None, "pushed": None, "pushed_at": None})
