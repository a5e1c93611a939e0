from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu.normalize import aligned_fold, fold, fold_phrase, is_blank, normalize, strip_diacritics


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize("text", ["Tôi muốn nộp hồ sơ", "Đăng ký KẾT HÔN", "Chè Tân Cương ngon quá"])
def test_composed_and_decomposed_input_normalize_alike(text: str) -> None:
    assert nfd(text) != text
    assert normalize(nfd(text)) == normalize(text)
    assert fold(nfd(text)) == fold(text)


def test_lower_case_and_whitespace_collapse() -> None:
    assert normalize("  XIN   Chào\t\nBẠN  ") == "xin chào bạn"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ko dc", "không được"),
        ("k biết", "không biết"),
        ("hok đc à", "không được à"),
        ("mik muốn nộp hs", "mình muốn nộp hồ sơ"),
        ("mk hỏi j", "mình hỏi gì"),
        ("giá bn", "giá bao nhiêu"),
        ("làm ntn", "làm như thế nào"),
        ("gặp bs", "gặp bác sĩ"),
        ("đổi sdt", "đổi số điện thoại"),
        ("e cảm ơn a", "em cảm ơn anh"),
        ("đi vs mẹ r", "đi với mẹ rồi"),
        ("ib mình", "nhắn tin mình"),
        ("ĐC KO", "được không"),
    ],
)
def test_chat_abbreviations_are_expanded(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "text",
    ["kho", "khó", "a@b.vn", "e-mail", "50k", "lb-2026-000123", "dh-000321", "1.5kg", "ok", "anh", "vitamin"],
)
def test_abbreviations_leave_ordinary_words_and_codes_alone(text: str) -> None:
    assert normalize(text) == text


def test_repeated_letters_are_squeezed_but_digits_are_not() -> None:
    assert normalize("xin chàooo") == "xin chào"
    assert normalize("DH-000321") == "dh-000321"


def test_strip_diacritics() -> None:
    assert strip_diacritics("Đường Hồ Chí Minh, Thái Nguyên") == "Duong Ho Chi Minh, Thai Nguyen"
    assert strip_diacritics(nfd("Đại Từ ữ ặ ỵ")) == "Dai Tu u a y"
    assert strip_diacritics("plain ascii 123") == "plain ascii 123"


def test_fold_is_normalized_and_diacritics_free() -> None:
    assert fold("Tôi KHÔNG đc  đến") == "toi khong duoc den"
    assert fold("ko thở đc") == fold("không thở được") == "khong tho duoc"
    assert fold_phrase(" Chè  TÂN cương ") == "che tan cuong"


def test_aligned_fold_maps_back_to_decomposed_text() -> None:
    text = nfd("Mua Chè Tân Cương")
    folded, starts, ends = aligned_fold(text)
    assert folded == "mua che tan cuong"
    begin = folded.index("che tan cuong")
    assert unicodedata.normalize("NFC", text[starts[begin] : ends[len(folded) - 1]]) == "Chè Tân Cương"


@settings(database=None)
@given(st.text(max_size=60))
def test_aligned_fold_offsets_are_always_valid(text: str) -> None:
    folded, starts, ends = aligned_fold(text)
    assert len(folded) == len(starts) == len(ends)
    for i in range(len(folded)):
        assert 0 <= starts[i] < ends[i] <= len(text)
        if i:
            assert starts[i] >= starts[i - 1]


@pytest.mark.parametrize(
    ("text", "blank"), [("", True), ("   ", True), ("😀😀", True), ("?!", True), ("a", False)]
)
def test_is_blank(text: str, blank: bool) -> None:
    assert is_blank(text) is blank
