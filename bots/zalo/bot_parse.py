"""One Zalo Bot API update → one `Incoming`. Updates come with or without the `{"ok", "result"}`
wrapper; events are `message.text|image|sticker|voice|unsupported.received`."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bots.zalo import BOT_CHANNEL
from core.messages import Incoming

MAX_NAME_CHARS = 128


def unwrap(body: Any) -> dict[str, Any] | None:
    """The update itself, whichever form it came in; None when it is not one."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("result"), dict):
        body = body["result"]
    if not isinstance(body.get("message"), dict):
        return None
    return body


def chat_of(update: dict[str, Any]) -> str:
    chat = update["message"].get("chat") or {}
    sender = update["message"].get("from") or {}
    value = chat.get("id") if isinstance(chat, dict) else None
    value = value if value is not None else (sender.get("id") if isinstance(sender, dict) else None)
    return str(value)[:64] if value is not None else ""


def update_key(update: dict[str, Any]) -> str:
    message_id = update["message"].get("message_id")
    if isinstance(message_id, str | int) and str(message_id):
        return "m:" + str(message_id)[:120]
    canonical = json.dumps(update, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "h:" + hashlib.sha256(canonical.encode()).hexdigest()


def parse_update(update: dict[str, Any]) -> tuple[Incoming, str | None] | None:
    """The Incoming, and the address of a photo to fetch (or None)."""
    message = update["message"]
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    if sender.get("is_bot") or sender.get("id") in (None, ""):
        return None
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    if str(chat.get("chat_type") or "PRIVATE").upper() != "PRIVATE":
        return None  # the bot answers in private chats only
    chat_id = chat_of(update)
    if not chat_id:
        return None
    # Private chats only: the chat is the user (as on Telegram), so that notifications pushed later to
    # the user's id reach this chat.
    common: dict[str, Any] = {
        "channel": BOT_CHANNEL, "chat_id": chat_id, "user_id": chat_id,
        "message_id": update_key(update)[:128], "language": "vi",
        "display_name": str(sender.get("display_name") or sender.get("name") or "")[:MAX_NAME_CHARS] or None,
        "raw": update,
    }
    event = str(update.get("event_name") or "")
    if isinstance(message.get("text"), str) and event in ("", "message.text.received"):
        return Incoming(**common, text=message["text"]), None
    if event == "message.image.received" and isinstance(message.get("photo"), str):
        return Incoming(**common, text=message.get("caption") if isinstance(message.get("caption"), str)
                        else None), message["photo"]
    # Stickers, voice, unsupported: answered as an empty message (a polite menu).
    return Incoming(**common, text=""), None
