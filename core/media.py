"""Stored files (uploads, exports, audio) under server-made ids, served by signed, expiring links.

Sensitive files (health photos) are stored sealed with the field cipher, bound to their id; their links
name the user they were made for, so that every opening is audited as that user's read.

How a file is served (`served_as`): its type is the one the server stored (from the magic bytes for an
upload, core/uploads.py; from the code that made it otherwise; never what a client claimed), and is
checked again against the bytes; a file whose bytes do not match goes out as `application/octet-stream`.
Every answer carries `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox;
default-src 'none'` (opened directly, even a hostile file runs nothing and loads nothing, in an opaque
origin). Every file is `attachment` (saved, not shown, when opened) except JPEG and PNG images, which are
`inline`: every image stored is either an upload re-encoded from its pixels or one the server drew (the
VietQR code), so it can hold nothing but pixels, and the web chat opens a tapped photo in a new tab,
which should show it rather than download it. (`<img>`, `<audio>` and the platforms' fetches ignore
Content-Disposition, so attachment costs the chat nothing elsewhere.)
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import delete
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import FieldCipher, Hasher
from core.models import Media

LINK_LIFETIME = 24 * 3600
SANDBOX_CSP = "sandbox; default-src 'none'"
OPAQUE_TYPE = "application/octet-stream"


def _mp3(data: bytes) -> bool:
    # An ID3 tag, or straight into an MPEG audio frame (11 sync bits).
    return data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def _json(data: bytes) -> bool:
    return data.lstrip()[:1] in (b"{", b"[")


# Types /media/ serves as themselves: (check of the bytes, extension, shown inline).
_SERVED: dict[str, tuple[Callable[[bytes], bool], str, bool]] = {
    "image/jpeg": (lambda data: data.startswith(b"\xff\xd8\xff"), ".jpg", True),
    "image/png": (lambda data: data.startswith(b"\x89PNG\r\n\x1a\n"), ".png", True),
    "application/pdf": (lambda data: data.startswith(b"%PDF-"), ".pdf", False),
    "application/json": (_json, ".json", False),
    "audio/ogg": (lambda data: data.startswith(b"OggS"), ".ogg", False),
    "audio/mpeg": (_mp3, ".mp3", False),
}


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


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18


def link_is_valid(hasher: Hasher, media_id: str, expires: str, signature: str,
                  now: float | None = None, viewer: str = "") -> bool:
    # ASCII digits of a sane length only: "²".isdigit() is true and int("²") an error.
    if not _number(expires) or int(expires) < (now if now is not None else time.time()):
        return False
    if viewer and not _number(viewer):
        return False
    return hasher.verify(_signed(media_id, int(expires), int(viewer) if viewer else None), signature)


def served_as(media_id: str, content_type: str, data: bytes) -> tuple[str, dict[str, str]]:
    """The content type and headers to serve a stored file with (see the module's docstring)."""
    served = _SERVED.get(content_type)
    matches = served is not None and served[0](data)
    extension = served[1] if served is not None and matches else ".bin"
    disposition = "inline" if served is not None and matches and served[2] else "attachment"
    # The id is ours (hex, from the database), safe inside the quotes.
    headers = {
        "Content-Disposition": f'{disposition}; filename="{media_id}{extension}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_CSP,
        "Cache-Control": "private, max-age=3600",
    }
    return (content_type if matches else OPAQUE_TYPE), headers
