"""The outbox's sender for Telegram: renders a `Reply` into Bot API calls and turns Bot API errors into
retry decisions (429 → wait `retry_after`; blocked → permanent, user marked unreachable; network and
5xx → transient; other 4xx → permanent)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InputFile
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bots.channels.media import own_media_id
from bots.channels.send_parts import PartProgress, Step
from bots.telegram import callbacks
from bots.telegram.parse import CHANNEL
from bots.telegram.render import inline_keyboard, request_keyboard, split_text
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.db import Database
from core.i18n import Catalogue
from core.identity import language_of, mark_unreachable
from core.media import media_bytes
from core.messages import Reply, is_web_link
from core.models import Media, OutboxMessage, User
from core.outbox import SendError

log = logging.getLogger(__name__)


class TelegramSender:
    name = CHANNEL

    def __init__(self, bot: Bot, database: Database, hasher: Hasher, settings: Settings,
                 catalogue: Catalogue, *, cipher: FieldCipher) -> None:
        self.bot = bot
        self.database = database
        self.hasher = hasher
        self.cipher = cipher  # sealed files (a /mydata export, health photos) go out opened
        self.catalogue = catalogue
        self.public_url = settings.public_url
        self.per_chat_rate = settings.telegram_per_chat_rate
        self.global_rate = settings.telegram_global_rate
        self.group_rate = settings.telegram_group_per_minute / 60.0
        self._progress = PartProgress()

    def chat_rate(self, chat_id: str) -> float:
        # Group and channel chats have negative ids, and a much lower limit.
        return self.group_rate if chat_id.startswith("-") else self.per_chat_rate

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        try:
            await self._send(int(chat_id), reply, key)
        except RetryAfter as error:
            raise SendError("telegram: too many requests", retry_after=_retry_seconds(error)) from None
        except Forbidden:
            await self._mark_unreachable(chat_id)
            raise SendError("telegram: forbidden (blocked by the user or removed)", permanent=True) from None
        except ChatMigrated:
            raise SendError("telegram: group migrated to a supergroup", permanent=True) from None
        except BadRequest as error:
            raise SendError(f"telegram: bad request: {error.message[:120]}", permanent=True) from None
        except (NetworkError, InvalidToken) as error:
            raise SendError(f"telegram: {type(error).__name__}") from None
        except TelegramError as error:
            raise SendError(f"telegram: {type(error).__name__}") from None

    async def _send(self, chat: int, reply: Reply, key: str) -> None:
        async with self.database.session() as session:
            steps = await self._steps(session, chat, reply, key)
        await self._progress.run(key, steps)

    async def _steps(self, session: AsyncSession, chat: int, reply: Reply, key: str) -> list[Step]:
        media: list[tuple[str, Media]] = []
        text = reply.text
        for kind, url in (("audio", reply.audio_url), ("image", reply.image_url),
                          ("document", reply.document_url)):
            if not url:
                continue
            media_id = own_media_id(url, self.public_url, self.hasher)
            item = await session.get(Media, media_id) if media_id else None
            if item is None:
                # Not ours (or gone): never fetched, shown as a link the user may open.
                text = f"{text}\n{url}" if text else url
            else:
                media.append((kind, item))
        inline = None
        if reply.buttons:
            # Tagged now, for this chat (and in a group for the member the reply is for), so that a
            # button works only where it was sent, however late the outbox sends it (callbacks.py).
            member = await self._member(session, chat, key)
            # Telegram opens only web links from a button; a `tel:` one is pressed and answers the number.
            packed = [(button.label, button.url) if is_web_link(button.url) else
                      (button.label, await callbacks.pack(self.hasher, session, button.data, chat, member))
                      for button in reply.buttons]
            inline = inline_keyboard(packed)
        asking = None
        if reply.request_phone or reply.request_location:
            lang = await language_of(session, CHANNEL, str(chat))
            asking = request_keyboard(
                self.catalogue.t("telegram.share_phone", lang) if reply.request_phone else None,
                self.catalogue.t("telegram.share_location", lang) if reply.request_location else None)
        steps: list[Step] = []
        pieces = split_text(text) if text.strip() else []
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            markup = (inline or asking) if last else None
            steps.append(_bound(self.bot.send_message, chat_id=chat, text=piece, reply_markup=markup))
        if inline is not None and asking is not None:
            lang = await language_of(session, CHANNEL, str(chat))
            steps.append(_bound(self.bot.send_message, chat_id=chat,
                                text=self.catalogue.t("telegram.share_prompt", lang), reply_markup=asking))
        for number, (kind, item) in enumerate(media):
            # With no text to carry them, the keyboard goes on the first media message.
            markup = (inline or asking) if not pieces and number == 0 else None
            steps.append(self._media_step(kind, item, chat, markup))
        return steps

    async def _member(self, session: AsyncSession, chat: int, key: str) -> int | None:
        """In a group, the Telegram user the outbox message `key` answers (its `user_id`); None for what is
        meant for the whole group (broadcasts, replies pushed with no user). Private chats need no look-up:
        the chat is the user."""
        if chat > 0:
            return None
        external = await session.scalar(
            select(User.external_id).join(OutboxMessage, OutboxMessage.user_id == User.id)
            .where(OutboxMessage.key == key, User.channel == CHANNEL))
        return int(external) if external is not None and external.isdigit() else None

    def _media_step(self, kind: str, item: Media, chat: int, markup: Any) -> Step:
        data = media_bytes(item, self.cipher)
        if kind == "audio":
            return _bound(self.bot.send_voice, chat_id=chat, reply_markup=markup,
                          voice=InputFile(data, filename=f"{item.id}.ogg"))
        if kind == "image":
            return _bound(self.bot.send_photo, chat_id=chat, reply_markup=markup,
                          photo=InputFile(data, filename=f"{item.id}.jpg"))
        extension = {"application/pdf": ".pdf", "application/json": ".json"}.get(item.content_type, "")
        return _bound(self.bot.send_document, chat_id=chat, reply_markup=markup,
                      document=InputFile(data, filename=f"{item.id}{extension}"))

    async def _mark_unreachable(self, chat_id: str) -> None:
        # A private chat's id is its user's id; a group that removed the bot marks no one.
        async with self.database.session() as session:
            await mark_unreachable(session, CHANNEL, chat_id)


def _bound(method: Callable[..., Awaitable[Any]], **arguments: Any) -> Step:
    async def step() -> Any:
        return await method(**arguments)
    return step


def _retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
