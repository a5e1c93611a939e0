"""One stop and back vocabulary (core/answers): what every flow reads as "hủy" and "quay lại"."""

from __future__ import annotations

import pytest

from core import answers
from core.answers import Choice, choose

STOPS = ["hủy", "huy", "Hủy!", "huỷ", "hủy bỏ", "huy bo", "dừng", "dung", "Dừng lại ạ", "dừng nhé", "thôi",
         "thoi", "cancel", "Cancel", "stop", "không làm nữa", "không mua", "khong mua", "/cancel", "/huy"]


@pytest.mark.parametrize("text", STOPS)
def test_a_stop_word_stops_even_where_the_answer_is_free_text(text: str) -> None:
    assert answers.is_cancel(text) and answers.is_cancel(text, strict=True)


@pytest.mark.parametrize("text", ["dừng cấp nước sáng mai", "hủy hoại hoa màu", "huy hoai hoa mau",
                                  "tôi muốn dừng", "Huy Hoàng", "ít thôi", "2 hộp thôi"])
def test_a_sentence_holding_a_stop_word_is_an_answer_in_free_text(text: str) -> None:
    assert not answers.is_cancel(text, strict=True)


def test_a_short_hủy_something_stops_where_the_answer_is_not_free_text() -> None:
    assert answers.is_cancel("hủy đơn này") and answers.is_cancel("huy lich nay")
    assert not answers.is_cancel("hủy đơn này", strict=True)


def test_đúng_is_not_dừng() -> None:
    assert not answers.is_cancel("đúng") and answers.yes_no("đúng") is True
    # Without marks "dung" is both: at a yes/no question the yes wins.
    yes, no = Choice("yes", ("Đồng ý",), means="yes"), Choice("no", ("Không",), means="no")
    assert choose("dung", [yes, no]) is yes
    assert choose("dừng", [yes, no]) is no


@pytest.mark.parametrize("text", ["quay lại", "quay lai", "Quay lại!", "trở lại", "back", "/back"])
def test_back(text: str) -> None:
    assert answers.is_back(text) and not answers.is_cancel(text)


def test_a_cancel_button_is_chosen_by_a_stop_word_alone() -> None:
    cancel = Choice("report:cancel", ("✖️ Hủy",), means="cancel")
    assert choose("dừng", [cancel]) is cancel and choose("thôi", [cancel]) is cancel
    assert choose("hủy hoại hoa màu ở xóm Kèm", [cancel]) is None  # the description, not a stop


# --- in a form (core/forms.py reads the same words) -------------------------------------------------


def test_in_a_form_dừng_stops_and_a_name_is_not_a_stop() -> None:
    from tests.support.forms import Chat

    chat = Chat()
    assert chat.send("huy hoang").outcome == "continue"  # a name typed without marks: the answer
    assert chat.state["values"]["full_name"] == "Huy Hoang"
    assert chat.send("quay lại").outcome == "continue" and chat.state["index"] == 0
    step = chat.send("dừng")
    assert step.outcome == "cancelled" and step.state is None and "Đã hủy" in step.replies[0].text


def test_at_the_summary_dung_is_đúng() -> None:
    from tests.support.forms import Chat

    chat = Chat()
    chat.fill(6)
    assert chat.state["confirming"] is True
    assert chat.send("dung").outcome == "completed"
