"""Inline-button data within Telegram's 64-byte `callback_data`, signed so that a client cannot forge it.

Short data travels as `data~tag` (a 64-bit keyed tag); data too long for that is stored server-side and
travels as `#id~tag`. Data that fails the check is refused before the pipeline ever sees it.
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


def _tag(hasher: Hasher, payload: str) -> str:
    return hasher.sign(f"telegram-button:{payload}")[:TAG_CHARS]


async def pack(hasher: Hasher, session: AsyncSession, data: str) -> str:
    """The callback_data for one button (stores long data in the given transaction)."""
    if len(data.encode()) <= MAX_INLINE and not data.startswith(STORED):
        payload = data
    else:
        payload = STORED + await store_media(session, data.encode(), STORED_TYPE)
    return f"{payload}{SEPARATOR}{_tag(hasher, payload)}"


async def unpack(hasher: Hasher, session: AsyncSession, callback_data: str | None) -> str | None:
    """The button data behind a callback_data, or None when it is forged, truncated or unknown."""
    if not callback_data:
        return None
    payload, separator, tag = callback_data.rpartition(SEPARATOR)
    if not separator or not payload or not hmac.compare_digest(_tag(hasher, payload), tag):
        return None
    if not payload.startswith(STORED):
        return payload
    stored = await session.get(Media, payload[len(STORED):])
    if stored is None or stored.content_type != STORED_TYPE:
        return None
    return stored.data.decode()
