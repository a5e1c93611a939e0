"""Field validators for forms: each takes what the user typed and returns `Valid(value)` or `Invalid(key)`.

Values are JSON-serialisable (str, int, bool) so a form's state can be stored as-is. Error keys name strings
in the `validate.` section of the i18n catalogue; `Invalid.params` fills their placeholders.
Validators never raise on user input.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.text import fold, has_marks
from core.timezones import VIETNAM

Value = str | int | bool


@dataclass(frozen=True, slots=True)
class Valid:
    value: Value


@dataclass(frozen=True, slots=True)
class Invalid:
    error_key: str
    params: Mapping[str, str | int] = field(default_factory=dict)


Result = Valid | Invalid


@dataclass(frozen=True, slots=True)
class Option:
    """One answer of a choice field: a stable id (stored, used in button data) and its labels per language."""

    id: str
    label: Mapping[str, str]
    synonyms: tuple[str, ...] = ()  # what people call it when they type ("con trai" for Nam)


def vietnam_today() -> dt.date:
    return dt.datetime.now(VIETNAM).date()


# --- text helpers ----------------------------------------------------------------------------------------


def _squeeze(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


# --- text ------------------------------------------------------------------------------------------------


def text(raw: str, *, max_length: int = 500) -> Result:
    value = unicodedata.normalize("NFC", raw).strip()
    if not value:
        return Invalid("validate.text.empty")
    if len(value) > max_length:
        return Invalid("validate.text.too_long", {"max": max_length})
    return Valid(value)


# --- name ------------------------------------------------------------------------------------------------

# Combining marks that Vietnamese uses, seen after NFD: circumflex, breve, horn, and the five tones.
_VIETNAMESE_MARKS = frozenset("\u0302\u0306\u031b\u0300\u0301\u0303\u0309\u0323")
_NAME_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZđĐ")
_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "`": "'"})
_MAX_NAME_LENGTH = 80


def _is_name_word(word: str) -> bool:
    decomposed = unicodedata.normalize("NFD", word)
    # Apostrophes occur inside Ede and Jrai names (H'Hen Niê), never at the start or end.
    if decomposed[0] not in _NAME_LETTERS or word.endswith("'") or "''" in word:
        return False
    return all(ch in _NAME_LETTERS or ch in _VIETNAMESE_MARKS or ch == "'" for ch in decomposed)


def _title_word(word: str) -> str:
    return "'".join(part[:1].upper() + part[1:].lower() for part in word.split("'"))


def name(raw: str) -> Result:
    value = _squeeze(raw).translate(_APOSTROPHES)
    if not value:
        return Invalid("validate.name.empty")
    if any(ch.isdigit() for ch in value):
        return Invalid("validate.name.digits")
    words = value.split(" ")
    if not all(_is_name_word(word) for word in words):
        return Invalid("validate.name.characters")
    if not 2 <= len(words) <= 6 or len(value) > _MAX_NAME_LENGTH:
        return Invalid("validate.name.words")
    return Valid(" ".join(_title_word(word) for word in words))


# --- phone -----------------------------------------------------------------------------------------------

_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
# "0912345678", "+84912345678", "84912345678"; "+84 0912…" is a common slip and is accepted too.
_MOBILE = re.compile(r"(?:0|\+?840?)([35789][0-9]{8})")
_LANDLINE = re.compile(r"(?:0|\+?840?)2[0-9]{9}")


def phone(raw: str) -> Result:
    compact = _PHONE_SEPARATORS.sub("", raw)
    match = _MOBILE.fullmatch(compact)
    if match:
        return Valid("0" + match.group(1))
    if _LANDLINE.fullmatch(compact):
        return Invalid("validate.phone.landline")
    return Invalid("validate.phone.invalid")


def normalize_phone(raw: str) -> str | None:
    """A mobile number shared or typed outside a form (a contact, the shop's delivery phone) in its local
    form "09…", or None: the same rule as the forms' `phone` field, for callers that need no error key."""
    result = phone(raw)
    return result.value if isinstance(result, Valid) and isinstance(result.value, str) else None


# --- citizen ID (CCCD) -----------------------------------------------------------------------------------

# Province where the birth was registered: first 3 digits of the 12-digit personal ID number.
# Appendix 1 of Circular 07/2016/TT-BCA (Ministry of Public Security): the 63 provinces before the 2025
# merger; numbers already issued keep their code.
PROVINCE_CODES: Mapping[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang",
    "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định", "037": "Ninh Bình",
    "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình", "045": "Quảng Trị",
    "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định",
    "054": "Phú Yên", "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước",
    "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai", "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh",
    "086": "Vĩnh Long", "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ",
    "093": "Hậu Giang", "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}  # fmt: skip

_ID_SEPARATORS = re.compile(r"[\s.\-]")


def citizen_id(raw: str) -> Result:
    """12 digits: province (3), century and sex (1, any of 0-9), birth year (2, any), serial (6)."""
    compact = _ID_SEPARATORS.sub("", raw)
    if not re.fullmatch(r"[0-9]+", compact):
        return Invalid("validate.citizen_id.digits")
    if len(compact) == 9:
        return Invalid("validate.citizen_id.old_card")
    if len(compact) != 12:
        return Invalid("validate.citizen_id.length", {"count": len(compact)})
    if compact[:3] not in PROVINCE_CODES:
        return Invalid("validate.citizen_id.province", {"code": compact[:3]})
    return Valid(compact)


# --- date ------------------------------------------------------------------------------------------------

_DAY_MONTH_YEAR = re.compile(r"(?:ngay )?([0-9]{1,2}) ?[/.\-] ?([0-9]{1,2}) ?[/.\-] ?([0-9]{4})", re.ASCII)
_YEAR_MONTH_DAY = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", re.ASCII)
_WORDS = re.compile(r"(?:ngay )?([0-9]{1,2}) thang ([0-9]{1,2}),? (?:nam )?([0-9]{4})", re.ASCII)
_RELATIVE_DAYS = {
    "hom nay": 0, "today": 0,
    "hom qua": -1, "yesterday": -1,
    "ngay mai": 1, "mai": 1, "tomorrow": 1,
}  # fmt: skip
_MIN_YEAR, _MAX_YEAR = 1900, 2100


def _parse_date(folded: str, today: dt.date) -> dt.date | Invalid | None:
    if folded in _RELATIVE_DAYS:
        return today + dt.timedelta(days=_RELATIVE_DAYS[folded])
    if match := _YEAR_MONTH_DAY.fullmatch(folded):
        year, month, day = (int(group) for group in match.groups())
    elif match := _DAY_MONTH_YEAR.fullmatch(folded) or _WORDS.fullmatch(folded):
        day, month, year = (int(group) for group in match.groups())
    else:
        return None
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        return Invalid("validate.date.impossible")
    try:
        return dt.date(year, month, day)
    except ValueError:
        return Invalid("validate.date.impossible")


def date(
    raw: str, *, today: dt.date | None = None, past_only: bool = False, future_only: bool = False
) -> Result:
    """A calendar date as ISO text. `past_only` allows today and earlier, `future_only` today and later."""
    today = today or vietnam_today()
    parsed = _parse_date(fold(raw).strip(" .,!"), today)
    if parsed is None:
        return Invalid("validate.date.format")
    if isinstance(parsed, Invalid):
        return parsed
    if past_only and parsed > today:
        return Invalid("validate.date.past_only")
    if future_only and parsed < today:
        return Invalid("validate.date.future_only")
    return Valid(parsed.isoformat())


# --- integer ---------------------------------------------------------------------------------------------

# Vietnamese writes thousands as 1.000.000; a lone comma ("1,5") is a decimal and is refused.
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(?:[. ,][0-9]{3})+", re.ASCII)
_PLAIN = re.compile(r"[+-]?[0-9]+", re.ASCII)


def integer(raw: str, *, min_value: int | None = None, max_value: int | None = None) -> Result:
    compact = " ".join(raw.split())
    if not (_PLAIN.fullmatch(compact) or _GROUPED.fullmatch(compact)) or len(compact) > 30:
        return Invalid("validate.integer.invalid")
    number = int(re.sub(r"[. ,]", "", compact))
    if min_value is not None and number < min_value:
        return Invalid("validate.integer.too_small", {"min": min_value})
    if max_value is not None and number > max_value:
        return Invalid("validate.integer.too_large", {"max": max_value})
    return Valid(number)


# --- choice ----------------------------------------------------------------------------------------------


def choice(raw: str, options: Sequence[Option]) -> Result:
    """Match an option by id, by any of its labels (diacritics and case ignored), or by its 1-based number."""
    wanted = fold(raw).strip(" .")
    if not wanted:
        return Invalid("validate.choice.invalid")
    if wanted.isascii() and wanted.isdigit() and 1 <= int(wanted) <= len(options):
        return Valid(options[int(wanted) - 1].id)
    for option in options:
        if wanted == fold(option.id) or any(wanted == fold(label) for label in option.label.values()):
            return Valid(option.id)
    return Invalid("validate.choice.invalid")


# --- yes / no --------------------------------------------------------------------------------------------

_YES = frozenset(
    {"có", "ừ", "ừm", "uh", "ờ", "đồng ý", "ok", "oke", "okay", "yes", "y", "vâng", "dạ", "được"}
)
_NO = frozenset({"không", "ko", "k", "khg", "kg", "không đồng ý", "no", "n", "nope"})
_YES_FOLDED = frozenset(fold(word) for word in _YES)
_NO_FOLDED = frozenset(fold(word) for word in _NO)


def yes_no(raw: str) -> Result:
    exact = _squeeze(raw).lower().strip(" .!")
    # Typed without diacritics, "co" can only mean "có"; with them, the exact word must match.
    folded = fold(exact) if not has_marks(exact) else None
    if exact in _YES or folded in _YES_FOLDED:
        return Valid(True)
    if exact in _NO or folded in _NO_FOLDED:
        return Valid(False)
    return Invalid("validate.yes_no.invalid")


# --- photo -----------------------------------------------------------------------------------------------


def photo(attachment_ref: str | None) -> Result:
    """The caller stores the attachment and passes its reference; None means the message carried none."""
    if not attachment_ref:
        return Invalid("validate.photo.missing")
    return Valid(attachment_ref)
