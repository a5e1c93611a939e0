"""One Telegram `Update` → one platform-neutral `Incoming`, or None for what the bot must ignore.

Files are not fetched here: a photo or document comes back as a `FileRef` for the channel to download
under the upload limits. In groups only commands addressed to this bot, and mentions of it, count.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from telegram import CallbackQuery, Message, Update, User
from telegram import Voice as TelegramVoice

from core.messages import Attachment, Contact, Incoming, Location, Voice

CHANNEL = "telegram"
GROUP_TYPES = frozenset({"group", "supergroup"})
_COMMAND = re.compile(r"^(/[A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?(?=\s|$)")


@dataclass(frozen=True, slots=True)
class FileRef:
    file_id: str
    file_size: int | None
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Parsed:
    incoming: Incoming
    file: FileRef | None = None

    def with_attachment(self, data: bytes) -> Incoming:
        assert self.file is not None
        return replace(self.incoming, attachment=Attachment(self.file.filename, self.file.content_type, data))


def _seconds(voice: TelegramVoice) -> int:
    # python-telegram-bot 22 warns about the int/timedelta switch on every read of `duration`.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        duration = voice.duration
    return int(duration.total_seconds()) if isinstance(duration, timedelta) else int(duration)


def message_id(update: Update) -> str:
    return f"u{update.update_id}"


def _common(update: Update, chat_id: int, user: User) -> dict[str, Any]:
    return {
        "channel": CHANNEL, "chat_id": str(chat_id), "user_id": str(user.id),
        "message_id": message_id(update), "language": user.language_code,
        "display_name": (user.first_name or "")[:128] or None, "raw": update.to_dict(),
    }


def parse_callback(update: Update, query: CallbackQuery, button: str) -> Incoming | None:
    """A button press whose data has already been checked (see `callbacks.unpack`)."""
    if query.from_user.is_bot:
        return None
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    return Incoming(**_common(update, chat_id, query.from_user), button=button)


def addressed_text(text: str, bot_username: str) -> str | None:
    """The text of a group message meant for this bot, with the bot's name taken out; None otherwise.
    `/cmd` and `/cmd@thisbot` are meant for it, `/cmd@otherbot` is not; other text only if it
    mentions @thisbot."""
    command = _COMMAND.match(text)
    if command is not None:
        target = command.group(2)
        if target is not None and target.lower() != bot_username.lower():
            return None
        return command.group(1) + text[command.end():]
    mention = re.compile(rf"@{re.escape(bot_username)}\b", re.IGNORECASE)
    if not bot_username or not mention.search(text):
        return None
    return " ".join(mention.sub(" ", text).split())


def parse_message(update: Update, message: Message, bot_username: str) -> Parsed | None:
    user = message.from_user
    if user is None or user.is_bot:
        return None
    common = _common(update, message.chat.id, user)
    if message.chat.type in GROUP_TYPES:
        text = addressed_text(message.text, bot_username) if message.text is not None else None
        return Parsed(Incoming(**common, text=text)) if text is not None else None
    if message.text is not None:
        return Parsed(Incoming(**common, text=message.text))
    if message.contact is not None:
        # The platform vouches for the number only when the shared contact is the sender's own.
        verified = message.contact.user_id is not None and message.contact.user_id == user.id
        return Parsed(Incoming(**common, contact=Contact(message.contact.phone_number[:32], verified)))
    if message.location is not None:
        try:
            location = Location(message.location.latitude, message.location.longitude)
        except ValueError:
            return Parsed(Incoming(**common, text=""))
        return Parsed(Incoming(**common, location=location))
    if message.voice is not None:
        voice = Voice(_seconds(message.voice), f"telegram:{message.voice.file_id}")
        return Parsed(Incoming(**common, voice=voice))
    if message.photo:
        largest = message.photo[-1]
        photo = FileRef(largest.file_id, largest.file_size, "photo.jpg", "image/jpeg")
        return Parsed(Incoming(**common), photo)
    if message.document is not None:
        document = message.document
        return Parsed(Incoming(**common), FileRef(document.file_id, document.file_size,
                                                  (document.file_name or "document")[:128],
                                                  (document.mime_type or "application/octet-stream")[:64]))
    # Stickers, polls, video and the like: answered as an empty message (a polite menu).
    return Parsed(Incoming(**common, text=""))
