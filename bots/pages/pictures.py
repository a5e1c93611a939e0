"""Pictures from data/ served to chats (a product's photo, a lesson's picture): public, cacheable, and only
files the data names (no path from the request ever reaches the file system).

Each is served as the upload check makes it (core/uploads.py): its type from its magic bytes, not its
file name, and re-encoded from its pixels with no metadata, once, then kept in memory. A file that is not
a JPEG or PNG image is not served (404, and a warning). Like /media/, the answer carries `nosniff` and a
sandbox CSP; being a re-encoded image, it stays `inline`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from core.media import SANDBOX_CSP
from core.uploads import CleanUpload, check_upload_async

log = logging.getLogger(__name__)
TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


class Pictures:
    """`GET <prefix>/{name}` for the files of `files` (name → path)."""

    def __init__(self, prefix: str, files: Mapping[str, Path]) -> None:
        self.prefix = prefix.rstrip("/")
        self._files = {name: path for name, path in files.items() if Path(name).suffix.lower() in TYPES}
        self._clean: dict[str, CleanUpload] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.get(self.prefix + "/{name}", self.picture)]

    async def picture(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        clean = self._clean.get(name)
        if clean is None:
            path = self._files.get(name)
            if path is None or not path.is_file():
                raise web.HTTPNotFound()
            checked = await check_upload_async(name, "", path.read_bytes())
            if not isinstance(checked, CleanUpload) or not checked.content_type.startswith("image/"):
                log.warning("%s/%s is not a clean JPEG or PNG, not served", self.prefix, name)
                raise web.HTTPNotFound()
            clean = self._clean[name] = checked
        return web.Response(body=clean.data, content_type=clean.content_type, headers={
            "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": SANDBOX_CSP,
            "Content-Disposition": f'inline; filename="photo{clean.extension}"'})
