"""The dashboard over HTTP: login by one-time link, cookie sessions, CSRF, roles, audit, headers.

Every page and action goes through `_staff`, which finds the live session and checks the role on
each request (a role revoked in chat takes effect at once). Every POST carries a synchronizer token
derived from the session (`Hasher.sign`), compared in constant time; a wrong or missing one is 403.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.addresses.hamlets import Hamlets
from backends.stats import start_of_day
from bots.assistant import Assistant
from bots.dashboard import pages, province, store
from bots.dashboard.figures import Layer, Marker, Registry, Section, StatsContext, collect
from bots.dashboard.headline import by_actor
from bots.dashboard.pages import Place, Texts
from bots.dashboard.store import Lifetimes, Staff
from bots.dialogue.base import Services
from bots.web_input import clean_text, int64, read_form, token_syntax
from bots.web_json import json_response
from core.audit import AuditRecord
from core.commune import Point
from core.models import AuditEntry, OutboxMessage, User, utcnow
from core.outbox import DEAD, DeadLetter
from core.timezones import VIETNAM

LANGUAGES = ("vi", "en")
READ_ONLY_ACTIONS = frozenset({"logout"})  # the only POST the province's read-only role may make
AUDIT_COLUMNS = ("seq", "at", "actor", "action", "subject", "outcome", "detail", "prev_hash", "hash")
DEAD_LETTER_PAGE = 200
AUDIT_PAGE = 100
PRE_COOKIE = "xaso_dash_login"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the login link's token must not leak through Referer
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class Scope:
    """What a request may see: one commune (`code`, its services, hamlets and products), or on the
    province's view every commune (`code` None, `several`); on a commune's own installation, all of
    its records (`code` None) as before."""

    code: str | None
    services: Services
    hamlets: Hamlets
    products: frozenset[str] | None = None
    several: bool = False  # the province's view of all its communes

    @property
    def filtered(self) -> bool:
        return self.code is not None


class Dashboard:
    def __init__(self, assistant: Assistant, registry: Registry, lifetimes: Lifetimes | None = None,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.assistant = assistant
        self.services = assistant.services
        self.hasher = assistant.services.hasher
        self.registry = registry
        self.lifetimes = lifetimes or Lifetimes.from_settings(assistant.settings)
        self.clock = clock
        self.hamlets = Hamlets.from_commune(assistant.services.commune)
        # The communes served, the installation's own first (one alone: its own installation).
        self.communes = {local.services.commune.code: local for local in assistant.locals()}
        self.several = len(self.communes) > 1
        self.secure = assistant.settings.public_url.startswith("https://")
        # The __Host- prefix pins the cookie to this host and path /, over HTTPS only.
        self.cookie = "__Host-xaso_dash" if self.secure else "xaso_dash"
        self.pre_cookie = f"__Host-{PRE_COOKIE}" if self.secure else PRE_COOKIE

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/dashboard", self._page(self.overview, "overview")),
            web.get("/dashboard/map", self._page(self.map, "map")),
            web.get("/dashboard/deadletters", self._page(self.dead_letters, "deadletters")),
            web.post("/dashboard/deadletters/{id}/replay", self._action(self.replay, "replay")),
            web.get("/dashboard/audit", self._page(self.audit_log, "audit")),
            web.get("/dashboard/login", self.login_form),
            web.post("/dashboard/login", self.login),
            web.post("/dashboard/logout", self._action(self.logout, "logout")),
            web.get("/api/stats", self.api_stats),
        ]

    # Helpers ---------------------------------------------------------------------------------------

    def texts(self, lang: str) -> Texts:
        return Texts(self.services.catalogue, lang if lang in LANGUAGES else "vi")

    def _html(self, body: str, status: int = 200) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                            headers=self._headers())

    def _headers(self) -> dict[str, str]:
        headers = dict(HEADERS)
        if self.secure:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        return headers

    def _redirect(self, location: str) -> web.Response:
        return web.Response(status=303, headers={**self._headers(), "Location": location})

    def _bad_form(self, lang: str) -> web.Response:
        """A POST whose body is not the form it claims to be (a bad multipart boundary, bytes outside its
        charset): the page's own refusal, 400."""
        return self._html(pages.message_page(self.texts(lang), "dashboard.denied.title",
                                             "dashboard.denied.bad_form"), status=400)

    def csrf_token(self, staff: Staff) -> str:
        return self.hasher.sign(f"dashboard-csrf:{staff.session_hash}")

    def context(self, session: AsyncSession, scope: Scope | None = None) -> StatsContext:
        scope = scope or self.scope_of(None)
        now = self.clock()
        today = now.astimezone(VIETNAM).date()
        day_start = start_of_day(now)  # the same midnight as /stats in chat (backends/stats.py)
        return StatsContext(session=session, services=scope.services, now=now, day_start=day_start,
                            today=today, hamlets=scope.hamlets, commune=scope.code, products=scope.products)

    def scope_of(self, code: str | None) -> Scope:
        """Commune `code`'s view, or (None) every commune's."""
        local = self.communes.get(code) if code is not None else None
        if local is None:
            if not self.several:
                return Scope(None, self.services, self.hamlets)
            hamlets = Hamlets([hamlet for other in self.communes.values()
                               for hamlet in other.services.commune.hamlets])
            return Scope(None, self.services, hamlets, several=True)
        hamlets = self.hamlets if local.services is self.services else Hamlets.from_commune(
            local.services.commune)
        products = local.kit.products
        return Scope(code, local.services, hamlets,
                     frozenset(products.products) if products is not None else frozenset())

    def scope(self, request: web.Request, staff: Staff) -> Scope:
        """The commune a request sees. A commune's staff see theirs whatever the address asks for; the
        province's role chooses one with `?commune=` (none: all); a commune's own installation shows
        what it always showed."""
        if not self.several:
            return self.scope_of(None)
        if staff.province:
            wanted = request.query.get("commune", "")
            return self.scope_of(wanted if wanted in self.communes else None)
        # A staff member belongs to their commune; one with none (a role granted everywhere, never
        # placed) is the installation's own commune's.
        own = staff.commune if staff.commune in self.communes else self.assistant.settings.commune_code
        return self.scope_of(own if own in self.communes else next(iter(self.communes)))

    def place(self, t: Texts, scope: Scope, staff: Staff) -> Place:
        """The name heading each page, and the province's commune filter."""
        if scope.code is None and self.several:
            name = t("dashboard.province.all")
        else:
            name = scope.services.commune.name
        choices = ([(code, local.services.commune.name) for code, local in self.communes.items()]
                   if self.several and staff.province else ())
        return Place(name, choices, scope.code)

    async def audit(self, actor: str, action: str, *, subject: str | None = None, outcome: str = "ok",
                    detail: dict[str, Any] | None = None) -> None:
        await self.services.audit.record(actor, action, subject=subject, outcome=outcome, detail=detail)

    async def _session_of(self, request: web.Request) -> Staff | None:
        session_id = request.cookies.get(self.cookie, "")
        if not token_syntax(session_id):  # ours are URL-safe base64; raw bytes in a cookie are no session
            return None
        async with self.assistant.database.session() as session:
            staff = await store.find_session(session, self.hasher, session_id, self.lifetimes, self.clock())
            if staff is not None:
                wanted = request.query.get("lang")
                if wanted in LANGUAGES and wanted != staff.language:
                    await store.set_language(session, staff.session_hash, wanted)
                    staff = dataclasses.replace(staff, language=wanted)
        return staff

    async def _staff(self, request: web.Request, what: str) -> Staff | web.Response:
        """The staff member behind the request, or the refusal to send: 401 without a live session,
        403 (audited) for a session whose user no longer holds a dashboard role."""
        staff = await self._session_of(request)
        lang = request.query.get("lang", "vi")
        if staff is None:
            return self._html(pages.message_page(self.texts(lang), "dashboard.denied.title",
                                                 "dashboard.denied.login"), status=401)
        if not store.may_open(staff.roles):
            await self.audit(staff.actor, "dashboard.denied", subject=what, outcome="denied")
            return self._html(pages.message_page(self.texts(staff.language), "dashboard.denied.title",
                                                 "dashboard.denied.role"), status=403)
        return staff

    def _page(self, handler: Callable[[web.Request, Staff], Awaitable[web.Response]], what: str
              ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            staff = await self._staff(request, what)
            if isinstance(staff, web.Response):
                return staff
            await self.audit(staff.actor, "dashboard.view", subject=what)
            return await handler(request, staff)
        return guarded

    def _action(self, handler: Callable[[web.Request, Staff], Awaitable[web.Response]], what: str
                ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            staff = await self._staff(request, what)
            if isinstance(staff, web.Response):
                return staff
            form = await read_form(request)
            if form is None:
                return self._bad_form(staff.language)
            token = form.get("csrf")
            expected = f"dashboard-csrf:{staff.session_hash}"
            if not isinstance(token, str) or not self.hasher.verify(expected, token):
                await self.audit(staff.actor, f"dashboard.{what}", outcome="csrf")
                return self._html(pages.message_page(self.texts(staff.language), "dashboard.denied.title",
                                                     "dashboard.denied.csrf"), status=403)
            if staff.province and what not in READ_ONLY_ACTIONS:
                # The province's role reads every commune and changes nothing.
                await self.audit(staff.actor, f"dashboard.{what}", outcome="read_only")
                return self._html(pages.message_page(self.texts(staff.language), "dashboard.denied.title",
                                                     "dashboard.denied.read_only"), status=403)
            return await handler(request, staff)
        return guarded

    async def sections(self, scope: Scope | None = None) -> list[Section]:
        return await collect(self.assistant.database, lambda session: self.context(session, scope),
                             self.registry.figures)

    async def layers(self, scope: Scope | None = None) -> list[Layer]:
        scope = scope or self.scope_of(None)
        if not scope.several:
            return await collect(self.assistant.database, lambda session: self.context(session, scope),
                                 self.registry.layers)
        # The whole province: each commune's layers over its own hamlets, put together.
        merged: dict[str, list[Layer]] = {}
        for code in self.communes:
            for layer in await self.layers(self.scope_of(code)):
                markers = tuple(Marker(f"{code}:{marker.hamlet_id}", marker.count, marker.codes)
                                for marker in layer.markers)
                merged.setdefault(layer.key, []).append(dataclasses.replace(layer, markers=markers))
        return [dataclasses.replace(parts[0], markers=tuple(m for part in parts for m in part.markers),
                                    unplaced=sum(part.unplaced for part in parts))
                for parts in merged.values()]

    async def province_rows(self, t: Texts) -> tuple[list[province.CommuneRow], province.CommuneRow]:
        async with self.assistant.database.session() as session:
            rows = await province.commune_rows(
                session, [(code, local.services.commune.name) for code, local in self.communes.items()],
                self.clock())
        return rows, province.total(rows, t("dashboard.province.all"))

    # Login -----------------------------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.Response:
        """Shows a button rather than logging in on GET: chat apps fetch links for previews, and
        that must not spend the link."""
        t = self.texts(request.query.get("lang", "vi"))
        token = request.query.get("token", "")
        if not token or len(token) > 128:
            return self._html(pages.message_page(t, "dashboard.denied.title", "dashboard.login.bad"), 403)
        pre = secrets.token_urlsafe(24)
        response = self._html(pages.login_page(t, token, self.hasher.sign(f"dashboard-login:{pre}")))
        response.set_cookie(self.pre_cookie, pre, max_age=int(self.lifetimes.link.total_seconds()), path="/",
                            httponly=True, samesite="Strict", secure=self.secure)
        return response

    async def login(self, request: web.Request) -> web.Response:
        form = await read_form(request)
        if form is None:
            return self._bad_form(request.query.get("lang", "vi"))
        t = self.texts(request.query.get("lang", "vi"))
        pre = request.cookies.get(self.pre_cookie, "")
        csrf, token = form.get("csrf"), form.get("token")
        if not token_syntax(pre) or not isinstance(csrf, str) or \
                not self.hasher.verify(f"dashboard-login:{pre}", csrf):
            await self.audit("web:?", "dashboard.login", outcome="csrf")
            return self._html(pages.message_page(t, "dashboard.denied.title", "dashboard.denied.csrf"), 403)
        if not isinstance(token, str) or not token or len(token) > 128:
            return self._html(pages.message_page(t, "dashboard.denied.title", "dashboard.login.bad"), 403)
        async with self.assistant.database.session() as session:
            user_id, outcome = await store.use_link(session, self.hasher, token, self.clock())
            roles = await store.roles_of(session, user_id) if user_id is not None else frozenset()
            if outcome == "ok" and not store.may_open(roles):
                outcome = "role"
            session_id = None
            if outcome == "ok" and user_id is not None:
                session_id = await store.open_session(session, self.hasher, user_id, self.lifetimes,
                                                      self.clock())
        actor = f"user:{user_id}" if user_id is not None else "web:?"
        await self.audit(actor, "dashboard.login", outcome="ok" if session_id else "denied",
                         detail={"reason": outcome})
        if session_id is None:
            key = "dashboard.denied.role" if outcome == "role" else "dashboard.login.bad"
            return self._html(pages.message_page(t, "dashboard.denied.title", key), 403)
        response = self._redirect("/dashboard")
        response.set_cookie(self.cookie, session_id, path="/", httponly=True, samesite="Strict",
                            secure=self.secure)
        response.del_cookie(self.pre_cookie, path="/")
        return response

    async def logout(self, request: web.Request, staff: Staff) -> web.Response:
        async with self.assistant.database.session() as session:
            await store.end_session(session, staff.session_hash, self.clock())
        await self.audit(staff.actor, "dashboard.logout")
        response = self._html(pages.message_page(self.texts(staff.language), "dashboard.logout.title",
                                                 "dashboard.logout.done"))
        response.del_cookie(self.cookie, path="/")
        return response

    # Pages -----------------------------------------------------------------------------------------

    async def overview(self, request: web.Request, staff: Staff) -> web.Response:
        t = self.texts(staff.language)
        scope = self.scope(request, staff)
        generated = self.clock().astimezone(VIETNAM).strftime(pages.TIME_FORMAT)
        body = pages.overview(t, await self.sections(scope), generated)
        if scope.several:  # the province's view: its communes side by side first
            body = pages.province_table(t, *await self.province_rows(t)) + body
        return self._html(pages.layout(t, title=t("dashboard.nav.overview"), body=body, active="overview",
                                       csrf=self.csrf_token(staff), place=self.place(t, scope, staff),
                                       head='<meta http-equiv="refresh" content="120">'))

    def hamlet_features(self, scope: Scope | None = None) -> list[dict[str, Any]]:
        """The hamlets' outlines; on the province's view every commune's, their ids prefixed with the
        commune's code (two communes may name a hamlet alike) and their names followed by it."""
        if scope is None or not scope.several:
            hamlets = [("", hamlet) for hamlet in (scope.hamlets if scope is not None else self.hamlets)]
        else:
            hamlets = [(code, hamlet) for code, local in self.communes.items()
                       for hamlet in local.services.commune.hamlets]
        names = {code: local.services.commune.name for code, local in self.communes.items()}
        return [{"id": f"{code}:{hamlet.id}" if code else hamlet.id,
                 "name": f"{hamlet.name} · {names[code]}" if code else hamlet.name,
                 **({"commune": names[code]} if code else {}),
                 "centre": list(hamlet.centre()) if hamlet.polygon else None,
                 "geometry": _geojson(hamlet.polygon) if hamlet.polygon else None}
                for code, hamlet in hamlets]

    async def map(self, request: web.Request, staff: Staff) -> web.Response:
        t = self.texts(staff.language)
        scope = self.scope(request, staff)
        body = pages.map_body(t, self.hamlet_features(scope), await self.layers(scope))
        return self._html(pages.layout(
            t, title=t("dashboard.nav.map"), body=body, active="map", csrf=self.csrf_token(staff),
            head='<link rel="stylesheet" href="/static/leaflet/leaflet.css">',
            scripts=("/static/leaflet/leaflet.js", "/static/dashboard-map.js"),
            place=self.place(t, scope, staff)))

    async def dead_letters_of(self, scope: Scope) -> list[DeadLetter]:
        """The dead letters a commune's staff may see and replay: those to its people."""
        if not scope.filtered:
            return await self.services.outbox.dead_letters(limit=DEAD_LETTER_PAGE)
        async with self.assistant.database.session() as session:
            rows = (await session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.status == DEAD,
                    OutboxMessage.user_id.in_(select(User.id).where(User.commune == scope.code)))
                .order_by(OutboxMessage.id).limit(DEAD_LETTER_PAGE))).scalars().all()
        outbox = self.services.outbox
        return [DeadLetter(row.id, row.key, row.channel, row.chat_id, row.user_id,
                           outbox.reply_of(row.payload, row.key), row.attempts, row.last_error,
                           row.created_at) for row in rows]

    async def dead_letters(self, request: web.Request, staff: Staff) -> web.Response:
        t = self.texts(staff.language)
        scope = self.scope(request, staff)
        letters = await self.dead_letters_of(scope)
        replayed = request.query.get("replayed")
        body = pages.dead_letters_body(t, letters, None if staff.province else self.csrf_token(staff),
                                       replayed if replayed and replayed.isdigit() else None)
        return self._html(pages.layout(t, title=t("dashboard.nav.deadletters"), body=body,
                                       active="deadletters", csrf=self.csrf_token(staff),
                                       place=self.place(t, scope, staff)))

    async def replay(self, request: web.Request, staff: Staff) -> web.Response:
        raw = request.match_info["id"]
        if int64(raw) is None:  # ASCII digits only: "²".isdigit() is true, int("²") is an error
            raise web.HTTPNotFound()
        scope = self.scope(request, staff)
        dead = await self.dead_letters_of(scope)
        letters = {letter.id: letter for letter in dead}
        # Another commune's letter is answered as one that is not dead.
        replayed = (not scope.filtered or int(raw) in letters) and await self.services.outbox.replay(int(raw))
        await self.audit(staff.actor, "outbox.replay", subject=f"outbox:{raw}",
                         outcome="ok" if replayed else "not_dead")
        if replayed and int(raw) in letters:
            await self.services.outbox.wake(letters[int(raw)].channel)
        if not replayed:
            t = self.texts(staff.language)
            return self._html(pages.message_page(t, "dashboard.nav.deadletters",
                                                 "dashboard.deadletters.not_dead", id=raw), 404)
        return self._redirect(f"/dashboard/deadletters?replayed={raw}")

    async def audit_log(self, request: web.Request, staff: Staff) -> web.Response:
        t = self.texts(staff.language)
        # Cleaned: NUL in a query is refused by PostgreSQL.
        actor = clean_text(request.query.get("actor", "").strip()[:64])
        action = clean_text(request.query.get("action", "").strip()[:64])
        checker = self.registry.extra.get("audit")  # providers.AuditFigures: refresh its cached verdict too
        verdict = (await checker.verdict(self.services.audit, fresh=True) if checker is not None
                   else await self.services.audit.verify())
        scope = self.scope(request, staff)
        entries = await self.audit_entries(scope, actor or None, action or None)
        body = pages.audit_body(t, verdict, entries, actor, action)
        return self._html(pages.layout(t, title=t("dashboard.nav.audit"), body=body, active="audit",
                                       csrf=self.csrf_token(staff), place=self.place(t, scope, staff)))

    async def audit_entries(self, scope: Scope, actor: str | None, action: str | None) -> list[AuditRecord]:
        """The newest entries; a commune's staff see those its people wrote (the chain is checked whole)."""
        if not scope.filtered:
            return await self.services.audit.entries(actor=actor, action=action, limit=AUDIT_PAGE)
        query = (select(*(getattr(AuditEntry, name) for name in AUDIT_COLUMNS))
                 .where(*by_actor(scope.code)).order_by(AuditEntry.seq.desc()).limit(AUDIT_PAGE))
        if actor is not None:
            query = query.where(AuditEntry.actor == actor)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        async with self.assistant.database.session() as session:
            rows = (await session.execute(query)).mappings().all()
        return [AuditRecord(**row) for row in rows]

    # JSON ------------------------------------------------------------------------------------------

    async def api_stats(self, request: web.Request) -> web.Response:
        """The overview's figures as JSON, for the dashboard session (the cookie) only."""
        staff = await self._session_of(request)
        if staff is None:
            return self._json({"error": "unauthorized"}, 401)
        if not store.may_open(staff.roles):
            await self.audit(staff.actor, "dashboard.denied", subject="api_stats", outcome="denied")
            return self._json({"error": "forbidden"}, 403)
        scope = self.scope(request, staff)
        t = self.texts(staff.language)
        sections, layers = await self.sections(scope), await self.layers(scope)
        data: dict[str, Any] = {
            "generated_at": self.clock().isoformat(timespec="seconds"),
            "commune": self.place(t, scope, staff).name,
            "code": scope.code,
            "sections": {section.key: section.to_json() for section in sections},
            "map": {"hamlets": [hamlet["id"] for hamlet in self.hamlet_features(scope)],
                    "layers": {layer.key: layer.to_json() for layer in layers}},
        }
        if scope.several:
            rows, _ = await self.province_rows(t)
            data["communes"] = {row.code: {column: getattr(row, column) for column in pages.PROVINCE_COLUMNS}
                                for row in rows}
        return self._json(data)

    def _json(self, data: Any, status: int = 200) -> web.Response:
        response = json_response(data, status)
        response.headers.update(self._headers())
        return response


def _geojson(polygon: tuple[Point, ...]) -> dict[str, Any]:
    """A hamlet's outline as a GeoJSON polygon: [longitude, latitude] pairs, the ring closed."""
    return {"type": "Polygon", "coordinates": [[[lon, lat] for lat, lon in (*polygon, polygon[0])]]}
