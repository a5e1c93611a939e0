"""The shop window: categories as buttons, product cards with price, stock and photo, and which
products a buyer's words name (aliases of the commune's products.yml first, then the NLU's product
entity)."""

from __future__ import annotations

from typing import Any

from backends.payments import format_vnd
from backends.shop.catalogue import Product, ShopCatalogue, format_milli
from backends.shop.orders import stock_of
from bots.dialogue.base import Context
from core.messages import Button, Reply

FAMILY = "shop"


class ShopWindow:
    def __init__(self, shop: ShopCatalogue) -> None:
        self.shop = shop

    async def browse(self, context: Context) -> list[Reply]:
        text = context.incoming.text or ""
        if text and context.parse is not None:
            products = self.named(context, text)
            if len(products) == 1:
                return [await self.stocked_card(context, products[0], detail=True)]
            if products:
                return await self.cards(context, products)
            category = self.shop.category_mentioned(text)
            if category is not None:
                return await self.cards(context, self.shop.in_category(category.id))
        return [self.categories(context)]

    def categories(self, context: Context, key: str = "shop.categories", **params: Any) -> Reply:
        buttons = tuple(Button(c.name.get(context.lang) or c.name["vi"], f"{FAMILY}:cat:{c.id}")
                        for c in self.shop.categories.values())
        return Reply(context.t(key, commune=context.services.commune.name, **params), buttons)

    async def cards(self, context: Context, products: list[Product]) -> list[Reply]:
        if not products:
            return [self.categories(context, "shop.category_empty")]
        replies = []
        for product in products:
            replies.append(await self.stocked_card(context, product))
        replies.append(Reply(context.t("shop.which_product"),
                             (Button(context.t("shop.button.categories"), f"{FAMILY}:browse"),)))
        return replies

    async def stocked_card(self, context: Context, product: Product, detail: bool = False) -> Reply:
        stock = await stock_of(context.session, product.id)
        return self.card(context, product, detail=detail, stock=stock)

    def card(self, context: Context, product: Product, *, detail: bool = False,
              stock: int | None = None) -> Reply:
        unit = self.shop.unit_name(product.unit, context.lang)
        seller = self.shop.sellers[product.seller]
        params = {"name": product.title(context.lang), "price": format_vnd(product.price), "unit": unit,
                  "seller": seller.name, "stock": format_milli(stock or 0)}
        key = "shop.card" if stock is None or stock >= product.step_milli else "shop.card_out"
        if stock is None:
            params["stock"] = "…"
        buttons = (Button(context.t("shop.button.buy"), f"{FAMILY}:buy:{product.id}"),)
        if detail:
            buttons += (Button(context.t("shop.button.categories"), f"{FAMILY}:browse"),)
        return Reply(context.t(key, **params), buttons, image_url=self.photo(context, product))

    def photo(self, context: Context, product: Product) -> str | None:
        if not product.photo:
            return None
        return f"{context.services.settings.public_url.rstrip('/')}/shop/photos/{product.photo}"

    def named(self, context: Context, text: str) -> list[Product]:
        products = self.shop.mentioned(text)
        if products or context.parse is None:
            return products
        kinds = [e.value for e in context.parse.entities if e.entity == "product"]
        return [p for kind in kinds for p in self.shop.of_kind(kind)]
