"""The Zalo Official Account channel: `POST /zalo/webhook`, processing off the request path, and the
OA sender with its token lifecycle.

Receipt, in this order: body read and parsed as a JSON object with a `timestamp` (400) → signature
`X-ZEvent-Signature` = sha256(app_id + raw body + timestamp + OA secret), with or without `mac=` (401,
no detail) → timestamp within 24 h back and 5 min ahead (400) → stored in the inbox, a repeated
`msg_id` changing nothing → 200. Never a 5xx: an event the database refuses is kept in memory and stored
on retry. The processor then routes it: a text equal to a button sent to that user is its press, images
and files are fetched from Zalo's hosts under the upload limits, a follow says hello, an unfollow marks
the user unreachable, `user_submit_info` is a Zalo-verified phone (and a sealed address).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from sqlalchemy import update

from bots.channels.base import Handler
from bots.web_input import BadInput, parse_json
from bots.zalo import OA_CHANNEL
from bots.zalo.models import ZaloAddress
from bots.zalo.oa_api import OAClient
from bots.zalo.oa_parse import Parsed, event_key, parse_event, user_of
from bots.zalo.oa_sender import OASender
from bots.zalo.receiver import ZaloReceiver
from bots.zalo.tokens import TokenStore, keep_fresh
from core.audit import AuditLog
from core.config import Settings
from core.consent import has_consent
from core.crypto import FieldCipher, Hasher
from core.db import Database
from core.i18n import Catalogue
from core.identity import find_user
from core.metrics import Metrics
from core.models import User, utcnow
from core.outbox import Outbox
from core.security import verify_zalo_signature, zalo_timestamp_fresh

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/zalo/webhook"
SIGNATURE_HEADER = "X-ZEvent-Signature"
_TIMESTAMP = re.compile(r"[0-9]{1,20}")


class OAChannel(ZaloReceiver):
    name: ClassVar[str] = OA_CHANNEL
    outbox_prefix: ClassVar[str | None] = "za"

    def __init__(self, settings: Settings, handle: Handler, *, database: Database, outbox: Outbox,
                 catalogue: Catalogue, hasher: Hasher, cipher: FieldCipher, audit: AuditLog,
                 metrics: Metrics) -> None:
        super().__init__(settings, handle, database=database, outbox=outbox, catalogue=catalogue,
                         metrics=metrics, fetch_hosts=(settings.zalo_api_base,))
        self.cipher = cipher
        self.audit = audit
        self.tokens = TokenStore(database, cipher, settings)
        self.client = OAClient(None, settings.zalo_api_base, self.tokens)
        self.sender = OASender(self.client, database, hasher, settings, catalogue, audit, cipher=cipher)
        self._stop = asyncio.Event()
        self._refresher: asyncio.Task[None] | None = None

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post(WEBHOOK_PATH, self.webhook)]

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(trust_env=False)
        self.tokens.http = self.http
        self.client.http = self.http
        try:
            await self.tokens.seed()
        except Exception:
            log.exception("zalo: the OA tokens could not be seeded")
        self._refresher = asyncio.create_task(keep_fresh(self.tokens, self._stop), name="zalo-tokens")
        self.receipt.start()
        log.info("zalo: Official Account webhook at %s", WEBHOOK_PATH)

    async def close(self) -> None:
        await self.stop_receiving()
        self._stop.set()
        if self._refresher is not None:
            await asyncio.gather(self._refresher, return_exceptions=True)
        await self.close_http()

    # Receipt

    async def webhook(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
            # Text made storable (a lone surrogate or NUL becomes U+FFFD): the signature is over the raw
            # body, and an event stored as parsed would fail at every try in the inbox.
            event = parse_json(body)
        except (BadInput, web.HTTPException):
            return self._refuse("malformed", 400)
        timestamp = event.get("timestamp") if isinstance(event, dict) else None
        if isinstance(timestamp, int) and not isinstance(timestamp, bool):
            timestamp = str(timestamp)
        # ASCII digits, as Zalo sends it (epoch ms), checked before it goes into the signature.
        if not isinstance(event, dict) or not isinstance(timestamp, str) or \
                not _TIMESTAMP.fullmatch(timestamp) or not isinstance(event.get("event_name"), str):
            return self._refuse("malformed", 400)
        secret = self.settings.zalo_oa_secret
        if not verify_zalo_signature(request.headers.get(SIGNATURE_HEADER), self.settings.zalo_app_id, body,
                                     timestamp, secret.get_secret_value() if secret else None):
            return self._refuse("signature", 401)
        if not zalo_timestamp_fresh(timestamp, time.time()):
            return self._refuse("stale", 400)
        await self.receipt.store(event)
        return web.Response(status=200)

    # Processing

    def identify(self, payload: dict[str, Any]) -> tuple[str, str]:
        return event_key(payload), user_of(payload) or ""

    async def handle_stored(self, payload: dict[str, Any]) -> None:
        parsed = parse_event(payload)
        if parsed is None:
            return
        incoming = parsed.incoming
        if parsed.unfollow:
            await self._set_unreachable(incoming.user_id, True)
            await self.audit.record("channel:zalo", "zalo.unfollow", subject=f"zalo:{incoming.user_id[:40]}")
            return
        await self._set_unreachable(incoming.user_id, False)
        if parsed.file is not None:
            fetched = await self._fetch(parsed)
            if fetched is None:
                return
            incoming = fetched
        else:
            incoming = await self.as_button(incoming)
        status = await self.run(incoming)
        if parsed.address and status == "ok":
            await self._keep_address(incoming.user_id, parsed.address)

    async def _fetch(self, parsed: Parsed) -> Any:
        assert parsed.file is not None
        try:
            data = await self.download(parsed.file.url, parsed.file.size)
        except ValueError:
            log.warning("zalo: an attachment outside Zalo's file hosts was ignored")
            return None
        if data is None:
            await self.turns.refuse_too_large(parsed.incoming)
            return None
        return parsed.with_attachment(data)

    async def _set_unreachable(self, user_id: str, unreachable: bool) -> None:
        async with self.database.session() as session:
            await session.execute(update(User).where(User.channel == OA_CHANNEL, User.external_id == user_id,
                                                     User.unreachable.is_not(unreachable))
                                  .values(unreachable=unreachable))

    async def _keep_address(self, zalo_user: str, address: str) -> None:
        """The address from Zalo's form, sealed, once the user has agreed to keep contact details."""
        cipher = self.cipher
        async with self.database.session() as session:
            identity = await find_user(session, OA_CHANNEL, zalo_user)
            if identity is None or not await has_consent(session, identity.id, "contact"):
                return
            row = await session.get(ZaloAddress, identity.id)
            sealed = cipher.encrypt(address, "zalo_addresses.address")
            if row is None:
                session.add(ZaloAddress(user_id=identity.id, address_enc=sealed, updated_at=utcnow()))
            else:
                row.address_enc, row.updated_at = sealed, utcnow()
        await self.audit.record(f"user:{identity.id}", "zalo.address_saved", subject=f"user:{identity.id}")
