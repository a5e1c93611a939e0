from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from core import validators
from core.i18n import Catalogue
from core.text import fold
from core.validators import PROVINCE_CODES, Invalid, Option, Valid

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 3, 1)
HAMLETS = (
    Option("dong", {"vi": "Thôn Đông", "en": "East hamlet"}),
    Option("tay", {"vi": "Thôn Tây", "en": "West hamlet"}),
    Option("trung", {"vi": "Thôn Trung", "en": "Central hamlet"}),
)
CATALOGUE = Catalogue.load(ROOT / "data" / "i18n")


def error_key(result: validators.Result) -> str:
    assert isinstance(result, Invalid), result
    return result.error_key


# --- fold ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [("Hủy  Bỏ", "huy bo"), ("ĐƯỜNG Đê", "duong de"), ("  quay lại ", "quay lai"), ("Ừ", "u"), ("", "")],
)
def test_fold_strips_case_diacritics_and_spaces(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_fold_handles_decomposed_input() -> None:
    assert fold(unicodedata.normalize("NFD", "Nguyễn Thị Ánh")) == "nguyen thi anh"


# --- text ------------------------------------------------------------------------------------------------


def test_text_strips_and_keeps_content() -> None:
    assert validators.text("  Đường bị ngập  ") == Valid("Đường bị ngập")
    assert validators.text("dòng 1\ndòng 2") == Valid("dòng 1\ndòng 2")


@pytest.mark.parametrize("raw", ["", "   ", "\n\t"])
def test_text_rejects_empty(raw: str) -> None:
    assert error_key(validators.text(raw)) == "validate.text.empty"


def test_text_rejects_too_long_and_names_the_limit() -> None:
    assert validators.text("a" * 10, max_length=10) == Valid("a" * 10)
    assert validators.text("a" * 11, max_length=10) == Invalid("validate.text.too_long", {"max": 10})


# --- name ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nguyễn văn an", "Nguyễn Văn An"),
        ("NGUYỄN THỊ MINH KHAI", "Nguyễn Thị Minh Khai"),
        ("  trần   hưng  đạo ", "Trần Hưng Đạo"),
        ("nguyen van an", "Nguyen Van An"),
        ("đỗ thị ưng", "Đỗ Thị Ưng"),
        ("h'hen niê", "H'Hen Niê"),
        ("h’hen niê", "H'Hen Niê"),
        ("Tôn Nữ Thị Hà Thanh Xuân", "Tôn Nữ Thị Hà Thanh Xuân"),
    ],
)
def test_name_accepts_and_title_cases(raw: str, expected: str) -> None:
    assert validators.name(raw) == Valid(expected)


def test_name_normalises_decomposed_diacritics() -> None:
    result = validators.name(unicodedata.normalize("NFD", "lê thị ánh"))
    assert result == Valid("Lê Thị Ánh")
    assert isinstance(result, Valid) and unicodedata.is_normalized("NFC", str(result.value))


VIETNAMESE_LETTERS = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"


@pytest.mark.parametrize("letter", VIETNAMESE_LETTERS)
def test_name_accepts_every_vietnamese_letter(letter: str) -> None:
    assert validators.name(f"nguyễn {letter}n") == Valid(f"Nguyễn {letter.upper()}n")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("", "validate.name.empty"),
        ("   ", "validate.name.empty"),
        ("An", "validate.name.words"),
        ("Nguyễn Văn Thị Minh Hoa Lan Anh", "validate.name.words"),
        ("Nguyễn Văn 2", "validate.name.digits"),
        ("Nguyen Van An 1990", "validate.name.digits"),
        ("Nguyễn@Văn An", "validate.name.characters"),
        ("Иван Петров", "validate.name.characters"),
        ("王 小明", "validate.name.characters"),
        ("'An Nguyễn", "validate.name.characters"),
        ("Nguyễn Văn-An", "validate.name.characters"),
    ],
)
def test_name_rejects(raw: str, key: str) -> None:
    assert error_key(validators.name(raw)) == key


# --- phone -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678",
        "0912 345 678",
        "091.234.5678",
        "091-234-5678",
        "+84912345678",
        "+84 912 345 678",
        "84912345678",
        "+84 (0) 912 345 678",
        " 0912345678 ",
    ],
)
def test_phone_normalises_to_local_form(raw: str) -> None:
    assert validators.phone(raw) == Valid("0912345678")


