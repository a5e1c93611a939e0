"""Stored files (uploads, exports, audio) under server-made ids, served by signed, expiring links.

Sensitive files (health photos) are stored sealed with the field cipher, bound to their id; their links
name the user they were made for, so that every opening is audited as that user's read."""

from __future__ import annotations

import secrets
import time
from typing import Any, cast

from sqlalchemy import delete
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import FieldCipher, Hasher
from core.models import Media

LINK_LIFETIME = 24 * 3600


def _context(media_id: str) -> str:
    return f"media:{media_id}"


async def store_media(session: AsyncSession, data: bytes, content_type: str,
                      owner_id: int | None = None, cipher: FieldCipher | None = None) -> str:
    """Keeps a file; with `cipher` it is stored sealed (only ciphertext in the database)."""
    media_id = secrets.token_hex(16)
    stored = cipher.encrypt_bytes(data, _context(media_id)) if cipher is not None else data
    session.add(Media(id=media_id, owner_id=owner_id, content_type=content_type, size=len(data), data=stored,
                      sealed=cipher is not None))
    await session.flush()
    return media_id


def media_bytes(item: Media, cipher: FieldCipher) -> bytes:
    """The file's content, opened if it is sealed."""
    return cipher.decrypt_bytes(item.data, _context(item.id)) if item.sealed else item.data


async def delete_media_of(session: AsyncSession, owner_id: int) -> int:
    result = cast(CursorResult[Any], await session.execute(delete(Media).where(Media.owner_id == owner_id)))
    return result.rowcount or 0


def _signed(media_id: str, expires: int, viewer: int | None) -> str:
    return f"media:{media_id}:{expires}" + (f":{viewer}" if viewer is not None else "")


def media_url(hasher: Hasher, public_url: str, media_id: str, lifetime: int = LINK_LIFETIME,
              now: float | None = None, viewer: int | None = None) -> str:
    """A signed link; `viewer` (a user id) makes it that user's link, recorded in the audit on opening."""
    expires = int((now if now is not None else time.time()) + lifetime)
    signature = hasher.sign(_signed(media_id, expires, viewer))
    by = f"&by={viewer}" if viewer is not None else ""
    return f"{public_url.rstrip('/')}/media/{media_id}?exp={expires}{by}&sig={signature}"


def link_is_valid(hasher: Hasher, media_id: str, expires: str, signature: str,
                  now: float | None = None, viewer: str = "") -> bool:
    if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
        return False
    if viewer and not viewer.isdigit():
        return False
    return hasher.verify(_signed(media_id, int(expires), int(viewer) if viewer else None), signature)
