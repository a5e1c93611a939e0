"""The product photos of data/products/ at `GET /shop/photos/{name}` (bots/pages/pictures.py): only
files the catalogue names."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from backends.shop.catalogue import ShopCatalogue
from bots.pages.pictures import TYPES, Pictures


class ProductPhotos(Pictures):
    """The photos of every served commune's products, each from its commune's folder (a name two
    communes both use is refused at start: its link would show one commune's photo for the other's)."""

    def __init__(self, shops: Sequence[tuple[ShopCatalogue, Path]]) -> None:
        files: dict[str, Path] = {}
        for shop, folder in shops:
            for product in shop.products.values():
                if not product.photo or Path(product.photo).suffix.lower() not in TYPES:
                    continue
                known = files.setdefault(product.photo, folder / product.photo)
                if known != folder / product.photo:
                    raise ValueError(f"product photo {product.photo} is named in two communes' "
                                     f"products.yml: rename one ({known}, {folder / product.photo})")
        super().__init__("/shop/photos", files)
