"""The outbox's sender for the Zalo Bot API: text ≤ 2,000 characters a message; buttons, which the Bot
API does not have, as a numbered list whose numbers and labels are routed back as presses (see
`buttons`); images with `sendPhoto` from a signed link to our own store; documents and audio as links.
429 backs off; 403 (blocked) marks the user unreachable; other 4xx are permanent; 5xx and network
errors are retried."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from bots.channels.media import own_media_id
from bots.channels.send_parts import PartProgress, Step
from bots.zalo import BOT_CHANNEL, buttons
from bots.zalo.bot_api import BotAPIError, BotClient
from bots.zalo.render import numbered, split_text, with_links
from core.config import Settings
from core.crypto import Hasher
from core.db import Database
from core.i18n import Catalogue
from core.identity import language_of, mark_unreachable
from core.media import media_url
from core.messages import Reply
from core.models import Media
from core.outbox import SendError

CAPTION_LIMIT = 2000


class BotSender:
    name = BOT_CHANNEL

    def __init__(self, client: BotClient, database: Database, hasher: Hasher, settings: Settings,
                 catalogue: Catalogue) -> None:
        self.client = client
        self.database = database
        self.hasher = hasher
        self.catalogue = catalogue
        self.public_url = settings.public_url
        self.per_chat_rate = settings.zalo_per_chat_rate
        self.global_rate = settings.zalo_global_rate
        self._progress = PartProgress()

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        try:
            async with self.database.session() as session:
                steps = await self._steps(session, chat_id, reply)
            await self._progress.run(key, steps)
        except BotAPIError as error:
            if error.code == 429:
                raise SendError("zalobot: too many requests", retry_after=30.0) from None
            if error.code == 403:
                await self._mark_unreachable(chat_id)
                raise SendError("zalobot: 403 forbidden: user marked unreachable", permanent=True) from None
            if 400 <= error.code < 500:
                raise SendError(f"zalobot: {error.code} {error.description}", permanent=True) from None
            raise SendError(f"zalobot: {error.code}") from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SendError(f"zalobot: {type(error).__name__}") from None

    async def _steps(self, session: AsyncSession, chat_id: str, reply: Reply) -> list[Step]:
        lang = await language_of(session, BOT_CHANNEL, chat_id)
        text = reply.text
        photos: list[str] = []
        for kind, url in (("image", reply.image_url), ("document", reply.document_url),
                          ("audio", reply.audio_url)):
            if not url:
                continue
            media_id = own_media_id(url, self.public_url, self.hasher)
            item = await session.get(Media, media_id) if media_id else None
            link = url if item is None else media_url(self.hasher, self.public_url, item.id)
            if kind == "image" and item is not None:
                photos.append(link)
            else:
                text = f"{text}\n{link}" if text else link
        if reply.request_phone:
            text = f"{text}\n\n{self.catalogue.t('zalo.bot_type_phone', lang)}"
        if reply.request_location:
            text = f"{text}\n\n{self.catalogue.t('zalo.share_location_hint', lang)}"
        text = with_links(text, [(button.label, button.url) for button in reply.buttons if button.url])
        choices = [button for button in reply.buttons if not button.url]
        if choices:
            labels = await buttons.remember(session, BOT_CHANNEL, chat_id, choices, numbered=True)
            text = numbered(text, labels, self.catalogue.t("zalo.bot_choose", lang))
        steps: list[Step] = [self._text(chat_id, piece) for piece in split_text(text)] if text.strip() else []
        steps += [self._photo(chat_id, link) for link in photos]
        return steps

    def _text(self, chat_id: str, piece: str) -> Step:
        async def step() -> Any:
            return await self.client.send_message(chat_id, piece)
        return step

    def _photo(self, chat_id: str, link: str) -> Step:
        async def step() -> Any:
            return await self.client.send_photo(chat_id, link)
        return step


    async def _mark_unreachable(self, chat_id: str) -> None:
        async with self.database.session() as session:
            await mark_unreachable(session, BOT_CHANNEL, chat_id)
