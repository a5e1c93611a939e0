"""Telling a user something outside their own turn: one notice through the outbox, in the caller's
transaction, addressed to the user's own channel and chat, in their language.

Every flow that pushes a message to somebody else (a citizen's dossier moved, a doctor's alert, a
seller's new order, an announcement, an administrator told of a new role…) goes through `notify`, so
that addressing, language and the outbox's rules (the unique key, a question remembered for typed
answers, a scheduled send) are written once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.messages import Reply
from core.models import User

if TYPE_CHECKING:
    from bots.dialogue.base import Services

# What to say: a finished reply, an i18n key (rendered in the user's language with `params`), or a
# function of the user's language that makes the reply (text and buttons in that language).
Notice = Reply | str | Callable[[str], Reply]


def render(services: Services, user: User, notice: Notice, /, **params: Any) -> Reply:
    """The notice as the reply `user` gets, in their language."""
    if isinstance(notice, Reply):
        return notice
    if isinstance(notice, str):
        return Reply(services.catalogue.t(notice, user.language, **params))
    return notice(user.language)


async def notify(session: AsyncSession, services: Services, user: User, notice: Notice, key: str, /, *,
                 asks: bool = True, not_before: dt.datetime | None = None, **params: Any) -> bool:
    """Queues `notice` for `user` under the outbox `key`; False (nothing queued) when the key exists.
    `params` fill the i18n key's template (any names, `user` and `key` included).

    `asks`: a notice with buttons, sent now, is the question the user may answer by typing (False for
    broadcasts); `not_before`: sent at that moment, not at once (a reminder)."""
    return await services.outbox.enqueue(
        session, channel=user.channel, chat_id=user.external_id, user_id=user.id,
        reply=render(services, user, notice, **params), key=key, asks=asks, not_before=not_before)
