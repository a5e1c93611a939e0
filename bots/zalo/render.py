"""Pure helpers for Zalo messages: text split to the 2,000-character limit, buttons in groups, and the
numbered list that stands for buttons where the platform has none."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from core.messages import phone_of

T = TypeVar("T")

TEXT_LIMIT = 2000
MAX_BUTTONS = 5  # per OA message; more go in follow-up messages
MAX_TITLE_CHARS = 100


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break, else at a space, else anywhere."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        at = window.rfind("\n")
        if at < limit // 2:
            at = window.rfind(" ")
        if at < limit // 2:
            pieces.append(window)
            rest = rest[limit:]
            continue
        pieces.append(window[:at].rstrip())
        rest = rest[at + 1:]
    if rest.strip():
        pieces.append(rest)
    return [piece for piece in pieces if piece.strip()]


def groups(items: Sequence[T], size: int = MAX_BUTTONS) -> list[list[T]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def query_buttons(payloads: Sequence[str]) -> list[dict[str, str]]:
    """OA buttons whose press sends their payload back as the user's text (shown in the chat)."""
    return [{"title": payload[:MAX_TITLE_CHARS], "type": "oa.query.show", "payload": payload}
            for payload in payloads]


def link_button(label: str, url: str) -> dict[str, Any]:
    """An OA button that opens a web page (Zalo's `oa.open.url`) or dials a number (`oa.open.phone`)."""
    number = phone_of(url)
    if number is not None:
        return {"title": label[:MAX_TITLE_CHARS], "type": "oa.open.phone", "payload": {"phone_code": number}}
    return {"title": label[:MAX_TITLE_CHARS], "type": "oa.open.url", "payload": {"url": url}}


def with_links(text: str, links: Sequence[tuple[str, str]]) -> str:
    """Text followed by "label: address" lines, for a platform without link buttons."""
    if not links:
        return text
    lines = "\n".join(f"{label}: {phone_of(url) or url}" for label, url in links)
    return f"{text}\n\n{lines}" if text.strip() else lines


def numbered(text: str, labels: Sequence[str], hint: str) -> str:
    """Text with the choices listed as "1. …", for a platform without buttons."""
    if not labels:
        return text
    lines = "\n".join(f"{number}. {label}" for number, label in enumerate(labels, start=1))
    return f"{text}\n\n{lines}\n{hint}" if text.strip() else f"{lines}\n{hint}"
