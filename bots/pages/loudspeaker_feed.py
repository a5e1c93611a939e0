"""`GET /loudspeaker/feed?commune=CODE&hamlet=ID`: what a hamlet's loudspeakers should play, as the signed
envelopes themselves (oldest first). Each envelope's document carries the text, the audience, the
publication time, and the audio's URL and SHA-256, so a speaker plays only audio the commune signed for.

Each commune of the installation has its own feed, of its own announcements, signed with its own key:
`commune` is its code (the installation's own commune when absent, so that a single commune's speakers
keep their `?hamlet=` address) and `hamlet` one of its hamlets."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from cryptography import x509
from sqlalchemy import select

from backends.loudspeaker.store import published
from bots.assistant import Assistant
from bots.dialogue.base import Services
from bots.services.announcements.scheduler import hamlets
from bots.web_json import error, json_response
from core.models import utcnow
from core.signing import SignedDocumentRow
from core.signing.keys import Keyring

log = logging.getLogger(__name__)
FEED_FORMAT = "xaso-loudspeaker-feed/1"
FEED_SIZE = 20


class LoudspeakerFeed:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/loudspeaker/feed", self.feed)]

    def _services(self, code: str | None) -> Services | None:
        """The commune's services by its code; the installation's own commune's without one."""
        if code is None:
            return self.assistant.services
        local = self.assistant.communes.get(code.upper())
        return local.services if local is not None else None

    async def feed(self, request: web.Request) -> web.Response:
        home = self.assistant.services
        services = self._services(request.query.get("commune") or None)
        if services is None:
            return error(400, "unknown_commune", home.catalogue.t("announce.feed.unknown_commune"))
        hamlet = request.query.get("hamlet") or None
        if hamlet is not None and hamlet not in hamlets(services):
            return error(400, "unknown_hamlet", services.catalogue.t("announce.feed.unknown_hamlet"))
        now = utcnow()
        async with self.assistant.database.session() as session:
            rows = await published(session, commune=services.commune.code, hamlets=[hamlet] if hamlet else [],
                                   limit=FEED_SIZE)
            rows = [row for row in rows if row.publish_at <= now]
            codes = [row.code for row in rows]
            envelopes = {code: text for code, text in (await session.execute(
                select(SignedDocumentRow.code, SignedDocumentRow.envelope)
                .where(SignedDocumentRow.code.in_(codes)))).all()} if codes else {}
        entries: list[dict[str, Any]] = [json.loads(envelopes[row.code]) for row in reversed(rows)
                                         if row.code in envelopes]
        entries = [entry for entry in entries if _signed_by(services.keyring, entry)]
        response = json_response({"format": FEED_FORMAT, "commune": services.commune.name,
                                  "hamlet": hamlet, "entries": entries})
        response.headers["Cache-Control"] = "no-cache"
        return response


def _signed_by(keyring: Keyring, entry: dict[str, Any]) -> bool:
    """Whether the commune's own key (current or retired) signed the entry, as far as this installation
    knows its keys: a speaker trusts one commune's root, and an entry another key signed would only be
    refused there. The speaker checks the signature itself."""
    if not keyring.signer_subjects:
        return True  # its keys are not loaded: nothing to tell them by
    try:
        subject = x509.load_pem_x509_certificate(str(entry["certificate"]).encode("ascii")).subject
    except (KeyError, ValueError, UnicodeEncodeError):
        log.warning("feed entry %s has no readable certificate: left out", entry.get("code"))
        return False
    if subject.rfc4514_string() in keyring.signer_subjects:
        return True
    log.warning("feed entry %s was not signed with its commune's key: left out", entry.get("code"))
    return False
