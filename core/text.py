"""Comparing what people type: one diacritics fold for the whole project (nlu/, which imports nothing
of ours, keeps its own normalisation for the intent model)."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=8192)  # labels, synonyms and keywords are folded again every turn
def fold(text: str) -> str:
    """Lower case, no tone or vowel marks (đ → d), spaces collapsed: "Hủy  BỎ" → "huy bo"."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("đ", "d")
    return " ".join(bare.split())


@lru_cache(maxsize=8192)
def has_marks(text: str) -> bool:
    """Whether `text` carries any diacritic (a tone or vowel mark, or đ)."""
    return fold(text) != " ".join(text.lower().split())
