"""Pure helpers for Zalo messages: text split to the 2,000-character limit, buttons in groups, and the
numbered list that stands for buttons where the platform has none."""

from __future__ import annotations

from collections.abc import Sequence

from bots.telegram.render import split_text as _split

TEXT_LIMIT = 2000
MAX_BUTTONS = 5  # per OA message; more go in follow-up messages
MAX_TITLE_CHARS = 100


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters (Zalo counts characters), cut at a line break or a space."""
    pieces: list[str] = []
    for piece in _split(text, limit):
        # The Telegram helper counts UTF-16 units, which is never fewer than characters: re-check.
        while len(piece) > limit:
            pieces.append(piece[:limit])
            piece = piece[limit:]
        pieces.append(piece)
    return [piece for piece in pieces if piece]


def groups(items: Sequence[str], size: int = MAX_BUTTONS) -> list[list[str]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def query_buttons(payloads: Sequence[str]) -> list[dict[str, str]]:
    """OA buttons whose press sends their payload back as the user's text (shown in the chat)."""
    return [{"title": payload[:MAX_TITLE_CHARS], "type": "oa.query.show", "payload": payload}
            for payload in payloads]


def numbered(text: str, labels: Sequence[str], hint: str) -> str:
    """Text with the choices listed as "1. …", for a platform without buttons."""
    if not labels:
        return text
    lines = "\n".join(f"{number}. {label}" for number, label in enumerate(labels, start=1))
    return f"{text}\n\n{lines}\n{hint}" if text.strip() else f"{lines}\n{hint}"
