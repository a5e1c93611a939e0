"""Vietnamese text normalisation for the NLU.

Villagers type with or without diacritics, in composed or decomposed Unicode, with chat
abbreviations ("ko", "dc", "mik"). Two forms feed the model and the rules:

* ``normalize(text)``: NFC, lower case, abbreviations expanded, whitespace collapsed.
* ``fold(text)``: ``normalize`` without diacritics ("đ" becomes "d").

``aligned_fold(text)`` folds *without* rewriting words, keeping for every output character the
span of the original character it came from, so entity matches on the folded form can be mapped
back to offsets in the text the user sent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Whole-token chat abbreviations. Left out on purpose: "kg" (kilogram as often as "không"),
# "ks" (khai sinh or khách sạn), "nc", "ad": too ambiguous to rewrite blindly.
ABBREVIATIONS: dict[str, str] = {
    "ko": "không",
    "k": "không",
    "kh": "không",
    "khg": "không",
    "hok": "không",
    "hông": "không",
    "hem": "không",
    "khum": "không",
    "hk": "không",
    "dc": "được",
    "đc": "được",
    "dk": "đăng ký",
    "đk": "đăng ký",
    "j": "gì",
    "gj": "gì",
    "mik": "mình",
    "mk": "mình",
    "mjk": "mình",
    "mj": "mình",
    "t": "tôi",
    "e": "em",
    "a": "anh",
    "c": "chị",
    "ck": "chồng",
    "vk": "vợ",
    "gđ": "gia đình",
    "gd": "gia đình",
    "hs": "hồ sơ",
    "bn": "bao nhiêu",
    "bh": "bao giờ",
    "bjo": "bao giờ",
    "bgio": "bao giờ",
    "ntn": "như thế nào",
    "bs": "bác sĩ",
    "sdt": "số điện thoại",
    "sđt": "số điện thoại",
    "đt": "điện thoại",
    "dt": "điện thoại",
    "vs": "với",
    "r": "rồi",
    "ib": "nhắn tin",
    "nt": "nhắn tin",
    "tl": "trả lời",
    "ms": "mới",
    "trc": "trước",
    "cx": "cũng",
    "cg": "cũng",
    "ng": "người",
    "mn": "mọi người",
    "v": "vậy",
    "z": "vậy",
    "dag": "đang",
    "đag": "đang",
    "hnay": "hôm nay",
    "hqua": "hôm qua",
    "hum": "hôm",
    "tks": "cảm ơn",
    "thks": "cảm ơn",
    "thx": "cảm ơn",
    "tnx": "cảm ơn",
    "camon": "cảm ơn",
    "oki": "ok",
    "okie": "ok",
    "oke": "ok",
    "okela": "ok",
}

# A token is only rewritten when it stands alone: not glued to letters, digits, codes, e-mails,
# URLs ("LB-2026", "a@b", "e-mail") or decimals.
_ABBREV_RE = re.compile(
    r"(?<![\w\-'@/.:])("
    + "|".join(sorted(map(re.escape, ABBREVIATIONS), key=len, reverse=True))
    + r")(?![\w\-'@/])"
)
_REPEAT_RE = re.compile(r"([^\W\d_])\1{2,}")  # no Vietnamese word has a letter three times in a row
_SPACE_RE = re.compile(r"\s+")

_COMBINING_RANGES = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
_STRIP_TABLE: dict[int, int | None] = {cp: None for lo, hi in _COMBINING_RANGES for cp in range(lo, hi + 1)}
_STRIP_TABLE.update({ord("đ"): ord("d"), ord("Đ"): ord("D"), ord("ð"): ord("d"), ord("Ð"): ord("D")})


def _base_char(char: str) -> str:
    """The letter without its marks, for one composed character ("ệ" → "e", "đ" → "d")."""
    return unicodedata.normalize("NFD", char).translate(_STRIP_TABLE)


# Precomputed for the Latin blocks so the hot path is one str.translate. Only one-to-one entries
# ("Ǆ" would fold to two letters and shift every offset after it).
_FOLD_TABLE: dict[int, str] = {
    cp: base
    for lo, hi in ((0x00C0, 0x024F), (0x1E00, 0x1EFF))
    for cp in range(lo, hi + 1)
    if len(base := _base_char(chr(cp))) == 1 and base != chr(cp)
}
_FOLD_TABLE.update({cp: "" for lo, hi in _COMBINING_RANGES for cp in range(lo, hi + 1)})
_COMBINING_RE = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _COMBINING_RANGES) + "]")


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese tone and vowel marks and turn đ/Đ into d/D; case is kept."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).translate(_STRIP_TABLE))


def expand_abbreviations(text: str) -> str:
    """Rewrite whole-token chat abbreviations; ``text`` must already be NFC and lower case."""
    return _ABBREV_RE.sub(lambda m: ABBREVIATIONS[m.group(1)], text)


def normalize(text: str) -> str:
    """NFC, lower case, repeated letters squeezed, abbreviations expanded, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text).lower()
    text = _REPEAT_RE.sub(r"\1", text)
    text = expand_abbreviations(text)
    return _SPACE_RE.sub(" ", text).strip()


def fold(text: str) -> str:
    """``normalize(text)`` without diacritics: the form rules and lookups match on."""
    return fold_normalized(normalize(text))


def fold_normalized(normalized: str) -> str:
    """``fold`` for a text that already went through ``normalize``."""
    return normalized.translate(_FOLD_TABLE)


def fold_phrase(text: str) -> str:
    """Fold a dictionary phrase the way ``aligned_fold`` folds a message (no abbreviations)."""
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFC", text).lower().translate(_FOLD_TABLE)).strip()


def aligned_fold(text: str) -> tuple[str, Sequence[int], Sequence[int]]:
    """Lower-case, diacritics-free form of ``text`` with an offset map back to ``text``.

    Returns ``(folded, starts, ends)``: folded character ``i`` came from ``text[starts[i]:ends[i]]``.
    A base letter and the combining marks after it (decomposed input) count as one character.
    Words are not rewritten, so every folded character has a source.
    """
    lowered = text.lower()
    if len(lowered) == len(text) and not _COMBINING_RE.search(text):
        # Common case, done in C: one character in, one character out.
        return lowered.translate(_FOLD_TABLE), range(len(text)), range(1, len(text) + 1)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        piece = unicodedata.normalize("NFC", text[i:j]).lower().translate(_FOLD_TABLE)
        for char in piece:
            out.append(char)
            starts.append(i)
            ends.append(j)
        i = j
    return "".join(out), starts, ends


def is_blank(text: str) -> bool:
    """True when the text has no letter or digit at all (empty, spaces, emoji, punctuation)."""
    return not any(char.isalnum() for char in text)
