"""The web chat channel: the page at /chat and its JSON API (sessions with Bearer tokens, messages,
and notifications pushed later through the outbox). Always on; its answers come back in the HTTP
response, so the pipeline pushes nothing for it (no outbox prefix): only later notices go through the
outbox, into the user's inbox that the page polls."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web
from sqlalchemy import select

from bots.channels.base import Handler
from bots.web_input import BadInput, int64, parse_json, read_json, token_syntax
from bots.web_json import error, json_response
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.db import Database, dialect_of, upsert
from core.i18n import Catalogue
from core.messages import Attachment, Contact, Incoming, Location, Reply
from core.models import ChatSession, User, WebInboxMessage
from core.outbox import SendError
from core.pipeline import Outcome
from core.ratelimit import KeyedLimiter
from core.ttlcache import TTLCache

CHANNEL = "web"
STATIC_DIR = Path(__file__).parent / "static"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MESSAGE_KINDS = ("text", "button", "location", "contact", "attachment")
INBOX_PAGE = 100
# Outcome statuses that are an HTTP error for the API, with their status code.
STATUS_CODES = {"rate_limited": 429, "too_long": 413, "unknown_user": 401}
SESSION_CACHE_SECONDS = 30.0


class WebChat:
    name: ClassVar[str] = CHANNEL
    outbox_prefix: ClassVar[str | None] = None  # answers in the response

    def __init__(self, settings: Settings, handle: Handler, *, database: Database, catalogue: Catalogue,
                 hasher: Hasher, cipher: FieldCipher) -> None:
        self.settings = settings
        self.handle = handle
        self.database = database
        self.catalogue = catalogue
        self.hasher = hasher
        self.cipher = cipher
        self.sender = WebInboxSender(database, cipher)
        # Session creation is cheap to call and makes a user row: limit it per client address.
        self.session_limiter = KeyedLimiter(rate=settings.web_sessions_per_minute / 60.0,
                                            capacity=settings.web_sessions_burst)
        # Token → session, for a few seconds: saves a transaction per message. A stale entry is
        # harmless, since the pipeline refuses a web user who no longer exists.
        self.sessions = TTLCache[WebUser](SESSION_CACHE_SECONDS, max_items=50_000)
        self.static_files = {path.relative_to(STATIC_DIR).as_posix(): path
                             for path in STATIC_DIR.rglob("*") if path.is_file()}

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/chat", self.page),
            web.post("/api/chat/sessions", self.create_session),
            web.post("/api/chat/messages", self.post_message),
            web.get("/api/chat/messages", self.pushed_messages),
            web.get("/static/{name:.+}", self.static_file),
        ]

    async def start(self) -> None:
        pass  # nothing to reach: villagers come to us

    async def stop_receiving(self) -> None:
        pass  # each answer is made inside its own request

    async def close(self) -> None:
        pass

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "chat.html", headers=PAGE_HEADERS)

    async def static_file(self, request: web.Request) -> web.FileResponse:
        """Only the files shipped in bots/static/, looked up by name: no path from the request reaches
        the file system (a 300-character name was an OSError there)."""
        path = self.static_files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})

    def _t(self, key: str, lang: str = "vi", **params: Any) -> str:
        return self.catalogue.t(key, lang, **params)

    async def create_session(self, request: web.Request) -> web.Response:
        if not self.session_limiter.allow(request.remote or "?"):
            return error(429, "rate_limited", self._t("limit.rate"))
        try:
            body = await _json_body(request)
        except BadInput:
            return error(400, "bad_json", self._t("web.bad_json"))
        language = body.get("language") if isinstance(body, dict) else None
        language = language if language in ("vi", "en") else "vi"
        # A commune's own entry link (/chat?commune=SM); otherwise the villager is asked (or, where
        # the installation serves one commune, belongs to it).
        communes = self.settings.served_communes
        commune = body.get("commune") if isinstance(body, dict) else None
        if commune is not None and commune not in communes:
            return error(400, "bad_commune", self._t("web.bad_commune", language))
        if commune is None and len(communes) == 1:
            commune = communes[0]
        token = secrets.token_urlsafe(32)
        external_id = uuid.uuid4().hex
        async with self.database.session() as session:
            user = User(channel=CHANNEL, external_id=external_id, language=language, commune=commune)
            session.add(user)
            await session.flush()
            session.add(ChatSession(token_hash=self.hasher.digest(token), user_id=user.id))
        return json_response({"token": token, "user_id": external_id})

    async def _authenticate(self, request: web.Request) -> WebUser | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        # Our tokens are URL-safe base64 (secrets.token_urlsafe): anything else, raw bytes included, is
        # no session and is never hashed or looked up.
        if scheme.lower() != "bearer" or not token_syntax(token):
            return None
        digest = self.hasher.digest(token)
        cached = self.sessions.get(digest)
        if cached is not None:
            return cached
        async with self.database.session() as session:
            query = select(User.id, User.external_id, User.language).join(
                ChatSession, ChatSession.user_id == User.id).where(ChatSession.token_hash == digest)
            row = (await session.execute(query)).first()
        if row is None:
            return None
        user = WebUser(row.id, row.external_id, row.language)
        self.sessions.put(digest, user)
        return user

    async def post_message(self, request: web.Request) -> web.Response:
        user = await self._authenticate(request)
        if user is None:
            return error(401, "unauthorized", self._t("web.unauthorized"))
        lang = user.language
        try:
            body = await read_json(request)  # text made storable: a lone surrogate or NUL becomes U+FFFD
        except BadInput:
            return error(400, "bad_json", self._t("web.bad_json", lang))
        parsed = self._incoming(body, user, lang)
        if isinstance(parsed, web.Response):
            return parsed
        outcome = await self.handle(parsed)
        return self._respond(outcome)

    def _respond(self, outcome: Outcome) -> web.Response:
        replies = [reply.to_json() for reply in outcome.replies]
        status = STATUS_CODES.get(outcome.status)
        if status is None:
            return json_response({"replies": replies})
        message = outcome.replies[0].text if outcome.replies else ""
        return json_response({"error": outcome.status, "message": message, "replies": replies},
                                 status=status)

    def _incoming(self, body: Any, user: WebUser, lang: str) -> Incoming | web.Response:
        if not isinstance(body, dict):
            return error(400, "bad_request", self._t("web.bad_shape", lang))
        kinds = [kind for kind in MESSAGE_KINDS if kind in body]
        if len(kinds) != 1:
            return error(400, "bad_request", self._t("web.bad_shape", lang))
        client_id = body.get("id")
        common: dict[str, Any] = {
            "channel": CHANNEL, "chat_id": user.external_id, "user_id": user.external_id,
            "message_id": f"{user.external_id}:{client_id}"[:128] if isinstance(client_id, str | int)
            and str(client_id) else None,
            "language": lang,
        }
        try:
            return Incoming(**common, **_payload(kinds[0], body[kinds[0]], self.settings))
        except _TooLarge:
            return error(413, "too_large", self._t("web.too_large", lang))
        except (TypeError, ValueError, KeyError, binascii.Error):
            return error(400, "bad_request", self._t("web.bad_shape", lang))

    async def pushed_messages(self, request: web.Request) -> web.Response:
        user = await self._authenticate(request)
        if user is None:
            return error(401, "unauthorized", self._t("web.unauthorized"))
        after = int64(request.query.get("after", "0"))  # ASCII digits within the id column's BIGINT
        if after is None:
            return error(400, "bad_request", self._t("web.bad_shape", user.language))
        async with self.database.session() as session:
            rows = (await session.execute(
                select(WebInboxMessage).where(WebInboxMessage.user_id == user.id,
                                              WebInboxMessage.id > after)
                .order_by(WebInboxMessage.id).limit(INBOX_PAGE))).scalars()
            messages = [{"id": row.id, **open_inbox(self.cipher, row.payload, row.outbox_key).to_json()}
                        for row in rows]
        return json_response({"messages": messages})


@dataclass(frozen=True, slots=True)
class WebUser:
    id: int
    external_id: str
    language: str


class _TooLarge(ValueError):
    pass


def _payload(kind: str, value: Any, settings: Settings) -> dict[str, Any]:
    """The typed field of `Incoming` for one API body; raises on anything malformed."""
    if kind == "text":
        if not isinstance(value, str):
            raise TypeError("text must be a string")
        return {"text": value}
    if kind == "button":
        if not isinstance(value, str) or not value or len(value) > 256:
            raise ValueError("bad button data")
        return {"button": value}
    if kind == "location":
        return {"location": Location(float(value["lat"]), float(value["lon"]))}
    if kind == "contact":
        phone = value["phone"]
        if not isinstance(phone, str) or len(phone) > 32:
            raise ValueError("bad phone")
        # The web cannot vouch for a number: it is never "verified" here.
        return {"contact": Contact(phone, verified=False)}
    filename, content_type, data = value["filename"], value["content_type"], value["data"]
    if not all(isinstance(part, str) for part in (filename, content_type, data)):
        raise TypeError("attachment fields must be strings")
    if len(data) * 3 // 4 > settings.max_attachment_bytes:
        raise _TooLarge
    raw = base64.b64decode(data, validate=True)
    return {"attachment": Attachment(filename[:128], content_type[:64], raw)}


async def _json_body(request: web.Request) -> Any:
    """The body as JSON, {} when there is none; BadInput when there is one and it is not JSON."""
    body = await request.read() if request.can_read_body else b""
    return parse_json(body) if body.strip() else {}


def seal_inbox(cipher: FieldCipher, reply: Reply, key: str) -> dict[str, Any]:
    """Pushed messages (a doctor's answer, a decision) are sealed at rest like the outbox rows."""
    return {"sealed": cipher.encrypt(json.dumps(reply.to_json(), ensure_ascii=False), f"web_inbox:{key}")}


def open_inbox(cipher: FieldCipher, payload: dict[str, Any], key: str) -> Reply:
    if "sealed" not in payload:
        return Reply.from_json(payload)
    return Reply.from_json(json.loads(cipher.decrypt(payload["sealed"], f"web_inbox:{key}")))


class WebInboxSender:
    """The outbox's sender for the web chat: a pushed message lands in the user's inbox, which the
    page polls. The outbox key is unique there too, so a retried send is stored once."""

    name = CHANNEL
    per_chat_rate = float("inf")
    global_rate = float("inf")

    def __init__(self, database: Database, cipher: FieldCipher) -> None:
        self.database = database
        self.cipher = cipher

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        async with self.database.session() as session:
            user_id = (await session.execute(
                select(User.id).where(User.channel == CHANNEL, User.external_id == chat_id)
            )).scalar_one_or_none()
            if user_id is None:
                raise SendError("web user no longer exists", permanent=True)
            insert = upsert(dialect_of(session))
            await session.execute(insert(WebInboxMessage).values(
                user_id=user_id, outbox_key=key, payload=seal_inbox(self.cipher, reply, key)
            ).on_conflict_do_nothing(index_elements=[WebInboxMessage.outbox_key]))