@pytest.mark.parametrize("prefix", ["3", "5", "7", "8", "9"])
def test_phone_accepts_every_mobile_prefix(prefix: str) -> None:
    assert validators.phone(f"0{prefix}12345678") == Valid(f"0{prefix}12345678")
    assert validators.phone(f"+84{prefix}12345678") == Valid(f"0{prefix}12345678")


@pytest.mark.parametrize(
    "raw",
    ["0112345678", "0412345678", "0612345678", "091234567", "09123456789", "912345678", "09123abc78", ""],
)
def test_phone_rejects_non_mobile_numbers(raw: str) -> None:
    assert error_key(validators.phone(raw)) == "validate.phone.invalid"


def test_phone_tells_a_landline_apart() -> None:
    assert error_key(validators.phone("024 3825 3536")) == "validate.phone.landline"


def test_normalize_phone_is_the_same_rule_without_an_error_key() -> None:
    """A shared contact or the shop's delivery phone: the local form, or None."""
    assert validators.normalize_phone("+84 912 345 678") == "0912345678"
    assert validators.normalize_phone("84912345678") == "0912345678"
    assert validators.normalize_phone("024 3825 3536") is None
    assert validators.normalize_phone("0912") is None


# --- citizen ID ------------------------------------------------------------------------------------------


def test_province_table_has_the_63_published_codes() -> None:
    assert len(PROVINCE_CODES) == 63
    assert min(PROVINCE_CODES) == "001" and max(PROVINCE_CODES) == "096"
    assert PROVINCE_CODES["001"] == "Hà Nội"
    assert PROVINCE_CODES["079"] == "Hồ Chí Minh"
    assert PROVINCE_CODES["046"] == "Thừa Thiên Huế"
    assert PROVINCE_CODES["096"] == "Cà Mau"
    unused = {"000", "003", "005", "007", "009", "013", "016", "018", "021", "023", "028", "029", "032"}
    unused |= {"039", "041", "043", "047", "050", "053", "055", "057", "059", "061", "063", "065", "069"}
    unused |= {"071", "073", "076", "078", "081", "085", "088", "090"}
    assert unused.isdisjoint(PROVINCE_CODES)
    assert len(unused) + len(PROVINCE_CODES) == 97  # 000 to 096, every code accounted for


@pytest.mark.parametrize("code", sorted(PROVINCE_CODES))
def test_citizen_id_accepts_every_province(code: str) -> None:
    assert validators.citizen_id(f"{code}190123456") == Valid(f"{code}190123456")


@pytest.mark.parametrize("century_sex", "0123456789")
def test_citizen_id_accepts_any_century_and_sex_digit(century_sex: str) -> None:
    assert isinstance(validators.citizen_id(f"001{century_sex}99123456"), Valid)


@pytest.mark.parametrize("raw", ["001 090 123 456", "001.090.123.456", "001-090-123456", " 001090123456 "])
def test_citizen_id_allows_separators(raw: str) -> None:
    assert validators.citizen_id(raw) == Valid("001090123456")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("00109012345", Invalid("validate.citizen_id.length", {"count": 11})),
        ("0010901234567", Invalid("validate.citizen_id.length", {"count": 13})),
        ("123456789", Invalid("validate.citizen_id.old_card")),
        ("00109012345a", Invalid("validate.citizen_id.digits")),
        ("", Invalid("validate.citizen_id.digits")),
        ("003090123456", Invalid("validate.citizen_id.province", {"code": "003"})),
        ("097090123456", Invalid("validate.citizen_id.province", {"code": "097"})),
        ("000090123456", Invalid("validate.citizen_id.province", {"code": "000"})),
        ("٠٠١٠٩٠١٢٣٤٥٦", Invalid("validate.citizen_id.digits")),  # Arabic-Indic digits are not digits here
    ],
)
def test_citizen_id_rejects(raw: str, expected: Invalid) -> None:
    assert validators.citizen_id(raw) == expected


# --- date ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "15/10/2024",
        "15-10-2024",
        "15.10.2024",
        "2024-10-15",
        "15 / 10 / 2024",
        "15 tháng 10 năm 2024",
        "ngày 15 tháng 10 năm 2024",
        "Ngày 15 tháng 10, năm 2024",
        "NGÀY 15 THÁNG 10 NĂM 2024",
        "15 thang 10 nam 2024",
        "ngay 15 thang 10 nam 2024",
        "15 tháng 10 2024",
        "ngày 15/10/2024",
    ],
)
def test_date_formats(raw: str) -> None:
    assert validators.date(raw, today=TODAY) == Valid("2024-10-15")


