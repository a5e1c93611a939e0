"""Stored files (uploads, exports, audio) under server-made ids, served by signed, expiring links."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import Hasher
from core.models import Media

LINK_LIFETIME = 24 * 3600


async def store_media(session: AsyncSession, data: bytes, content_type: str,
                      owner_id: int | None = None) -> str:
    media_id = secrets.token_hex(16)
    session.add(Media(id=media_id, owner_id=owner_id, content_type=content_type, size=len(data), data=data))
    await session.flush()
    return media_id


async def delete_media_of(session: AsyncSession, owner_id: int) -> int:
    result = await session.execute(delete(Media).where(Media.owner_id == owner_id))
    return result.rowcount or 0


def media_url(hasher: Hasher, public_url: str, media_id: str, lifetime: int = LINK_LIFETIME,
              now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + lifetime)
    signature = hasher.sign(f"media:{media_id}:{expires}")
    return f"{public_url.rstrip('/')}/media/{media_id}?exp={expires}&sig={signature}"


def link_is_valid(hasher: Hasher, media_id: str, expires: str, signature: str,
                  now: float | None = None) -> bool:
    if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
        return False
    return hasher.verify(f"media:{media_id}:{expires}", signature)
