"""The product photos of data/products/ at `GET /shop/photos/{name}`: public, cacheable, and only
files the catalogue names (no path from the request ever reaches the file system)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from backends.shop.catalogue import ShopCatalogue

_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


class ProductPhotos:
    def __init__(self, shop: ShopCatalogue, folder: Path) -> None:
        self._files = {p.photo: folder / p.photo for p in shop.products.values()
                       if p.photo and Path(p.photo).suffix.lower() in _TYPES}

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/shop/photos/{name}", self.photo)]

    async def photo(self, request: web.Request) -> web.StreamResponse:
        path = self._files.get(request.match_info["name"])
        if path is None or not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=path.read_bytes(), content_type=_TYPES[path.suffix.lower()],
                            headers={"Cache-Control": "public, max-age=86400",
                                     "X-Content-Type-Options": "nosniff"})