def test_date_single_digit_day_and_month() -> None:
    assert validators.date("1/2/2024", today=TODAY) == Valid("2024-02-01")


@pytest.mark.parametrize(
    ("raw", "offset"),
    [
        ("hôm nay", 0),
        ("hom nay", 0),
        ("Hôm nay", 0),
        ("today", 0),
        ("hôm qua", -1),
        ("hom qua", -1),
        ("yesterday", -1),
        ("ngày mai", 1),
        ("tomorrow", 1),
    ],
)
def test_date_relative_words(raw: str, offset: int) -> None:
    expected = TODAY + dt.timedelta(days=offset)
    assert validators.date(raw, today=TODAY) == Valid(expected.isoformat())


def test_date_defaults_to_today_in_vietnam() -> None:
    before = validators.vietnam_today()
    result = validators.date("hôm nay")
    after = validators.vietnam_today()
    assert result in (Valid(before.isoformat()), Valid(after.isoformat()))


def test_date_accepts_leap_day() -> None:
    assert validators.date("29/02/2024", today=TODAY) == Valid("2024-02-29")


@pytest.mark.parametrize(
    "raw", ["31/02/2024", "29/02/2023", "32/01/2024", "15/13/2024", "00/10/2024", "15/10/1800"]
)
def test_date_rejects_impossible_dates(raw: str) -> None:
    assert error_key(validators.date(raw, today=TODAY)) == "validate.date.impossible"


@pytest.mark.parametrize(
    "raw", ["", "abc", "15/10", "15/10/24", "hôm kia", "2024/10/15/1", "mười lăm tháng mười"]
)
def test_date_rejects_unknown_formats(raw: str) -> None:
    assert error_key(validators.date(raw, today=TODAY)) == "validate.date.format"


def test_date_past_only() -> None:
    assert validators.date("hôm nay", today=TODAY, past_only=True) == Valid(TODAY.isoformat())
    assert validators.date("01/01/1990", today=TODAY, past_only=True) == Valid("1990-01-01")
    assert error_key(validators.date("02/03/2026", today=TODAY, past_only=True)) == "validate.date.past_only"


def test_date_future_only() -> None:
    assert validators.date("hom nay", today=TODAY, future_only=True) == Valid(TODAY.isoformat())
    assert validators.date("ngày mai", today=TODAY, future_only=True) == Valid("2026-03-02")
    assert error_key(validators.date("hôm qua", today=TODAY, future_only=True)) == "validate.date.future_only"


# --- integer ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("3", 3),
        (" 12 ", 12),
        ("-5", -5),
        ("+7", 7),
        ("1.000", 1000),
        ("1 000 000", 1_000_000),
        ("2,500", 2500),
    ],
)
def test_integer_parses(raw: str, value: int) -> None:
    assert validators.integer(raw) == Valid(value)


@pytest.mark.parametrize("raw", ["", "abc", "1,5", "3.5", "1.00", "ba", "9" * 5000, "٣"])
def test_integer_rejects_non_integers(raw: str) -> None:
    assert error_key(validators.integer(raw)) == "validate.integer.invalid"


def test_integer_bounds() -> None:
    assert validators.integer("0", min_value=0, max_value=10) == Valid(0)
    assert validators.integer("10", min_value=0, max_value=10) == Valid(10)
    assert validators.integer("-1", min_value=0) == Invalid("validate.integer.too_small", {"min": 0})
    assert validators.integer("11", max_value=10) == Invalid("validate.integer.too_large", {"max": 10})


# --- choice ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "tay",
        "TAY",
        "Thôn Tây",
        "thôn tây",
        "thon tay",
        "THON TAY",
        "tây",
        "West hamlet",
        "west HAMLET",
        "2",
        " 2. ",
    ],
)
def test_choice_matches_id_label_or_number(raw: str) -> None:
    assert validators.choice(raw, HAMLETS) == Valid("tay")


@pytest.mark.parametrize("raw", ["", "0", "4", "-1", "Thôn Bắc", "thon", "tay dong"])
def test_choice_rejects_anything_else(raw: str) -> None:
    assert error_key(validators.choice(raw, HAMLETS)) == "validate.choice.invalid"


# --- yes / no --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["có", "co", "Có", "CÓ!", "ừ", "u", "đồng ý", "dong y", "Đồng Ý", "ok", "OK.", "yes", "Y", "vâng", "dạ"],
)
def test_yes(raw: str) -> None:
    assert validators.yes_no(raw) == Valid(True)


