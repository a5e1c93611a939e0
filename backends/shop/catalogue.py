"""The shop's catalogue from data/products.yml: sellers, categories, products, units and the
shipping rule. Read once at start; amounts of a product are kept in thousandths of its unit
(``milli``) so that 0.5 kg and 3 lạng are exact integers in the stock table."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from core.i18n import local
from core.text import fold

MILLI = 1000


@dataclass(frozen=True, slots=True)
class Seller:
    id: str
    name: str
    phone: str
    hamlet: str


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: dict[str, str]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    kind: str
    category: str
    seller: str
    name: dict[str, str]
    aliases: tuple[str, ...]
    price: int  # VND per unit
    unit: str
    step_milli: int
    stock: Decimal
    photo: str | None

    def title(self, lang: str) -> str:
        return local(self.name, lang)


@dataclass(frozen=True, slots=True)
class Shipping:
    free_in_commune_from: int
    in_commune_fee: int
    outside_fee: int
    max_per_order: Decimal

    def fee(self, subtotal: int, in_commune: bool) -> int:
        if not in_commune:
            return self.outside_fee
        return 0 if subtotal >= self.free_in_commune_from else self.in_commune_fee


@dataclass(frozen=True, slots=True)
class Amount:
    """What the buyer asked for: a number and the unit they said (canonical: kg, g, lang, box…)."""

    quantity: Decimal
    unit: str | None


class ConversionError(ValueError):
    """The unit the buyer said does not measure this product (hộp of honey sold by kg)."""


@dataclass
class ShopCatalogue:
    sellers: dict[str, Seller]
    categories: dict[str, Category]
    products: dict[str, Product]
    shipping: Shipping
    units: dict[str, dict[str, Decimal]]  # product unit → {said unit: factor}
    unit_names: dict[str, dict[str, str]]
    _aliases: list[tuple[str, str]] = field(default_factory=list)  # (folded alias, product id), longest first
    _alias_re: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        pairs = {(fold(alias), product.id) for product in self.products.values()
                 for alias in (*product.aliases, *product.name.values())}
        self._aliases = sorted(pairs, key=lambda pair: (-len(pair[0]), pair[1]))
        phrases = sorted({alias for alias, _ in self._aliases}, key=len, reverse=True)
        self._alias_re = re.compile(
            r"(?<!\w)(?:" + "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases) + r")(?!\w)"
        ) if phrases else None

    # -- lookups

    def in_category(self, category_id: str) -> list[Product]:
        return [p for p in self.products.values() if p.category == category_id]

    def of_kind(self, kind: str) -> list[Product]:
        return [p for p in self.products.values() if p.kind == kind or p.id == kind]

    def mentioned(self, text: str) -> list[Product]:
        """Products named in the text: those of the longest alias found (chè búp before chè)."""
        if self._alias_re is None:
            return []
        found = [" ".join(m.group(0).split()) for m in self._alias_re.finditer(fold(text))]
        if not found:
            return []
        best = max(found, key=len)
        return [self.products[pid] for alias, pid in self._aliases if alias == best]

    def category_mentioned(self, text: str) -> Category | None:
        words = f" {fold(text)} "
        named = [(len(fold(alias)), category) for category in self.categories.values()
                 for alias in (*category.aliases, *category.name.values()) if f" {fold(alias)} " in words]
        return max(named, key=lambda pair: pair[0])[1] if named else None

    def unit_name(self, unit: str, lang: str) -> str:
        names = self.unit_names.get(lang) or self.unit_names.get("vi") or {}
        return names.get(unit, unit)

    # -- amounts

    def accepts(self, product: Product, unit: str | None) -> bool:
        return unit is None or unit in self.units.get(product.unit, {product.unit: Decimal(1)})

    def to_milli(self, product: Product, amount: Amount) -> int:
        """The amount in thousandths of the product's unit; ConversionError for a foreign unit."""
        factors = self.units.get(product.unit, {product.unit: Decimal(1)})
        factor = factors.get(amount.unit or product.unit)
        if factor is None:
            raise ConversionError(amount.unit or "")
        return int((amount.quantity * factor * MILLI).to_integral_value())

    def price_of(self, product: Product, milli: int) -> int:
        """Whole đồng, rounded half up."""
        return int((Decimal(product.price) * milli / MILLI).quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def format_milli(milli: int) -> str:
    """3500 → '3,5' (Vietnamese decimal comma); 2000 → '2'."""
    value = Decimal(milli) / MILLI
    text = format(value.normalize(), "f")
    return text.replace(".", ",")


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def _products(raw: Iterable[Mapping[str, Any]], sellers: Mapping[str, Seller],
              categories: Mapping[str, Category]) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for entry in raw:
        pid = str(entry["id"])
        if pid in products:
            raise ValueError(f"products.yml: product {pid!r} listed twice")
        if entry["seller"] not in sellers or entry["category"] not in categories:
            raise ValueError(f"products.yml: product {pid!r} names an unknown seller or category")
        price = int(entry["price"])
        if price <= 0:
            raise ValueError(f"products.yml: product {pid!r} needs a positive price")
        name = entry["name"] if isinstance(entry["name"], dict) else {"vi": str(entry["name"])}
        products[pid] = Product(
            id=pid, kind=str(entry.get("kind") or pid), category=str(entry["category"]),
            seller=str(entry["seller"]), name={str(k): str(v) for k, v in name.items()},
            aliases=tuple(str(a) for a in entry.get("aliases") or ()), price=price, unit=str(entry["unit"]),
            step_milli=int(_decimal(entry.get("step", 1)) * MILLI), stock=_decimal(entry.get("stock", 0)),
            photo=str(entry["photo"]) if entry.get("photo") else None,
        )
    return products


def load_shop(path: Path) -> ShopCatalogue:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    data: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    sellers = {str(s["id"]): Seller(str(s["id"]), str(s["name"]), str(s.get("phone", "")),
                                    str(s.get("hamlet", ""))) for s in data.get("sellers") or ()}
    categories = {str(c["id"]): Category(str(c["id"]), {str(k): str(v) for k, v in c["name"].items()},
                                         tuple(str(a) for a in c.get("aliases") or ()))
                  for c in data.get("categories") or ()}
    rule = data.get("shipping") or {}
    shipping = Shipping(int(rule.get("free_in_commune_from", 0)), int(rule.get("in_commune_fee", 0)),
                        int(rule.get("outside_fee", 0)), _decimal(rule.get("max_per_order", 100)))
    units = {str(unit): {str(k): _decimal(v) for k, v in factors.items()}
             for unit, factors in (data.get("units") or {}).items()}
    names = {str(lang): {str(k): str(v) for k, v in table.items()}
             for lang, table in (data.get("unit_names") or {}).items()}
    return ShopCatalogue(sellers, categories, _products(data.get("products") or (), sellers, categories),
                         shipping, units, names)
