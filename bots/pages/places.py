"""The audio-guide page a place's QR poster opens: `GET /places/{id}` (`?lang=vi|en`, else the browser's
language), its text, photo and voice (`GET /places/{id}/audio?lang=…`, MP3 spoken by the configured
engine, cached). Made for a slow connection on a cheap phone: one small HTML page with its style inline,
no script, no font and nothing from outside (the map is a plain link); the voice loads only when played.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from backends.loudspeaker.tts import TTSUnavailable
from backends.tourism.places import Place
from backends.tourism.store import count_view
from bots.assistant import Assistant
from bots.pages.pictures import Pictures
from bots.services.tourism.guide import map_url
from core.i18n import Catalogue
from core.models import utcnow
from core.timezones import VIETNAM

LANGS = ("vi", "en")
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; "
                               "style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=3600",
}


class PlacePages:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        # Every served commune's places (a province's are shared; a commune's own add to them).
        self.places: dict[str, Place] = {}
        for local in assistant.locals():
            self.places.update(local.kit.tourism.places)
        self.catalogue: Catalogue = assistant.services.catalogue

    def photos(self) -> Pictures:
        """`GET /tourism/img/{name}`: the photos the places and homestays name."""
        return Pictures("/tourism/img", {name: path for local in self.assistant.locals()
                                         for name, path in local.kit.tourism.photo_files().items()})

    async def _count(self, place: Place, kind: str) -> None:
        """A page or a voice opened (a poster's QR scanned), counted for the installation's commune."""
        async with self.assistant.database.session() as session:
            commune = self.assistant.services.commune.code
            await count_view(session, utcnow().astimezone(VIETNAM).date(), commune, kind, place.id)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/places/{place}/audio", self.audio), web.get("/places/{place}", self.page)]

    def _lang(self, request: web.Request) -> str:
        asked = request.query.get("lang")
        if asked in LANGS:
            return asked
        accepted = request.headers.get("Accept-Language", "").lower()
        return "en" if accepted.startswith("en") else "vi"

    async def page(self, request: web.Request) -> web.Response:
        lang = self._lang(request)
        place = self.places.get(request.match_info["place"])
        t = self.catalogue.t
        if place is None:
            missing = t("tourism.page.not_found", lang)
            return _html(404, lang, missing, f"<p>{escape(missing)}</p>")
        await self._count(place, "page")
        other = "en" if lang == "vi" else "vi"
        photo = f'<img src="/tourism/img/{escape(place.photo)}" alt="" width="640">' if place.photo else ""
        switch = escape(t("tourism.page.other_language", lang))
        body = f"""<p class="lang"><a href="/places/{place.id}?lang={other}">{switch}</a></p>
<h1>{escape(place.title(lang))}</h1>
{photo}
<p class="summary">{escape(place.text(place.summary, lang))}</p>
<h2>🎧 {escape(t('tourism.page.listen', lang))}</h2>
<audio controls preload="none" src="/places/{place.id}/audio?lang={lang}"></audio>
<p>{escape(place.text(place.story, lang))}</p>
<table>
<tr><th>{escape(t('tourism.page.where', lang))}</th><td>{escape(place.text(place.area, lang))}</td></tr>
<tr><th>{escape(t('tourism.page.hours', lang))}</th><td>{escape(place.text(place.hours, lang))}</td></tr>
<tr><th>{escape(t('tourism.page.ticket', lang))}</th><td>{escape(place.text(place.ticket, lang))}</td></tr>
</table>
<p><a href="{escape(map_url(place))}" rel="noopener noreferrer">🗺 {escape(t("tourism.page.map", lang))}</a>
</p>"""
        return _html(200, lang, place.title(lang), body)

    async def audio(self, request: web.Request) -> web.Response:
        place = self.places.get(request.match_info["place"])
        speech = self.assistant.services.speech
        if place is None or speech is None:
            raise web.HTTPNotFound()
        lang = self._lang(request)
        await self._count(place, "audio")
        try:
            spoken = await speech.speak(f"{place.title(lang)}. {place.text(place.story, lang)}", lang)
        except TTSUnavailable:
            raise web.HTTPServiceUnavailable(text="speech unavailable") from None
        return web.Response(body=spoken.mp3, content_type="audio/mpeg", headers={
            "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})


def _html(status: int, lang: str, title: str, body: str) -> web.Response:
    page = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:40rem;margin:0 auto;padding:.5rem 1rem 2rem;line-height:1.5;
font-size:1.1rem;color:#111}}h1{{font-size:1.5rem;margin:.3rem 0}}h2{{font-size:1.15rem}}
img{{max-width:100%;height:auto;border-radius:.4rem}}audio{{width:100%}}.summary{{font-weight:bold}}
.lang{{text-align:right;margin:0}}th{{text-align:left;vertical-align:top;padding-right:.6rem;color:#444;
font-weight:normal;white-space:nowrap}}a{{color:#0b5cad}}</style></head>
<body>{body}</body></html>"""
    return web.Response(status=status, text=page, content_type="text/html", charset="utf-8",
                        headers=PAGE_HEADERS)
