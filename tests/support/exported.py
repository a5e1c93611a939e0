"""A /mydata export as the villager receives it over a chat app: the file uploaded into the chat, or the
signed link in the message, opened on the real app as the villager's phone opens it. Either way it must
be the plain JSON document (exports are stored sealed, core/media.py), never its ciphertext."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient

_MEDIA_LINK = re.compile(r"https?://\S+/media/\S+")


def media_link(text: str) -> str | None:
    """The link to our own media store in a message's text, if it has one."""
    found = _MEDIA_LINK.findall(text)
    assert len(found) <= 1, found
    return found[0] if found else None


async def opened(client: TestClient, link: str) -> bytes:
    """What a signed /media link opens to (the path and query only: the app under test serves it)."""
    parts = urlsplit(link)
    response = await client.get(f"{parts.path}?{parts.query}")
    assert response.status == 200, (response.status, link)
    return await response.read()


def plain_export(data: bytes) -> dict[str, Any]:
    """The export's document, which must parse as JSON: a sealed file sent as stored would not."""
    document = json.loads(data)
    assert isinstance(document, dict)
    return document
