"""`POST /hooks/{source}`: events from other systems, signed with Standard Webhooks 1.0 (SECURITY.md).

In order: the source must be known (else 404) and have a secret (else 401); the signature and the
timestamp are checked on the raw body before anything parses it (401, no detail, counted in
`xaso_webhook_rejections`); then the body must be a JSON object (400). A delivery is handled once: its
`webhook-id` is recorded as a ProcessedMessage (`hook:{source}`) in the transaction of its effect, so a
repeat gets 200 and changes nothing, and a refused one (422) leaves no record and is refused again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bots.assistant import Assistant
from bots.web_input import BadInput, parse_json
from bots.web_json import json_response, refusal
from core.db import dialect_of, upsert
from core.messages import Incoming
from core.models import ProcessedMessage
from core.pipeline import AuditNote, Turn
from core.security import verify_standard_webhook

log = logging.getLogger(__name__)
MAX_HOOK_BYTES = 256 * 1024
MAX_WEBHOOK_ID_CHARS = 128  # ProcessedMessage.message_id


class HookRefused(Exception):
    """What the sending system must hear about (an unknown dossier, an impossible move): a 4xx with a
    short JSON error. Raised inside the delivery's transaction, which is rolled back."""

    def __init__(self, status: int, error: str, **detail: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


class HookSource(Protocol):
    """One system that may call us. `handle` runs in the delivery's transaction; `turn.audit` notes are
    written once it is over; the returned dict is added to the 200 answer."""

    async def handle(self, turn: Turn, payload: dict[str, Any]) -> dict[str, Any]: ...


async def first_delivery(session: AsyncSession, channel: str, message_id: str) -> bool:
    insert = upsert(dialect_of(session))
    statement = (insert(ProcessedMessage).values(channel=channel, message_id=message_id)
                 .on_conflict_do_nothing())
    return (await session.execute(statement)).rowcount == 1


class HookReceiver:
    def __init__(self, assistant: Assistant, sources: Mapping[str, HookSource],
                 clock: Callable[[], float] = time.time) -> None:
        self.assistant = assistant
        self.sources = dict(sources)
        self.clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/hooks/{source}", self.receive)]

    def _refuse(self, source: str, reason: str, status: int) -> web.Response:
        self.assistant.metrics.webhook_rejections.labels(source=source, reason=reason).inc()
        return refusal(status)

    async def receive(self, request: web.Request) -> web.Response:
        name = request.match_info["source"]
        source = self.sources.get(name)
        if source is None:
            return self._refuse("unknown", "unknown_source", 404)  # the label is ours, not the caller's
        secret = self.assistant.settings.hook_secrets.get(name)
        if secret is None:
            return self._refuse(name, "no_secret", 401)
        if (request.content_length or 0) > MAX_HOOK_BYTES:
            return self._refuse(name, "too_large", 413)
        body = await request.read()
        if len(body) > MAX_HOOK_BYTES:
            return self._refuse(name, "too_large", 413)
        if not verify_standard_webhook(request.headers, body, secret.get_secret_value(), self.clock()):
            return self._refuse(name, "signature", 401)
        payload = _json_object(body)
        webhook_id = request.headers["webhook-id"]
        if payload is None or len(webhook_id) > MAX_WEBHOOK_ID_CHARS:
            self.assistant.metrics.webhook_rejections.labels(source=name, reason="malformed").inc()
            return json_response({"error": "malformed"}, status=400)
        return await self._deliver(name, source, webhook_id, payload)

    async def _deliver(self, name: str, source: HookSource, webhook_id: str,
                       payload: dict[str, Any]) -> web.Response:
        notes: list[AuditNote] = []
        try:
            async with self.assistant.database.session() as session:
                if not await first_delivery(session, f"hook:{name}", webhook_id):
                    return json_response({"status": "duplicate"})
                incoming = Incoming(channel=f"hook:{name}", chat_id=name, user_id=name, message_id=webhook_id)
                answer = await source.handle(Turn(incoming, session, audit_notes=notes), payload)
        except HookRefused as refused:
            return json_response({"error": refused.error, **refused.detail}, status=refused.status)
        finally:
            await self._audit(notes)
        return json_response({"status": "ok", **answer})

    async def _audit(self, notes: list[AuditNote]) -> None:
        for note in notes:
            try:
                await self.assistant.services.audit.record(note.actor, note.action, subject=note.subject,
                                                           outcome=note.outcome, detail=note.detail)
            except Exception:
                log.exception("audit entry for a webhook could not be written")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        loaded = parse_json(body)  # text made storable: a lone surrogate or NUL becomes U+FFFD
    except BadInput:
        return None
    return loaded if isinstance(loaded, dict) else None
