"""How much the buyer asked for, from their words: "2 cân", "500g", "3 hộp", "nửa cân", "-1", "10 tấn".

The NLU's ``quantity``/``unit`` entities cover number words ("hai cân"); a digit pattern of our own
comes first because it also sees what the NLU drops on purpose (a minus sign, tonnes), so that
bad amounts get a precise answer instead of a question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Protocol

from backends.shop.catalogue import Amount
from core import answers
from core.text import fold


class Entity(Protocol):
    """What is read of one NLU entity (``nlu.engine.Entity`` fits): a backend never imports the NLU."""

    @property
    def entity(self) -> str: ...

    @property
    def value(self) -> str: ...

    @property
    def end(self) -> int: ...


# Folded surface → canonical unit (the keys of products.yml `units`).
UNIT_WORDS: dict[str, str] = {
    "kg": "kg", "kgs": "kg", "ki": "kg", "ky": "kg", "kilo": "kg", "kilogram": "kg", "can": "kg",
    "g": "g", "gam": "g", "gram": "g", "gr": "g", "lang": "lang", "tan": "tonne", "tonne": "tonne",
    "ton": "tonne", "hop": "box", "box": "box", "boxes": "box", "goi": "pack", "pack": "pack",
    "packs": "pack", "tui": "bag", "bag": "bag", "chai": "bottle", "bottle": "bottle",
    "bottles": "bottle", "lo": "jar", "hu": "jar", "jar": "jar", "lit": "litre", "l": "litre",
    "litre": "litre", "liter": "litre", "ml": "ml",
}
# The NLU's canonical units (nlu/entities.py) that differ from ours.
_NLU_UNITS = {"lang": "lang", "box": "box", "pack": "pack", "bag": "bag", "bottle": "bottle", "jar": "jar",
              "litre": "litre", "kg": "kg", "g": "g", "ml": "ml"}
_UNIT_RE = "|".join(sorted((re.escape(u) for u in UNIT_WORDS), key=len, reverse=True))
_DIGITS = re.compile(rf"(?<![\w.,])(-?\s?\d+(?:[.,]\d+)?)\s*({_UNIT_RE})(?!\w)")
_BARE = re.compile(r"(?<![\w.,])(-?\d+(?:[.,]\d+)?)(?![\w.,])")


def _number(raw: str) -> Decimal | None:
    try:
        return Decimal(raw.replace(" ", "").replace(",", "."))
    except InvalidOperation:
        return None


def amount_in(text: str, entities: Sequence[Entity] = (), *, bare: bool = False) -> Amount | None:
    """The amount the text names; with ``bare`` a lone number counts ("2", the answer to "how much?")."""
    folded = fold(text)
    found = _DIGITS.search(folded)
    if found:
        number = _number(found.group(1))
        if number is not None:
            return Amount(number, UNIT_WORDS[found.group(2)])
    quantity = next((e for e in entities if e.entity == "quantity"), None)
    said = answers.number(text)  # the whole answer as one number: "hai cân rưỡi" is 2.5, not 2
    if quantity is not None:
        number = said if said is not None else _number(quantity.value)
        unit_entity = next((e for e in entities if e.entity == "unit"), None)
        unit = unit_entity.value if unit_entity is not None else None
        after = fold(text[max(quantity.end, unit_entity.end if unit_entity else 0):]).split()[:1]
        if number is not None and said is None and after and after[0] in ("ruoi", "ruoi."):
            number += Decimal("0.5")  # "mua hai cân rưỡi chè": two and a half
        if number is not None:
            return Amount(number, _NLU_UNITS.get(unit or "", unit))
    if bare and said is not None:
        return Amount(said, None)
    if bare:
        lone = _BARE.search(folded)
        if lone:
            number = _number(lone.group(1))
            if number is not None:
                return Amount(number, None)
    return None