@pytest.mark.parametrize(
    "raw", ["không", "khong", "KHÔNG", "ko", "k", "no", "N", "không đồng ý", "khong dong y"]
)
def test_no(raw: str) -> None:
    assert validators.yes_no(raw) == Valid(False)


@pytest.mark.parametrize("raw", ["", "có lẽ", "maybe", "dừng", "cỏ", "yes no"])
def test_yes_no_rejects_anything_else(raw: str) -> None:
    assert error_key(validators.yes_no(raw)) == "validate.yes_no.invalid"


# --- photo -----------------------------------------------------------------------------------------------


def test_photo_needs_an_attachment_reference() -> None:
    assert validators.photo("media:42") == Valid("media:42")
    assert error_key(validators.photo(None)) == "validate.photo.missing"
    assert error_key(validators.photo("")) == "validate.photo.missing"


# --- robustness: no validator raises; every error has a string in both languages

CHECKS: dict[str, Callable[[str], validators.Result]] = {
    "text": lambda raw: validators.text(raw, max_length=20),
    "name": validators.name,
    "phone": validators.phone,
    "citizen_id": validators.citizen_id,
    "date": lambda raw: validators.date(raw, today=TODAY),
    "date_past": lambda raw: validators.date(raw, today=TODAY, past_only=True),
    "date_future": lambda raw: validators.date(raw, today=TODAY, future_only=True),
    "integer": lambda raw: validators.integer(raw, min_value=-5, max_value=5),
    "choice": lambda raw: validators.choice(raw, HAMLETS),
    "yes_no": validators.yes_no,
    "photo": validators.photo,
}
# Arbitrary text, and text built from the characters the validators care about, to reach deeper branches.
ANY_TEXT = st.text() | st.text(alphabet="0123456789 +-./,'’ThángnămyêuĐđ", max_size=40)


@pytest.mark.parametrize("kind", sorted(CHECKS))
@given(raw=ANY_TEXT)
def test_no_validator_raises(kind: str, raw: str) -> None:
    result = CHECKS[kind](raw)
    assert isinstance(result, Valid | Invalid)
    if isinstance(result, Invalid):
        assert result.error_key.startswith("validate.")


@given(raw=ANY_TEXT)
def test_valid_values_have_the_normalised_shape(raw: str) -> None:
    if isinstance(result := validators.phone(raw), Valid):
        assert re.fullmatch(r"0[35789][0-9]{8}", str(result.value))
    if isinstance(result := validators.citizen_id(raw), Valid):
        assert re.fullmatch(r"[0-9]{12}", str(result.value)) and str(result.value)[:3] in PROVINCE_CODES
    if isinstance(result := validators.date(raw, today=TODAY), Valid):
        dt.date.fromisoformat(str(result.value))
    if isinstance(result := validators.name(raw), Valid):
        assert validators.name(str(result.value)) == result  # normalising twice changes nothing


def test_every_error_key_has_a_string_in_both_languages() -> None:
    sources = (ROOT / "core" / "validators.py").read_text(encoding="utf-8")
    sources += (ROOT / "core" / "forms.py").read_text(encoding="utf-8")
    used = set(re.findall(r'"((?:validate|form)\.[a-z_.]+)"', sources))
    assert "validate.citizen_id.length" in used and "form.intro" in used
    for lang in ("vi", "en"):
        assert used <= CATALOGUE.keys(lang), sorted(used - CATALOGUE.keys(lang))


def test_vietnamese_and_english_strings_match() -> None:
    vi = yaml.safe_load((ROOT / "data/i18n/vi/forms.yml").read_text(encoding="utf-8"))
    en = yaml.safe_load((ROOT / "data/i18n/en/forms.yml").read_text(encoding="utf-8"))
    assert set(vi) == set(en)
    assert all(key.startswith(("form.", "validate.")) for key in vi)
    for key in vi:
        assert re.findall(r"\{(\w+)\}", vi[key]) == re.findall(r"\{(\w+)\}", en[key]), key


@given(raw=ANY_TEXT)
def test_error_messages_format_with_their_params(raw: str) -> None:
    for check in CHECKS.values():
        result = check(raw)
        if isinstance(result, Invalid):
            for lang in ("vi", "en"):
                assert CATALOGUE.t(result.error_key, lang, **result.params)
