"""The kinds of village problem, and recognising one from a villager's words (with or without
diacritics, or in English). The first kind whose stem starts a word of the folded text wins, so the
more specific kinds (a landslide on a road, a street light) come before the general ones."""

from __future__ import annotations

from core.text import fold

KINDS: tuple[str, ...] = (
    "road", "power", "water", "waste", "landslide", "fallen_tree", "burning", "noise", "other",
)

_STEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("landslide", ("sat lo", "lo dat", "sut lun", "dat lo", "landslide", "mudslide")),
    ("fallen_tree", ("cay do", "do cay", "cay gay", "cay nga", "fallen tree", "tree down", "tree fell")),
    ("burning", ("dot rom", "dot rac", "dot la", "dot co", "dot", "khoi", "burn", "smoke")),
    ("power", ("mat dien", "cup dien", "dien", "cot dien", "day dien", "den duong", "power",
               "electric", "blackout", "street light")),
    ("noise", ("on ao", "on qua", "gay on", "tieng on", "karaoke", "noise", "noisy", "loud")),
    ("water", ("nuoc", "ong nuoc", "gieng", "water", "pipe")),
    ("waste", ("rac", "cong", "bo rac", "waste", "garbage", "rubbish", "trash", "litter")),
    ("road", ("duong", "o ga", "cau tran", "cau treo", "cau bi", "road", "pothole", "bridge", "street")),
    ("other", ("khac", "other")),
)


def recognise(text: str) -> str | None:
    """The kind the text speaks of, or None. «ồn» (noise) needs its accents: bare «on» is too many
    other words (ổn, ơn)."""
    words = f" {fold(text)} "
    for kind, stems in _STEMS:
        if any(f" {stem}" in words for stem in stems):
            return kind
    if "ồn" in text.lower().split() or words.strip() == "on":
        return "noise"
    return None
