"""`GET /loudspeaker/feed?hamlet=ID`: what a hamlet's loudspeakers should play, as the signed envelopes
themselves (oldest first). Each envelope's document carries the text, the audience, the publication
time, and the audio's URL and SHA-256, so a speaker plays only audio the commune signed for."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlalchemy import select

from backends.loudspeaker.store import published
from bots.assistant import Assistant
from bots.services.announcements.scheduler import hamlets
from bots.web_json import error, json_response
from core.models import utcnow
from core.signing import SignedDocumentRow

FEED_FORMAT = "xaso-loudspeaker-feed/1"
FEED_SIZE = 20


class LoudspeakerFeed:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/loudspeaker/feed", self.feed)]

    async def feed(self, request: web.Request) -> web.Response:
        services = self.assistant.services
        hamlet = request.query.get("hamlet") or None
        if hamlet is not None and hamlet not in hamlets(services):
            return error(400, "unknown_hamlet", services.catalogue.t("announce.feed.unknown_hamlet"))
        now = utcnow()
        async with self.assistant.database.session() as session:
            rows = await published(session, hamlets=[hamlet] if hamlet else [], limit=FEED_SIZE)
            rows = [row for row in rows if row.publish_at <= now]
            codes = [row.code for row in rows]
            envelopes = {code: text for code, text in (await session.execute(
                select(SignedDocumentRow.code, SignedDocumentRow.envelope)
                .where(SignedDocumentRow.code.in_(codes)))).all()} if codes else {}
        entries: list[dict[str, Any]] = [json.loads(envelopes[row.code]) for row in reversed(rows)
                                         if row.code in envelopes]
        response = json_response({"format": FEED_FORMAT, "commune": services.commune.name,
                                  "hamlet": hamlet, "entries": entries})
        response.headers["Cache-Control"] = "no-cache"
        return response
