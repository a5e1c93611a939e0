"""The product photos of data/products/ at `GET /shop/photos/{name}`: public, cacheable, and only
files the catalogue names (no path from the request ever reaches the file system).

Each photo is served as the upload check makes it (core/uploads.py): its type from its magic bytes, not
its file name, and re-encoded from its pixels with no metadata (a seller's phone photo keeps no GPS), once,
then kept in memory. A file that is not a JPEG or PNG image is not served (404, and a warning). Like
/media/, the answer carries `nosniff` and a sandbox CSP; being a re-encoded image, it stays `inline`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from backends.shop.catalogue import ShopCatalogue
from core.media import SANDBOX_CSP
from core.uploads import CleanUpload, check_upload_async

log = logging.getLogger(__name__)
_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


class ProductPhotos:
    """The photos of every served commune's products, each from its commune's folder (a name two
    communes both use is refused at start: its link would show one commune's photo for the other's)."""

    def __init__(self, shops: Sequence[tuple[ShopCatalogue, Path]]) -> None:
        self._files: dict[str, Path] = {}
        for shop, folder in shops:
            for product in shop.products.values():
                if not product.photo or Path(product.photo).suffix.lower() not in _TYPES:
                    continue
                known = self._files.setdefault(product.photo, folder / product.photo)
                if known != folder / product.photo:
                    raise ValueError(f"product photo {product.photo} is named in two communes' "
                                     f"products.yml: rename one ({known}, {folder / product.photo})")
        self._clean: dict[str, CleanUpload] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/shop/photos/{name}", self.photo)]

    async def photo(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        clean = self._clean.get(name)
        if clean is None:
            path = self._files.get(name)
            if path is None or not path.is_file():
                raise web.HTTPNotFound()
            checked = await check_upload_async(name, "", path.read_bytes())
            if not isinstance(checked, CleanUpload) or not checked.content_type.startswith("image/"):
                log.warning("shop: product photo %s is not a clean JPEG or PNG, not served", name)
                raise web.HTTPNotFound()
            clean = self._clean[name] = checked
        return web.Response(body=clean.data, content_type=clean.content_type, headers={
            "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": SANDBOX_CSP,
            "Content-Disposition": f'inline; filename="photo{clean.extension}"'})
