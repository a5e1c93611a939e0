"""Inline-button data within Telegram's 64-byte `callback_data`, signed so that a client cannot forge it
and bound to where it was sent, so that it cannot be replayed from anywhere else.

Short data travels as `data~tag` (a 64-bit keyed tag); data too long for that is stored server-side and
travels as `#id~tag`. The tag covers the data *and its recipient*: the chat the message goes to and the
Telegram user the button is meant for. In a private chat the chat id is the user's id, so the button is
that user's; in a group it is the member the reply answers (the sender looks them up), or, for what is
sent to the whole group (a broadcast, an apology with no user), anyone in that group. A press is checked
against the chat of the message it came from and the user who pressed (both from the callback query,
which Telegram fills in, not from the data): a button copied into another chat, or pressed in a group by
a member it was not meant for, is refused before the pipeline ever sees it, like a forged one (counted
as `webhook_rejections{reason="forged_button"}`, answered «this button no longer works, type /start»).

The tag is computed when the outbox renders the message for sending (bots/telegram/sender.py), for the
chat it is sent to, so buttons in notices pushed later work like those of a direct answer.

Buttons sent before tags were bound to the chat (tagged over the data alone) no longer check and are
refused the same way: the user gets the polite answer and the menu is one /start away. Nothing else
depends on them; the long data they point to stays in the media table until it is purged.
"""

from __future__ import annotations

import hmac

from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import Hasher
from core.media import store_media
from core.models import Media

MAX_BYTES = 64
TAG_CHARS = 16
SEPARATOR = "~"
STORED = "#"
STORED_TYPE = "application/x-xaso-button"
MAX_INLINE = MAX_BYTES - len(SEPARATOR) - TAG_CHARS
# Not the old "telegram-button:{data}" prefix, so that no old tag can ever stand for a new one.
_DOMAIN = "telegram-button-for"


def _tag(hasher: Hasher, payload: str, chat_id: int, user_id: int | None) -> str:
    # chat and user are integers (no ":" in them); the payload, which may hold ":", comes last.
    user = "" if user_id is None else str(user_id)
    return hasher.sign(f"{_DOMAIN}:{chat_id}:{user}:{payload}")[:TAG_CHARS]


def recipient_user(chat_id: int, user_id: int | None) -> int | None:
    """The user a button sent to `chat_id` is for: in a private chat (positive id) always the chat's own
    user; in a group the given member, or None for anyone in it."""
    return chat_id if chat_id > 0 else user_id


async def pack(hasher: Hasher, session: AsyncSession, data: str, chat_id: int,
               user_id: int | None = None) -> str:
    """The callback_data for one button sent to `chat_id` (for `user_id` in a group; None: anyone there).
    Long data is stored in the given transaction."""
    if len(data.encode()) <= MAX_INLINE and not data.startswith(STORED):
        payload = data
    else:
        payload = STORED + await store_media(session, data.encode(), STORED_TYPE)
    tag = _tag(hasher, payload, chat_id, recipient_user(chat_id, user_id))
    return f"{payload}{SEPARATOR}{tag}"


def _matches(hasher: Hasher, payload: str, tag: str, chat_id: int, user_id: int) -> bool:
    if len(tag) != TAG_CHARS or not tag.isascii():
        return False
    given = tag.encode()
    # The presser's own button, or (only in a group) one sent to everyone there.
    own = _tag(hasher, payload, chat_id, recipient_user(chat_id, user_id)).encode()
    shared = _tag(hasher, payload, chat_id, None).encode() if chat_id < 0 else None
    return hmac.compare_digest(own, given) or (shared is not None and hmac.compare_digest(shared, given))


async def unpack(hasher: Hasher, session: AsyncSession, callback_data: str | None, chat_id: int | None,
                 user_id: int) -> str | None:
    """The button data behind a callback_data pressed by `user_id` on a message in `chat_id`, or None when
    it is forged, truncated, unknown, tagged the old way, or was sent to another chat or member. A press
    with no chat (an inline-mode message, which this bot never sends) is refused."""
    if not callback_data or chat_id is None:
        return None
    payload, separator, tag = callback_data.rpartition(SEPARATOR)
    if not separator or not payload or not _matches(hasher, payload, tag, chat_id, user_id):
        return None
    if not payload.startswith(STORED):
        return payload
    stored = await session.get(Media, payload[len(STORED):])
    if stored is None or stored.content_type != STORED_TYPE:
        return None
    return stored.data.decode()
