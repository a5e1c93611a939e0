"""The outbox's sender for the Zalo OA: renders a `Reply` into customer-service messages and turns Zalo
error codes into retry decisions.

- text ≤ 2,000 characters a message, split; buttons as `oa.query.show` (five a message), recorded first
  (see `buttons`) so that what they send back is routed as their press;
- images (≤ 1 MB) through the image upload, documents and audio (≤ 5 MB) through the file upload; a
  bigger one, or media not from our own store, goes as a link;
- `request_phone` → the `request_user_info` template; `request_location` → a hint in the text;
- -213 (not following), -230/-232 (outside the interaction window): the user is marked unreachable,
  audited, and the message is dead-lettered with that reason for staff to see; -32 backs off a minute;
  -216/-220 were refreshed and retried once by the client; -201 and other client errors are permanent.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from bots.channels.media import own_media_id
from bots.channels.send_parts import PartProgress, Step
from bots.zalo import OA_CHANNEL, buttons
from bots.zalo.oa_api import OAClient, ZaloAPIError
from bots.zalo.render import groups, link_button, query_buttons, split_text
from bots.zalo.tokens import TokenError
from core.audit import AuditLog
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.db import Database
from core.i18n import Catalogue
from core.identity import language_of, mark_unreachable
from core.media import media_bytes, media_url
from core.messages import Reply
from core.models import Media
from core.outbox import SendError

log = logging.getLogger(__name__)
UNREACHABLE = {-213: "user does not follow the OA", -230: "outside the interaction window",
               -232: "outside the interaction window"}
RATE_LIMITED = -32
RATE_BACKOFF = 60.0
IMAGE_LIMIT = 1024 * 1024
FILE_LIMIT = 5 * 1024 * 1024
EXTENSIONS = {"application/pdf": ".pdf", "application/json": ".json", "audio/ogg": ".ogg",
              "audio/mpeg": ".mp3", "image/jpeg": ".jpg", "image/png": ".png"}


class OASender:
    name = OA_CHANNEL

    def __init__(self, client: OAClient, database: Database, hasher: Hasher, settings: Settings,
                 catalogue: Catalogue, audit: AuditLog, *, cipher: FieldCipher) -> None:
        self.client = client
        self.database = database
        self.hasher = hasher
        self.cipher = cipher  # sealed files (a /mydata export, health photos) go out opened
        self.catalogue = catalogue
        self.audit = audit
        self.public_url = settings.public_url
        self.per_chat_rate = settings.zalo_per_chat_rate
        self.global_rate = settings.zalo_global_rate
        self._progress = PartProgress()

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        try:
            await self._send(chat_id, reply, key)
        except ZaloAPIError as error:
            if error.code in UNREACHABLE:
                await self._mark_unreachable(chat_id, error.code)
                raise SendError(f"zalo: {error.code} {UNREACHABLE[error.code]}: user marked unreachable",
                                permanent=True) from None
            if error.code == RATE_LIMITED:
                raise SendError("zalo: -32 rate limit", retry_after=RATE_BACKOFF) from None
            if error.code in (-216, -220):
                raise SendError(f"zalo: {error.code} access token refused") from None
            raise SendError(f"zalo: {error.code} {error.message}", permanent=True) from None
        except TokenError as problem:
            raise SendError(f"zalo: {problem}") from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SendError(f"zalo: {type(error).__name__}") from None

    async def _send(self, chat_id: str, reply: Reply, key: str) -> None:
        async with self.database.session() as session:
            steps = await self._steps(session, chat_id, reply)
        await self._progress.run(key, steps)

    async def _steps(self, session: AsyncSession, chat_id: str, reply: Reply) -> list[Step]:
        lang = await language_of(session, OA_CHANNEL, chat_id)
        text = reply.text
        media: list[tuple[str, Media]] = []
        for kind, url in (("image", reply.image_url), ("document", reply.document_url),
                          ("audio", reply.audio_url)):
            if not url:
                continue
            media_id = own_media_id(url, self.public_url, self.hasher)
            item = await session.get(Media, media_id) if media_id else None
            limit = IMAGE_LIMIT if kind == "image" else FILE_LIMIT
            if item is None or (item.size > limit and not (kind == "image" and item.size <= FILE_LIMIT)):
                # Not ours, or too big for Zalo: a link the user may open.
                link = url if item is None else media_url(self.hasher, self.public_url, item.id)
                text = f"{text}\n{link}" if text else link
            else:
                media.append((kind, item))
        if reply.request_location:
            hint = self.catalogue.t("zalo.share_location_hint", lang)
            text = f"{text}\n\n{hint}" if text else hint
        choices = [button for button in reply.buttons if not button.url]
        labels = await buttons.remember(session, OA_CHANNEL, chat_id, choices) if choices else []
        # A link button (a payment page) opens its address; the others send their label back.
        button_groups = groups([*query_buttons(labels), *(link_button(button.label, button.url)
                                                         for button in reply.buttons if button.url)])
        steps: list[Step] = []
        pieces = split_text(text) if text.strip() else []
        for number, piece in enumerate(pieces):
            message: dict[str, Any] = {"text": piece}
            if number == len(pieces) - 1 and button_groups:
                message["attachment"] = _buttons(button_groups[0])
            steps.append(self._message(chat_id, message))
        start = 1 if pieces else 0
        for group in button_groups[start:]:
            steps.append(self._message(chat_id, {"text": self.catalogue.t("zalo.more_choices", lang),
                                                 "attachment": _buttons(group)}))
        for kind, item in media:
            steps.append(self._media_step(chat_id, kind, item))
        if reply.request_phone:
            steps.append(self._message(chat_id, {"attachment": {"type": "template", "payload": {
                "template_type": "request_user_info", "elements": [{
                    "title": self.catalogue.t("zalo.request_info_title", lang),
                    "subtitle": self.catalogue.t("zalo.request_info_subtitle", lang)}]}}}))
        return steps

    def _message(self, chat_id: str, message: dict[str, Any]) -> Step:
        async def step() -> Any:
            return await self.client.send(chat_id, message)
        return step

    def _media_step(self, chat_id: str, kind: str, item: Media) -> Step:
        filename = f"{item.id}{EXTENSIONS.get(item.content_type, '')}"
        data = media_bytes(item, self.cipher)

        async def step() -> Any:
            if kind == "image" and item.size <= IMAGE_LIMIT:
                attachment_id = await self.client.upload("image", filename, data, item.content_type)
                return await self.client.send(chat_id, {"attachment": {"type": "template", "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "image", "attachment_id": attachment_id}]}}})
            token = await self.client.upload("file", filename, data, item.content_type)
            return await self.client.send(chat_id, {"attachment": {"type": "file",
                                                                   "payload": {"token": token}}})
        return step


    async def _mark_unreachable(self, chat_id: str, code: int) -> None:
        async with self.database.session() as session:
            found = await mark_unreachable(session, OA_CHANNEL, chat_id)
        try:
            await self.audit.record("channel:zalo", "zalo.unreachable",
                                    subject=f"user:{found}" if found is not None else None, outcome="fail",
                                    detail={"code": code, "reason": "not_following" if code == -213
                                            else "outside_window"})
        except Exception:
            log.exception("zalo: the unreachable user could not be audited")


def _buttons(group: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "template", "payload": {"buttons": group}}
