"""The answer interpreter: what a typed message means as the answer to the question just asked.

Villagers type instead of tapping, often without diacritics, with chat abbreviations and politeness
particles: "co a", "dong y", "khong co", "72 tuoi", "con trai", "5 sao". Every question, whatever flow
asked it, is read here: the form engine (core/forms.py) for its fields, the router for the buttons of
the last question (core/questions.py), and the flows with typed steps of their own (a slot time, an
amount). A flow never writes its own yes/no list.

Diacritics: typed without any, a word may stand for several ("co" is only "có" here, "chua" is "chưa");
typed with them, the marks must agree ("cô" is not "có", "chùa" is not "chưa").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from core.text import fold, has_marks

Meaning = Literal["yes", "no", "skip", "cancel", "back"]

# --- normalising ------------------------------------------------------------------------------------

_CHAT_WORDS = {
    "ko": "không", "k": "không", "kh": "không", "khg": "không", "hok": "không", "hong": "không",
    "hông": "không", "khum": "không", "hk": "không", "kg": "không", "dc": "được", "đc": "được",
    "dk": "được", "đk": "được", "r": "rồi", "uk": "ừ", "uhm": "ừ", "um": "ừ", "ừm": "ừ", "uh": "ừ",
    "ờ": "ừ", "oke": "ok", "oki": "ok", "okie": "ok", "okay": "ok", "okela": "ok", "okla": "ok",
    "vg": "vâng", "d": "dạ", "j": "gì", "bn": "bao nhiêu", "ns": "nói", "vs": "với", "t": "tôi",
    "e": "em", "a": "anh", "c": "chị", "mk": "mình", "mik": "mình", "ck": "chồng", "vk": "vợ",
    "tks": "cảm ơn", "thanks": "cảm ơn", "dug": "đúng", "dungg": "đúng",
}  # fmt: skip
# Words that soften a sentence and change nothing: "có ạ", "vâng ạ", "giúp tôi với".
_PARTICLES = frozenset({
    "ạ", "ah", "à", "ơi", "oi", "nhé", "nhe", "nha", "nhá", "với", "vs", "giúp", "giùm", "hộ",
    "luôn", "đi", "thì", "là", "rồi", "mà", "chứ", "đó", "đấy", "nè", "ha", "hen", "please", "pls",
})  # fmt: skip
# Who is speaking or spoken of: dropped only when other words remain ("con tôi" stays "con tôi",
# "thằng cu nhà tôi" becomes "thằng cu").
_PRONOUNS = frozenset({
    "cho", "tôi", "em", "cháu", "mình", "anh", "chị", "bác", "chú", "cô", "ông", "bà", "con", "nhà",
})  # fmt: skip
_EMOJI_AND_MARKS = re.compile(r"[^\w\s/:.,\-+'%]", re.UNICODE)
_PUNCTUATION = re.compile(r"(?<!\d)[.,]|[.,](?!\d)|[!?;:\"“”'()\[\]…]+")


@lru_cache(maxsize=8192)  # labels and synonyms come back every turn
def words(text: str) -> str:
    """The text as comparable words: NFC, lower case, emoji and punctuation gone, abbreviations
    expanded, letters typed three times squeezed ("okkk" → "ok"). Diacritics are kept."""
    text = unicodedata.normalize("NFC", text).lower()
    text = _EMOJI_AND_MARKS.sub(" ", text)
    text = _PUNCTUATION.sub(" ", text)
    text = re.sub(r"([^\W\d_])\1{2,}", r"\1", text)
    expanded = " ".join(_CHAT_WORDS.get(word, word) for word in text.split())
    # Typed without marks, the expansions stay without them: "ko biet" is "khong biet", not mixed.
    return expanded if has_marks(text) else fold(expanded)


# Typed without marks, a word's bare letters may be another word: "co" is có, "ba" three, "ong" bee.
_BARE_PARTICLES = frozenset(fold(p) for p in _PARTICLES) - {"ho"}
_BARE_PRONOUNS = frozenset(fold(p) for p in _PRONOUNS) - {"co", "ba", "ong", "con"}


def soft_words(text: str) -> str:
    """``words`` without politeness particles; they stay when nothing else is left."""
    said = words(text)
    particles = _PARTICLES if has_marks(said) else _BARE_PARTICLES
    kept = [word for word in said.split() if word not in particles]
    return " ".join(kept) if kept else said


def core_words(text: str) -> str:
    """``soft_words`` without pronouns either, when other words remain."""
    said = soft_words(text)
    pronouns = _PRONOUNS if has_marks(said) else _BARE_PRONOUNS
    kept = [word for word in said.split() if word not in pronouns]
    return " ".join(kept) if kept else said


class Phrases:
    """A set of phrases, matched on whole words: with the user's diacritics when they typed some,
    diacritics-free otherwise."""

    def __init__(self, phrases: Iterable[str]) -> None:
        normalised = {words(p) for p in phrases if p.strip()}
        self.exact = frozenset(normalised)
        self.folded = frozenset(fold(p) for p in normalised)

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        return (text in self.exact) if has_marks(text) else (fold(text) in self.folded)

    def starts(self, text: str) -> str | None:
        """The longest phrase that ``text`` begins with (whole words), or None."""
        tokens = text.split()
        for n in range(min(len(tokens), 5), 0, -1):
            head = " ".join(tokens[:n])
            if head in self:
                return head
        return None


# --- yes, no, skip, stop ----------------------------------------------------------------------------

YES = Phrases((
    "có", "ừ", "vâng", "dạ", "dạ có", "vâng có", "ok", "được", "được rồi", "đồng ý", "ok đồng ý",
    "đúng", "đúng rồi", "đúng vậy", "đúng thế", "chuẩn", "chuẩn rồi", "chính xác", "phải", "phải rồi",
    "gửi", "gửi đi", "nộp", "nộp đi", "xác nhận", "chắc chắn", "chắc", "tất nhiên", "có chứ", "rồi",
    "yes", "y", "yep", "yeah", "sure", "of course", "correct", "right", "agree", "confirm", "ok luôn",
    "có luôn", "làm đi", "đặt đi", "đặt luôn", "mua", "mua luôn", "lấy", "lấy luôn", "xong", "xong rồi",
    "sửa rồi", "đã sửa", "hết rồi", "ổn rồi", "được rồi ạ", "đã khắc phục", "khắc phục rồi", "tốt rồi",
))  # fmt: skip
NO = Phrases((
    "không", "không ạ", "chưa", "chưa ạ", "thôi", "sai", "sai rồi", "không phải", "không đúng",
    "không đồng ý", "không muốn", "không cần", "chưa được", "chưa xong", "vẫn còn", "vẫn chưa",
    "chưa sửa", "chưa khắc phục", "no", "n", "nope", "nah", "not yet", "wrong", "disagree", "khỏi",
    "khỏi cần", "không được", "chưa đâu", "không đâu",
))  # fmt: skip
SKIP = Phrases((
    "bỏ qua", "không có", "chưa có", "không có ảnh", "không có giấy", "chưa có giấy", "không cần",
    "không", "chưa", "khỏi", "bỏ", "qua", "tiếp", "tiếp tục", "sau", "để sau", "gửi sau", "bổ sung sau",
    "không gửi", "không có gì", "skip", "none", "no", "next", "later", "không biết", "ko biết",
    "chưa xác định", "không xác định", "chưa rõ", "không rõ", "không có cha", "không có bố",
))  # fmt: skip
# The one stop vocabulary of every flow (ARCHITECTURE.md: "hủy"/"cancel" work in every form and step).
# Typed without diacritics "dung" is "dừng" here, and "đúng" among the yeses: where a yes is an answer
# (a yes/no question, a summary to confirm) the yes wins.
CANCEL = Phrases((
    "hủy", "huỷ", "hủy bỏ", "huỷ bỏ", "hủy đi", "thôi", "thôi không làm nữa", "không làm nữa", "thôi khỏi",
    "dừng", "dừng lại", "dừng đi", "ngừng", "ngừng lại", "thoát", "hủy đơn", "hủy đơn hàng", "không mua",
    "không mua nữa", "thôi không mua nữa", "không đặt nữa", "thôi không đặt nữa", "không gửi nữa",
    "hủy lịch", "hủy hồ sơ", "không muốn làm nữa", "thôi không", "bỏ đi", "hủy hết", "cancel", "stop",
    "quit", "exit", "/cancel", "/huy", "/stop",
))  # fmt: skip
BACK = Phrases(("quay lại", "trở lại", "lùi lại", "câu trước", "back", "/back", "go back"))
# Not an answer either way: "có lẽ", "không biết", "chưa chắc".
UNSURE = Phrases((
    "có lẽ", "có thể", "có khi", "chắc là", "chắc không", "không biết", "không chắc", "chưa biết",
    "chưa chắc", "không rõ", "chưa rõ", "maybe", "not sure", "don't know", "dont know", "có không",
    "có được không", "được không", "phải không", "đúng không",
))  # fmt: skip


def yes_no(text: str) -> bool | None:
    """True for a yes, False for a no, None when the text is neither ("có lẽ", a question, a story).

    A short answer that starts with yes or no and goes on counts too: "chưa, vẫn còn ở gà",
    "có, nộp luôn"; "không có" is a no. A no word inside the rest turns a yes into nothing."""
    said = core_words(text)
    if not said or UNSURE.starts(said) or any(said.endswith(f" {q}") or said == q
                                            for q in ("không", "chưa", "ko") if "?" in text):
        return None
    for form in (words(text), soft_words(text), said):
        if form in YES:
            return True
        if form in NO:
            return False
    tokens = said.split()
    if len(tokens) > 8:
        return None
    head_no = NO.starts(said)
    head_yes = YES.starts(said)
    if head_no and (not head_yes or len(head_no) >= len(head_yes)):
        return False
    if head_yes:
        rest = said[len(head_yes):].strip()
        return None if rest and NO.starts(rest) else True
    return None


# --- numbers ----------------------------------------------------------------------------------------

_DIGITS = {
    "linh": 0, "lẻ": 0, "một": 1, "mốt": 1, "hai": 2, "ba": 3, "bốn": 4, "tư": 4, "năm": 5,
    "lăm": 5, "nhăm": 5, "sáu": 6, "bảy": 7, "bẩy": 7, "tám": 8, "chín": 9, "zero": 0, "one": 1,
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
# Without diacritics, "nam" is năm (5) and "tu" tư (4); "mot" một, "bon" bốn. Ambiguous bare words
# ("ba" = three or father) only count inside a number phrase or as the whole answer.
_FOLDED_DIGITS = {fold(word): value for word, value in _DIGITS.items() }
_HUNDRED = {"trăm", "tram", "hundred"}
_THOUSAND = {"nghìn", "nghin", "ngàn", "ngan", "thousand"}
_HALF = {"rưỡi", "ruoi", "rưởi"}
_HALF_ALONE = {"nửa", "nua", "half"}
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_GROUPED = re.compile(r"\d{1,3}(?:\.\d{3})+")


def _digit(word: str) -> int | None:
    if word in _DIGITS:
        return _DIGITS[word]
    return _FOLDED_DIGITS.get(word) if not has_marks(word) else None


def _spelled(tokens: Sequence[str]) -> tuple[Decimal, int] | None:
    """A number written in words at the start of ``tokens``, and how many tokens it took:
    "bảy mươi hai" → 72, "hai trăm linh năm" → 205, "hai rưỡi" → 2.5, "mười lăm" → 15."""
    total, current, used, seen = 0, 0, 0, False
    for index, word in enumerate(tokens):
        folded = fold(word)
        if word == "mười" or word == "ten" or (folded == "muoi" and not has_marks(word)
                                                and not (seen and current % 10)):
            current += 10
        elif word in ("mươi", "chục") or folded in ("muoi", "chuc"):
            current = (current or 1) * 10
        elif folded in _HUNDRED:
            current = (current or 1) * 100
        elif folded in _THOUSAND:
            total += (current or 1) * 1000
            current = 0
        elif (digit := _digit(word)) is not None:
            if seen and current % 10 != 0 and fold(tokens[index - 1]) not in ("linh", "le"):
                break  # "hai ba" is two numbers, not 23
            current += digit
        elif seen and folded in _HALF:
            return Decimal(total + current) + Decimal("0.5"), index + 1
        else:
            break
        seen, used = True, index + 1
    return (Decimal(total + current), used) if seen else None


# Words around a number that change nothing: units and "about".
_NUMBER_FILLERS = frozenset({
    "tuổi", "tuoi", "cân", "can", "kg", "kí", "ký", "ki", "ky", "lạng", "lang", "gam", "g", "gram",
    "bản", "ban", "trang", "tờ", "to", "cái", "cai", "chiếc", "chiec", "hộp", "hop", "gói", "goi",
    "túi", "tui", "chai", "lọ", "lo", "người", "nguoi", "đứa", "dua", "khoảng", "khoang", "tầm", "tam",
    "chừng", "chung", "có", "co", "được", "duoc", "là", "la", "years", "year", "old", "pages", "copies",
    "kilo", "kilogram", "sao", "điểm", "diem",
})  # fmt: skip


def number(text: str) -> Decimal | None:
    """The one number a short answer gives: "72", "72 tuổi", "bảy mươi hai", "ba mươi tuổi rồi",
    "2,5", "1.000", "2 cân rưỡi", "hai cân rưỡi", "nửa cân". None when there is none, more than one,
    or words that are not part of the number ("để sau" is not 6)."""
    said = core_words(text).replace("½", " rưỡi")
    tokens = said.split()
    digits = [t for t in tokens if _NUMBER.match(t)]
    if digits:
        if len(digits) != 1:
            return None
        token = digits[0]
        if _GROUPED.fullmatch(token):
            return Decimal(token.replace(".", ""))
        match = _NUMBER.match(token)
        assert match is not None
        value = Decimal(match.group(0).replace(",", "."))
        tail = token[match.end():]
        after = [fold(t) for t in tokens[tokens.index(token) + 1:][:2]]
        if tail in ("r", "ruoi", "rưỡi") or any(word in _HALF for word in after):
            value += Decimal("0.5")
        return value
    kept = [t for t in tokens if t not in _NUMBER_FILLERS]
    if len(kept) == 1 and fold(kept[0]) in _HALF_ALONE:
        return Decimal("0.5")
    if not kept:
        return None
    spelled = _spelled(kept)
    if spelled is None or spelled[1] != len(kept):
        return None
    return spelled[0]


# --- ratings ----------------------------------------------------------------------------------------

_RATING_WORDS: tuple[tuple[int, Phrases], ...] = (
    (5, Phrases(("rất tốt", "tốt lắm", "tuyệt vời", "tuyệt", "xuất sắc", "rất hài lòng", "hài lòng lắm",
                 "quá tốt", "nhanh lắm", "rất nhanh", "excellent", "great", "very good", "perfect"))),
    (4, Phrases(("tốt", "hài lòng", "khá", "khá tốt", "ổn", "nhanh", "good", "fine", "satisfied"))),
    (3, Phrases(("bình thường", "tạm", "tạm được", "tàm tạm", "trung bình", "được", "okay", "average"))),
    (2, Phrases(("kém", "chưa tốt", "chậm", "hơi chậm", "chưa hài lòng", "không tốt", "poor", "slow"))),
    (1, Phrases(("tệ", "rất tệ", "quá tệ", "tệ lắm", "tệ quá", "kém lắm", "rất chậm", "chậm quá", "rất kém",
                 "không hài lòng", "chán", "bad", "terrible", "awful"))),
)
_STARS = re.compile(r"(?:(?<!\S)|^)(\d)\s*(?:sao|\*|/\s*5|stars?|⭐)", re.IGNORECASE)


def rating(text: str, lowest: int = 1, highest: int = 5) -> int | None:
    """A 1–5 rating: "5 sao", "năm sao", "⭐⭐⭐⭐", "4/5", "tốt lắm", "tệ", or a bare "5"."""
    stars = text.count("⭐")
    if stars and not text.replace("⭐", "").strip(" .!"):
        return stars if lowest <= stars <= highest else None
    stripped = " ".join(text.lower().split())
    if match := _STARS.search(stripped):
        value = int(match.group(1))
        return value if lowest <= value <= highest else None
    said = core_words(text)
    for value, phrases in _RATING_WORDS:
        if said in phrases:
            return value
    said_no_unit = re.sub(r"\b(sao|diem|điểm|stars?)\b", "", said).strip()
    found = number(said_no_unit) if said_no_unit else None
    if found is not None and found == int(found) and lowest <= int(found) <= highest:
        return int(found)
    return None


# --- choices ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    """One answer on offer: what choosing it gives (an option id, a button's data), its labels in every
    language, synonyms, and what it means when it is a yes, a no, a skip, a stop or a back."""

    value: str
    labels: tuple[str, ...]
    synonyms: tuple[str, ...] = ()
    means: str | None = None  # Meaning, or "rating:N"

    def names(self) -> frozenset[str]:
        return _names(self.labels, self.synonyms)


@lru_cache(maxsize=4096)
def _names(labels: tuple[str, ...], synonyms: tuple[str, ...]) -> frozenset[str]:
    return frozenset(said for said in (words(name) for name in (*labels, *synonyms)) if said)


def _same(typed: str, name: str) -> bool:
    return typed == name if has_marks(typed) else fold(typed) == fold(name)


def _within(typed: str, name: str) -> bool:
    """``typed`` is a run of whole words of ``name`` ("tra cuu" in "tra cứu hồ sơ")."""
    if has_marks(typed):
        return f" {typed} " in f" {name} "
    return f" {fold(typed)} " in f" {fold(name)} "


def _holds(typed: str, name: str) -> bool:
    """``name`` is a run of whole words of ``typed`` ("tiền mặt khi nhận hàng" in what was typed)."""
    if has_marks(typed):
        return f" {name} " in f" {typed} "
    return f" {fold(name)} " in f" {fold(typed)} "


def choose(text: str, choices: Sequence[Choice], *, numbered: bool = False) -> Choice | None:
    """The choice a typed answer names, or None when it names none or is ambiguous.

    In order: a label or synonym exactly (particles ignored); the number of the choice when the
    choices are numbered; a yes/no/skip/stop word for the choice that means it; a rating for the
    choice that carries it; a run of words found in exactly one label or synonym."""
    if not choices:
        return None
    typed, soft, bare = words(text), soft_words(text), core_words(text)
    if typed:
        for candidate in dict.fromkeys((typed, soft, bare)):
            exact = [c for c in choices if any(_same(candidate, name) for name in c.names())]
            if len(exact) == 1:
                return exact[0]
    if numbered and (found := re.fullmatch(r"(?:so |số |#)?(\d{1,2})", bare)):
        position = int(found.group(1))
        if 1 <= position <= len(choices):
            return choices[position - 1]
    if (meant := _by_meaning(text, choices)) is not None:
        return meant
    if len(bare) >= 3 and not bare.isdigit():
        inside = [c for c in choices if any(_within(bare, name) for name in c.names())]
        if len(inside) == 1:
            return inside[0]
    if 1 < len(bare.split()) <= 8:
        # The label with a word or two around it: "trả tiền mặt khi nhận hàng". A longer sentence says
        # more than the button does ("đặt lịch khám từ xa với bệnh viện huyện"): the NLU reads it.
        said = len(typed.split())
        around = [c for c in choices if any(2 <= len(name.split()) >= said - 2 and _holds(typed, name)
                                            for name in c.names())]
        if len(around) == 1:
            return around[0]
    return None


def _by_meaning(text: str, choices: Sequence[Choice]) -> Choice | None:
    meanings = {c.means: c for c in choices if c.means}
    if not meanings:
        return None
    said = core_words(text)
    if "no" in meanings and is_cancel(text) and said not in YES:
        return meanings["no"]  # "thôi", "hủy đơn" at a yes/no question is its no
    if "cancel" in meanings and is_cancel(text, strict=True) and said not in YES:
        # Elsewhere only a stop word alone stops: "hủy hoại hoa màu" may be the answer (a description).
        return meanings["cancel"]
    if "back" in meanings and said in BACK:
        return meanings["back"]
    answer = yes_no(text)
    if answer is True and "yes" in meanings:
        return meanings["yes"]
    if answer is False and "no" in meanings:
        return meanings["no"]
    if "skip" in meanings and said in SKIP:
        return meanings["skip"]
    ratings = {c.means.removeprefix("rating:"): c for c in choices
               if c.means and c.means.startswith("rating:")}
    if ratings and (value := rating(text)) is not None:
        return ratings.get(str(value))
    return None


def is_cancel(text: str, *, strict: bool = False) -> bool:
    """The user wants out of what they are doing: "hủy", "huy", "thôi", "dừng", "cancel", "không làm
    nữa" (particles aside: "hủy nhé", "dừng lại ạ"), and, unless `strict`, a short "hủy …" ("hủy đơn
    này", "huy lich nay"). `strict` where the answer is free text (a description, an announcement, a
    message to the doctor): there only a message that is nothing but a stop word stops, and a sentence
    that holds one ("dừng cấp nước sáng mai", "hủy hoại hoa màu") is the answer."""
    said = core_words(text)
    if said in CANCEL or words(text) in CANCEL:
        return True
    if strict:
        return False
    tokens = said.split()  # "hủy đơn", "huy lich nay"
    first = tokens[0] if tokens else ""
    return 1 < len(tokens) <= 4 and (first in ("hủy", "huỷ") or (first == "huy" and not has_marks(said)))


def is_skip(text: str) -> bool:
    return core_words(text) in SKIP or words(text) in SKIP


def is_back(text: str) -> bool:
    """One step back: "quay lại", "trở lại", "back"."""
    return core_words(text) in BACK or words(text) in BACK


def short(text: str, limit: int = 2) -> bool:
    """One or two words: inside a flow such a message is an answer, never a new request."""
    return len(words(text).split()) <= limit
