"""Rule-based entity extraction: codes and phones by regex, procedures and products by lookup,
quantities with their unit. Everything the commune may change comes from data/nlu.yml
(``regex:``, ``lookup:``, ``synonym:``); the defaults below only fill gaps.

Lookups match on the diacritics-free form so "che tan cuong" finds "chè tân cương"; offsets are
mapped back to the text the user sent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from nlu.datetime import find_datetimes, vietnam_now
from nlu.engine import ENTITY_TYPES, Entity
from nlu.normalize import aligned_fold, fold_phrase
from nlu.rasa_yaml import TrainingData

DEFAULT_REGEXES: dict[str, str] = {
    "dossier_code": r"[A-Z]{2,4}-\d{4}-\d{6}",
    "order_code": r"DH-\d{6}",
    "phone": r"(\+84|0)(3|5|7|8|9)\d{8}",
}
# Surface → canonical unit, used when the data has no ``lookup: unit``.
DEFAULT_UNITS: dict[str, str] = {
    "kg": "kg",
    "kí": "kg",
    "ký": "kg",
    "cân": "kg",
    "kilo": "kg",
    "g": "g",
    "gam": "g",
    "gram": "g",
    "gr": "g",
    "lạng": "lang",
    "hộp": "box",
    "gói": "pack",
    "túi": "bag",
    "chai": "bottle",
    "lọ": "jar",
    "hũ": "jar",
    "bao": "sack",
    "thùng": "carton",
    "bó": "bundle",
    "cái": "piece",
    "chiếc": "piece",
    "lít": "litre",
    "l": "litre",
    "ml": "ml",
}
# Whole numbers a buyer says before a unit. "tư" is left out: without diacritics it is "tu",
# like tử, từ, tự ("khai tu can giay gi" is not 4 kg).
NUMBER_WORDS: dict[str, str] = {
    "một": "1",
    "hai": "2",
    "ba": "3",
    "bốn": "4",
    "năm": "5",
    "sáu": "6",
    "bảy": "7",
    "bẩy": "7",
    "tám": "8",
    "chín": "9",
    "mười": "10",
    "nửa": "0.5",
}
_FOLDED_NUMBER_WORDS = {fold_phrase(word): value for word, value in NUMBER_WORDS.items()}
# Units too common as ordinary words ("sau bao lâu" is not six sacks) to follow a number word.
_WORD_UNSAFE_UNITS = frozenset({"bao", "lo", "g", "gr", "l", "ml", "bo", "cai"})
_QUANTITY_ENTITIES = frozenset({"quantity", "unit"})


def _canonical_code(value: str) -> str:
    return re.sub(r"\s+", "", value).upper()


def _canonical_order(value: str) -> str:
    return "DH-" + re.sub(r"\D", "", value)


def _canonical_phone(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value)


_CANONICAL: dict[str, Callable[[str], str]] = {
    "dossier_code": _canonical_code,
    "order_code": _canonical_order,
    "phone": _canonical_phone,
}


def _number_value(raw: str) -> str:
    """'1,5' → '1.5'; '1.500' → '1500' (Vietnamese thousands); '2' → '2'."""
    if raw in _FOLDED_NUMBER_WORDS:
        return _FOLDED_NUMBER_WORDS[raw]
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", raw):
        raw = raw.replace(".", "")
    try:
        number = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        return raw
    return format(number.normalize(), "f")


def _alternation(phrases: Iterable[str]) -> str:
    ordered = sorted(set(phrases), key=len, reverse=True)
    return "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in ordered)


@dataclass(frozen=True, slots=True)
class _Match:
    entity: str
    value: str
    start: int
    end: int


class EntityExtractor:
    """Built once from the training data; ``extract`` is read-only and safe across threads."""

    def __init__(self, data: TrainingData) -> None:
        synonyms = {fold_phrase(k): v for k, v in data.synonym_map().items()}
        annotated = {e.entity for example in data.examples for e in example.entities}
        self._regexes = self._compile_regexes(data, annotated)
        self._phrases = self._gazetteer(data, synonyms)
        self._phrase_re = (
            re.compile(rf"(?<!\w)(?:{_alternation(self._phrases)})(?!\w)") if self._phrases else None
        )
        self._units, self._unit_spellings = self._unit_table(data, synonyms)
        self._quantity_re = self._compile_quantity(self._units)

    @staticmethod
    def _compile_regexes(data: TrainingData, annotated: set[str]) -> list[tuple[str, re.Pattern[str]]]:
        patterns = {name: [pattern] for name, pattern in DEFAULT_REGEXES.items() if name not in data.regexes}
        for name, listed in data.regexes.items():
            # A regex block names an entity only when that entity exists; otherwise it is a feature.
            if name in ENTITY_TYPES or name in annotated:
                patterns[name] = list(listed)
        return [
            (name, re.compile(rf"(?<![\w+])(?:{'|'.join(f'(?:{p})' for p in listed)})(?!\w)", re.IGNORECASE))
            for name, listed in patterns.items()
        ]

    @staticmethod
    def _gazetteer(data: TrainingData, synonyms: dict[str, str]) -> dict[str, tuple[str, str]]:
        """Folded phrase → (entity, value) for every entity with a lookup table, units aside."""
        entities = [
            name for name in data.lookups if name not in _QUANTITY_ENTITIES and name not in data.regexes
        ]
        canonical_owner: dict[str, str] = {}
        surfaces: list[tuple[str, str]] = []
        for name in entities:
            for element in data.lookups[name]:
                surfaces.append((name, element))
                canonical_owner.setdefault(synonyms.get(fold_phrase(element), element), name)
        for example in data.examples:
            for e in example.entities:
                if e.entity in entities:
                    surfaces.append((e.entity, example.text[e.start : e.end]))
                    canonical_owner.setdefault(e.value, e.entity)
        for canonical, variants in data.synonyms.items():
            owner = canonical_owner.get(canonical)
            if owner is not None:
                surfaces.extend((owner, variant) for variant in variants)
        table: dict[str, tuple[str, str]] = {}
        for name, surface in surfaces:
            key = fold_phrase(surface)
            if key:
                table.setdefault(key, (name, synonyms.get(key, surface)))
        return table

    @staticmethod
    def _unit_table(data: TrainingData, synonyms: dict[str, str]) -> tuple[dict[str, str], frozenset[str]]:
        """Folded unit → canonical unit, and the units as properly spelt (lower case, NFC)."""
        surfaces = list(data.lookups.get("unit", ()))
        surfaces += [
            ex.text[e.start : e.end] for ex in data.examples for e in ex.entities if e.entity == "unit"
        ]
        if not surfaces:
            return {fold_phrase(k): v for k, v in DEFAULT_UNITS.items()}, frozenset(DEFAULT_UNITS)
        table = {fold_phrase(s): synonyms.get(fold_phrase(s), s) for s in surfaces if fold_phrase(s)}
        return table, frozenset(_spelling(s) for s in surfaces)

    @staticmethod
    def _compile_quantity(units: dict[str, str]) -> re.Pattern[str]:
        word_units = [u for u in units if u not in _WORD_UNSAFE_UNITS]
        numbers = _alternation(_FOLDED_NUMBER_WORDS)
        return re.compile(
            rf"(?<![\w.,\-])(?:(?P<num>\d+(?:[.,]\d+)*)\s*(?P<unit>{_alternation(units)})"
            rf"|(?P<word>{numbers})\s+(?P<wunit>{_alternation(word_units)}))(?!\w)"
            # "năm 2026 bao giờ xong" is a question, not 2026 sacks
            r"(?!\s+(?:nhieu|gio|lau)(?!\w))"
        )

    def _words_typed_as_quantity(self, text: str, number: tuple[int, int], unit: tuple[int, int]) -> bool:
        # Number words and units collide with other words once diacritics are gone
        # ("khai tử cần" folds like "khai tư cân"), so look at how they were actually typed.
        return _plausible(text[number[0] : number[1]], NUMBER_WORDS) and _plausible(
            text[unit[0] : unit[1]], self._unit_spellings
        )

    def extract(self, text: str, now: datetime | None = None) -> tuple[Entity, ...]:
        """``now`` resolves relative dates ("mai", "thứ hai"); by default the real time in Vietnam."""
        folded, starts, ends = aligned_fold(text)

        def span(a: int, b: int) -> tuple[int, int]:
            return starts[a], ends[b - 1]

        found: list[tuple[_Match, ...]] = []  # groups kept or dropped together
        for name, pattern in self._regexes:
            # Codes and phones are ASCII: match the original text, no offset mapping needed.
            for m in pattern.finditer(text):
                canonical = _CANONICAL.get(name, str)
                found.append((_Match(name, canonical(m.group(0)), m.start(), m.end()),))
        if self._phrase_re is not None:
            for m in self._phrase_re.finditer(folded):
                entity, value = self._phrases[" ".join(m.group(0).split())]
                found.append((_Match(entity, value, *span(m.start(), m.end())),))
        for e in find_datetimes(text, now if now is not None else vietnam_now()):
            found.append((_Match(e.entity, e.value, e.start, e.end),))
        for m in self._quantity_re.finditer(folded):
            num, unit = ("num", "unit") if m.group("num") else ("word", "wunit")
            if num == "word" and not self._words_typed_as_quantity(
                text, span(*m.span(num)), span(*m.span(unit))
            ):
                continue
            unit_key = " ".join(m.group(unit).split())
            found.append(
                (
                    _Match("quantity", _number_value(m.group(num)), *span(*m.span(num))),
                    _Match("unit", self._units[unit_key], *span(*m.span(unit))),
                )
            )
        accepted = _without_overlaps(found)
        accepted += _bare_quantities(text, accepted)
        return tuple(
            Entity(m.entity, m.value, m.start, m.end) for m in sorted(accepted, key=lambda m: m.start)
        )


def _spelling(surface: str) -> str:
    return " ".join(unicodedata.normalize("NFC", surface).lower().split())


def _plausible(surface: str, spellings: Iterable[str]) -> bool:
    """Typed with its own diacritics, or with none at all: "hai cân", "hai can", not "hai cần"."""
    spelt = _spelling(surface)
    return spelt in spellings or spelt == fold_phrase(spelt)


def _without_overlaps(groups: list[tuple[_Match, ...]]) -> list[_Match]:
    """Keep groups in priority order (regex, lookup, quantity+unit), dropping any that overlap."""
    kept: list[_Match] = []
    for group in groups:
        if all(c.end <= k.start or c.start >= k.end for c in group for k in kept):
            kept.extend(group)
    return kept


_BARE_NUMBER_RE = re.compile(r"(?<![\w.,\-])(\d{1,4})\s+$")


def _bare_quantities(text: str, accepted: list[_Match]) -> list[_Match]:
    """'mua 3 mật ong': a small number right before a product is its quantity."""
    has_quantity = {m.start for m in accepted if m.entity == "quantity"}
    extra: list[_Match] = []
    for product in (m for m in accepted if m.entity == "product"):
        m = _BARE_NUMBER_RE.search(text, 0, product.start)
        if (
            m
            and m.start(1) not in has_quantity
            and all(m.end(1) <= k.start or m.start(1) >= k.end for k in accepted)
        ):
            extra.append(_Match("quantity", m.group(1), m.start(1), m.end(1)))
    return extra
