"""Pure helpers for turning a `Reply` into Bot API calls: text split to Telegram's limit, keyboard
layout (links to our own media store are recognised by bots/channels/media.py)."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

# Telegram counts message length in UTF-16 code units.
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> int:
    """The number of characters of `text` that fit in `limit` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` units, cut at a line break, else at a space, else anywhere."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        cut = _fit(rest, limit)
        window = rest[:cut]
        at = window.rfind("\n")
        if at < cut // 2:
            at = window.rfind(" ")
        if at < cut // 2:
            pieces.append(window)
            rest = rest[cut:]
            continue
        pieces.append(window[:at].rstrip())
        rest = rest[at + 1:]
    if rest.strip() or not pieces:
        pieces.append(rest)
    return [piece for piece in pieces if piece] or [text[:0]]


def inline_keyboard(buttons: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """(label, callback_data) pairs, or (label, https URL) for a link button: one per row for a few,
    two per row for a long menu."""
    width = 2 if len(buttons) > 4 else 1
    rows = [[_inline(label, data) for label, data in buttons[i:i + width]]
            for i in range(0, len(buttons), width)]
    return InlineKeyboardMarkup(rows)


def _inline(label: str, data: str) -> InlineKeyboardButton:
    if data.startswith(("https://", "http://")):
        return InlineKeyboardButton(label[:64], url=data)
    return InlineKeyboardButton(label[:64], callback_data=data)


def request_keyboard(phone_label: str | None, location_label: str | None) -> ReplyKeyboardMarkup:
    row: list[KeyboardButton] = []
    if phone_label:
        row.append(KeyboardButton(phone_label, request_contact=True))
    if location_label:
        row.append(KeyboardButton(location_label, request_location=True))
    return ReplyKeyboardMarkup([row], resize_keyboard=True, one_time_keyboard=True)

