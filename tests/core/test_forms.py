from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.forms import FormRunner, FormSpec, Step, load_forms
from core.i18n import Catalogue
from core.messages import Contact, Incoming, Reply
from tests.support.forms import (
    ANSWERS,
    EXAMPLE,
    FORM_ID,
    PHOTO,
    ROOT,
    TODAY,
    Chat,
    fresh_runner,
    message,
)

FIELDS = ["full_name", "birth_date", "citizen_id", "phone", "hamlet", "photo"]
EXPECTED = {
    "full_name": "Nguyen Van An",
    "birth_date": "1990-10-15",
    "citizen_id": "001090123456",
    "phone": "0912345678",
    "hamlet": "tay",
    "photo": "media:7",
}


def prompt(field: int, lang: str = "vi") -> str:
    return load_forms(EXAMPLE)[FORM_ID].fields[field].prompt[lang]


# --- start and the happy path ----------------------------------------------------------------------------


def test_start_introduces_the_form_and_asks_the_first_field() -> None:
    step = fresh_runner().start("vi")
    assert step.outcome == "continue"
    assert len(step.replies) == 2
    assert "Đăng ký thông tin cư dân" in step.replies[0].text and "hủy" in step.replies[0].text
    assert step.replies[1].text == prompt(0)
    assert step.replies[1].buttons == ()  # the first question stays uncluttered
    assert step.state is not None
    assert json.loads(json.dumps(step.state)) == step.state
    assert step.state["form"] == FORM_ID and step.state["version"] == 1
    assert step.state["index"] == 0 and step.state["values"] == {} and step.state["confirming"] is False


def test_happy_path_to_completion() -> None:
    chat = Chat()
    for number, answer in enumerate(ANSWERS, 1):
        step = chat.send(answer)
        assert step.outcome == "continue" and len(step.replies) == 1
        assert step.replies[0].text.startswith(prompt(number))
        assert {"form:back", "form:cancel"} <= set(chat.buttons())
    assert fresh_runner().expects_attachment(chat.state)
    chat.send(attachment=PHOTO, ref="media:7")
    summary = chat.text()
    for line in [
        "Họ và tên: Nguyen Van An",
        "Ngày sinh: 15/10/1990",
        "Số CCCD: 001090123456",
        "Số điện thoại: 0912345678",
        "Thôn: Thôn Tây",
        "Ảnh CCCD: 📷 đã gửi ảnh",
    ]:
        assert line in summary.splitlines()
    assert list(chat.buttons()) == ["form:confirm", "form:edit", "form:cancel"]
    step = chat.send(button="form:confirm")
    assert step.outcome == "completed" and step.state is None
    assert step.values == EXPECTED and list(step.values) == FIELDS
    assert step.replies and step.replies[0].text


def test_happy_path_in_english_with_buttons() -> None:
    chat = Chat(lang="en")
    assert "Resident registration" in chat.text() and chat.last.replies[1].text == prompt(0, "en")
    for answer in ANSWERS[:4]:
        chat.send(answer)
    assert chat.buttons() == {
        "form:choice:dong": "East hamlet",
        "form:choice:tay": "West hamlet",
        "form:choice:trung": "Central hamlet",
        "form:back": "⬅ Back",
        "form:cancel": "✖ Cancel",
    }
    chat.send(button="form:choice:trung")
    assert chat.buttons()["form:skip"] == "Skip"
    chat.send(button="form:skip")
    assert "Hamlet: Central hamlet" in chat.text() and "ID photo: (skipped)" in chat.text()
    assert set(chat.buttons().values()) == {"✅ Confirm", "✏️ Edit", "✖ Cancel"}
    step = chat.send("yes")
    assert step.outcome == "completed" and step.values["hamlet"] == "trung" and step.values["photo"] is None


@pytest.mark.parametrize("answer", ["2", "tay", "thon tay", "THÔN TÂY", "West hamlet"])
def test_choice_by_number_id_or_label(answer: str) -> None:
    chat = Chat()
    chat.fill(4)
    chat.send(answer)
    assert chat.state["values"]["hamlet"] == "tay" and chat.state["index"] == 5


@pytest.mark.parametrize("word", ["có", "co", "ok", "xác nhận", "xac nhan", "Đồng ý", "confirm"])
def test_confirm_by_typed_word(word: str) -> None:
    chat = Chat()
    chat.fill(6)
    step = chat.send(word)
    assert step.outcome == "completed" and step.values == EXPECTED


def test_form_without_confirmation_completes_after_the_last_field() -> None:
    spec = FormSpec.from_dict(
        {
            "id": "quick",
            "title": "Hỏi nhanh",
            "confirm": False,
            "fields": [
                {"name": "count", "type": "integer", "min": 1, "max": 5, "prompt": "Mấy người?"},
                {"name": "urgent", "type": "yes_no", "prompt": {"vi": "Có gấp không?", "en": "Urgent?"}},
                {"name": "note", "type": "text", "required": False, "max_length": 20, "prompt": "Ghi chú?"},
            ],
        }
    )
    chat = Chat(spec=spec)
    chat.send("9")
    assert "Số lớn nhất là 5." in chat.text() and chat.state["index"] == 0
    chat.send("3")
    assert {"form:yes": "Có", "form:no": "Không"}.items() <= chat.buttons().items()
    chat.send(button="form:no")
    step = chat.send("  nhà có người già  ")
    assert step.outcome == "completed" and step.state is None
    assert step.values == {"count": 3, "urgent": False, "note": "nhà có người già"}


def test_yes_no_field_accepts_typed_answers() -> None:
    spec = FormSpec.from_dict(
        {
            "id": "yn",
            "title": "T",
            "confirm": False,
            "fields": [{"name": "ok", "type": "yes_no", "prompt": "?"}],
        }
    )
    assert Chat(spec=spec).send("co").values == {"ok": True}
    assert Chat(spec=spec).send("khong").values == {"ok": False}


def test_phone_field_accepts_a_shared_contact() -> None:
    chat = Chat()
    chat.fill(3)
    chat.send(contact=Contact(phone="+84912345678", verified=True))
    assert chat.state["values"]["phone"] == "0912345678"


# --- invalid input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filled", "answer", "message_part"),
    [
        (0, "An", "2 đến 6 chữ"),
        (0, "Nguyễn Văn 3", "chữ số"),
        (1, "31/02/1990", "không có trên lịch"),
        (1, "01/01/2030", "chưa tới"),
        (1, "hôm kia", "ngày/tháng/năm"),
        (2, "00109012345", "12 chữ số (bạn vừa nhập 11 số)"),
        (2, "123456789", "CMND"),
        (2, "003090123456", "mã tỉnh"),
        (3, "0212345678", "di động"),
        (4, "Thôn Bắc", "1. Thôn Đông · 2. Thôn Tây"),  # the choices, numbered, typed or tapped
        (5, "đây là ảnh", "gửi một tấm ảnh"),
    ],
)
def test_invalid_input_explains_and_keeps_the_state(filled: int, answer: str, message_part: str) -> None:
    chat = Chat()
    chat.fill(filled)
    before = chat.state
    step = chat.send(answer)
    assert step.outcome == "continue" and len(step.replies) == 1
    assert message_part in step.replies[0].text
    assert prompt(filled) in step.replies[0].text  # the same question again
    after = chat.state
    assert after["errors"] == before["errors"] + 1
    assert {k: v for k, v in after.items() if k != "errors"} == {
        k: v for k, v in before.items() if k != "errors"
    }


def test_hint_after_three_invalid_tries_in_a_row() -> None:
    chat = Chat()
    chat.send("1")
    chat.send("2")
    assert "💡" not in chat.text() and chat.buttons() == {}
    chat.send("3")
    assert "💡" in chat.text() and 'gõ "hủy"' in chat.text()
    assert "form:cancel" in chat.buttons()  # a way out even on the first question
    chat.send("4")
    assert "💡" in chat.text()
    chat.send("Nguyễn Văn An")
    assert chat.state["errors"] == 0 and "💡" not in chat.text()


def test_non_text_message_on_a_text_field() -> None:
    chat = Chat()
    chat.send(attachment=PHOTO, ref="media:1")
    assert "tin nhắn chữ" in chat.text() and chat.state["index"] == 0 and chat.state["errors"] == 1


def test_photo_without_a_stored_reference_is_a_caller_error() -> None:
    chat = Chat()
    chat.fill(5)
    with pytest.raises(ValueError, match="attachment_ref"):
        chat.send(attachment=PHOTO)


# --- back ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("position", range(1, 6))
def test_back_button_goes_to_the_previous_field(position: int) -> None:
    chat = Chat()
    chat.fill(position)
    values = chat.state["values"]
    step = chat.send(button="form:back")
    assert step.outcome == "continue" and chat.state["index"] == position - 1
    assert chat.state["values"] == values  # nothing is lost by going back
    assert step.replies[0].text.startswith(prompt(position - 1))
    assert "Hiện tại:" in step.replies[0].text  # the answer already given is shown


@pytest.mark.parametrize("word", ["quay lại", "quay lai", "Quay Lại!", "back", "trở lại", "tro lai"])
def test_back_by_typed_word(word: str) -> None:
    chat = Chat()
    chat.fill(2)
    chat.send(word)
    assert chat.state["index"] == 1


def test_back_at_the_first_field_asks_it_again() -> None:
    chat = Chat()
    step = chat.send("quay lại")
    assert chat.state["index"] == 0 and "câu hỏi đầu tiên" in step.replies[0].text
    assert prompt(0) in step.replies[0].text


def test_back_from_the_summary_goes_to_the_last_field() -> None:
    chat = Chat()
    chat.fill(6)
    chat.send(button="form:back")
    assert chat.state["index"] == 5 and chat.state["confirming"] is False
    assert chat.text().startswith(prompt(5))


def test_back_all_the_way_then_forward_again() -> None:
    chat = Chat()
    chat.fill(5)
    for _ in range(7):
        chat.send("back")
    assert chat.state["index"] == 0
    chat.send("Trần Thị Bình")
    for answer in ANSWERS[1:]:
        chat.send(answer)
    chat.send(button="form:skip")
    step = chat.send(button="form:confirm")
    assert step.values == {**EXPECTED, "full_name": "Trần Thị Bình", "photo": None}


# --- cancel ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word", ["hủy", "huy", "HỦY!", "hủy bỏ", "huy bo", "cancel", "thôi", "thoi", "/cancel"]
)
@pytest.mark.parametrize("position", [0, 3, 6])
def test_cancel_by_word_anywhere(word: str, position: int) -> None:
    chat = Chat()
    chat.fill(position)
    step = chat.send(word)
    assert step.outcome == "cancelled" and step.state is None and step.values == {}
    assert "Đã hủy" in step.replies[0].text


@pytest.mark.parametrize("position", [1, 4, 5, 6])
def test_cancel_by_button(position: int) -> None:
    chat = Chat()
    chat.fill(position)
    assert "form:cancel" in chat.buttons()
    assert chat.send(button="form:cancel").outcome == "cancelled"


def test_cancel_in_english() -> None:
    chat = Chat(lang="en")
    assert chat.send("Cancel").replies[0].text.startswith("Cancelled")


# --- skip ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how", [{"button": "form:skip"}, {"text": "bỏ qua"}, {"text": "bo qua"}, {"text": "Skip"}]
)
def test_skip_an_optional_field(how: dict[str, str]) -> None:
    chat = Chat()
    chat.fill(5)
    chat.send(**how)
    assert chat.state["confirming"] is True and chat.state["values"]["photo"] is None
    assert "Ảnh CCCD: (bỏ qua)" in chat.text()


@pytest.mark.parametrize("how", [{"button": "form:skip"}, {"text": "bỏ qua"}])
def test_a_required_field_cannot_be_skipped(how: dict[str, str]) -> None:
    chat = Chat()
    chat.fill(2)
    before = chat.state
    chat.send(**how)
    assert chat.state == before and "bắt buộc" in chat.text() and prompt(2) in chat.text()


def test_only_optional_fields_offer_skip() -> None:
    chat = Chat()
    for answer in ANSWERS:
        assert "form:skip" not in chat.buttons()
        chat.send(answer)
    assert "form:skip" in chat.buttons()


# --- edit from the summary -------------------------------------------------------------------------------


def test_edit_one_field_from_the_summary() -> None:
    chat = Chat()
    chat.fill(6)
    chat.send(button="form:edit")
    assert chat.buttons() == {
        "form:edit:full_name": "Họ và tên",
        "form:edit:birth_date": "Ngày sinh",
        "form:edit:citizen_id": "Số CCCD",
        "form:edit:phone": "Số điện thoại",
        "form:edit:hamlet": "Thôn",
        "form:edit:photo": "Ảnh CCCD",
        "form:cancel": "✖ Hủy",
    }
    assert chat.state["confirming"] is True
    chat.send(button="form:edit:phone")
    assert chat.text().startswith(prompt(3)) and "0912345678" in chat.text()
    assert {"form:back", "form:cancel"} <= set(chat.buttons())
    chat.send("0987 654 321")
    assert chat.state["confirming"] is True  # straight back to the summary, not to the next field
    assert "Số điện thoại: 0987654321" in chat.text()
    step = chat.send(button="form:confirm")
    assert step.values == {**EXPECTED, "phone": "0987654321"}


def test_edit_keeps_asking_until_valid_then_returns() -> None:
    chat = Chat()
    chat.fill(6)
    chat.send(button="form:edit:citizen_id")
    chat.send("12345")
    assert "12 chữ số" in chat.text() and chat.state["returning"] is True
    chat.send("079203012345")
    assert chat.state["confirming"] is True and "Số CCCD: 079203012345" in chat.text()


def test_back_while_editing_returns_to_the_summary_unchanged() -> None:
    chat = Chat()
    chat.fill(6)
    chat.send(button="form:edit:full_name")
    assert "form:back" in chat.buttons()  # even on the first field, back leads to the summary
    chat.send(button="form:back")
    assert chat.state["confirming"] is True
    assert chat.send(button="form:confirm").values == EXPECTED


@pytest.mark.parametrize("word", ["sửa", "sua", "edit", "không", "ko"])
def test_typed_edit_word_shows_the_menu(word: str) -> None:
    chat = Chat()
    chat.fill(6)
    chat.send(word)
    assert "mục nào" in chat.text() and "form:edit:phone" in chat.buttons()


@pytest.mark.parametrize("typed", ["4", "số điện thoại", "so dien thoai", "Phone"])
def test_typed_field_number_or_label_at_the_summary_edits_it(typed: str) -> None:
    chat = Chat()
    chat.fill(6)
    chat.send(typed)
    assert chat.state["index"] == 3 and chat.state["returning"] is True


def test_other_text_at_the_summary_repeats_it_with_a_hint() -> None:
    chat = Chat()
    chat.fill(6)
    before = chat.state
    chat.send("hmm để xem")
    assert chat.state == before and "Xác nhận" in chat.text() and "Họ và tên: Nguyen Van An" in chat.text()


# --- restart in the middle ---------------------------------------------------------------------------------


def test_restart_in_the_middle_resumes_where_it_was() -> None:
    runner = fresh_runner()
    step = runner.start("vi")
    for answer in ANSWERS[:3]:
        assert step.state is not None
        step = runner.handle(step.state, message(answer), "vi")
    stored = json.dumps(step.state)
    del runner  # the process dies; a new one loads everything again and reads the stored state
    reborn = FormRunner(
        load_forms(EXAMPLE)[FORM_ID], Catalogue.load(ROOT / "data" / "i18n"), today=lambda: TODAY
    )
    resumed = reborn.handle(json.loads(stored), message("0912345678"), "vi")
    assert resumed.state is not None and resumed.state["index"] == 4
    assert resumed.state["values"] == {k: EXPECTED[k] for k in FIELDS[:4]}


def test_the_runner_never_mutates_the_state_it_is_given() -> None:
    chat = Chat()
    chat.fill(6)
    state = chat.state
    snapshot = copy.deepcopy(state)
    runner = fresh_runner()
    for incoming in [message(button="form:edit:phone"), message("x"), message(button="form:confirm")]:
        runner.handle(state, incoming, "vi")
    assert state == snapshot


# --- forged or stale buttons -------------------------------------------------------------------------------

FORGED = [
    "form:choice:nope",
    "form:choice:",
    "form:edit:nope",
    "form:edit:",
    "form:confirm",
    "form:edit",
    "form:yes",
    "form:no",
    "form:bogus",
    "form:",
    "",
    "admin:approve:LB-2026-000001",
    "form:choice:tay:extra",
    "x" * 5000,
    "form:choice:\x00",
]


@pytest.mark.parametrize("data", FORGED)
@pytest.mark.parametrize("position", [0, 2, 4])
def test_forged_buttons_mid_form_are_refused_politely(data: str, position: int) -> None:
    chat = Chat()
    chat.fill(position)
    before = chat.state
    step = chat.send(button=data)
    assert step.outcome == "continue" and chat.state == before
    assert "không còn dùng được" in step.replies[0].text and prompt(position) in step.replies[0].text


@pytest.mark.parametrize("data", [d for d in FORGED if d not in ("form:confirm", "form:edit")])
def test_forged_buttons_at_the_summary_are_refused_politely(data: str) -> None:
    chat = Chat()
    chat.fill(6)
    before = chat.state
    step = chat.send(button=data)
    assert step.outcome == "continue" and chat.state == before
    assert (
        "không còn dùng được" in step.replies[0].text and "Họ và tên: Nguyen Van An" in step.replies[0].text
    )


def test_a_choice_button_from_another_field_is_refused() -> None:
    chat = Chat()
    chat.fill(2)
    chat.send(button="form:choice:tay")
    assert chat.state["index"] == 2 and "không còn dùng được" in chat.text()


def test_button_data_sent_back_as_text_works() -> None:
    # Zalo OA "query" buttons return their payload as the user's text.
    chat = Chat()
    chat.fill(4)
    chat.send("form:choice:dong")
    assert chat.state["values"]["hamlet"] == "dong"
    chat.send("form:back")
    assert chat.state["index"] == 4


def test_button_data_fits_telegram_callback_limit() -> None:
    chat = Chat()
    seen: set[str] = set()
    for answer in [*ANSWERS, None]:
        seen |= set(chat.buttons())
        chat.send(answer, button=None if answer else "form:skip")
    chat.send(button="form:edit")
    seen |= set(chat.buttons())
    assert seen and all(len(data.encode()) <= 64 and data.startswith("form:") for data in seen)


# --- stale or broken state --------------------------------------------------------------------------------


def assert_restarted(step: Step, lang: str = "vi") -> None:
    assert step.outcome == "continue" and step.state is not None
    assert step.state["index"] == 0 and step.state["values"] == {} and step.state["confirming"] is False
    assert len(step.replies) == 1 and prompt(0, lang) in step.replies[0].text
    assert "hỏi lại từ đầu" in step.replies[0].text if lang == "vi" else "start again" in step.replies[0].text


def mid_form_state() -> dict[str, Any]:
    chat = Chat()
    chat.fill(3)
    return chat.state


def example_raw() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["forms"][0]


@pytest.mark.parametrize(
    "edit",
    [
        lambda raw: raw["fields"].pop(0),  # indices would now point at other fields
        lambda raw: raw["fields"].insert(1, {"name": "email", "type": "text", "prompt": "Email?"}),
        lambda raw: raw["fields"][2].update(type="text"),
        lambda raw: raw["fields"][0].update(name="ho_ten"),
        lambda raw: raw["fields"][4]["options"].pop(),
        lambda raw: raw["fields"][5].update(required=True),
        lambda raw: raw.update(confirm=False),
        lambda raw: raw.update(version=2),  # nothing structural changed, but the author asked for a restart
    ],
)
def test_state_of_an_edited_spec_restarts_the_form(edit: Any) -> None:
    raw = example_raw()
    edit(raw)
    step = fresh_runner(FormSpec.from_dict(raw)).handle(mid_form_state(), message("0912345678"), "vi")
    assert step.outcome == "continue" and step.state is not None
    assert step.state["index"] == 0 and step.state["values"] == {}
    assert "hỏi lại từ đầu" in step.replies[0].text


def test_rewording_does_not_restart_the_form() -> None:
    raw = example_raw()
    raw["title"] = "Tên mới của biểu mẫu"
    raw["fields"][3]["prompt"] = {"vi": "Cho mình xin số điện thoại nhé?"}
    raw["fields"][4]["options"][0]["label"] = "Thôn Đông Mới"
    step = fresh_runner(FormSpec.from_dict(raw)).handle(mid_form_state(), message("0912345678"), "vi")
    assert step.state is not None and step.state["index"] == 4
    assert "Thôn Đông Mới" in [b.label for b in step.replies[0].buttons]


def corrupt(change: dict[str, Any]) -> dict[str, Any]:
    return {**mid_form_state(), **change}


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"form": FORM_ID},
        [],
        None,
        "index=3",
        {"form": "other_form", "index": 0},
    ],
)
def test_malformed_state_restarts(state: Any) -> None:
    assert_restarted(fresh_runner().handle(state, message("Nguyễn Văn An"), "vi"))


@pytest.mark.parametrize(
    "change",
    [
        {"form": "other_form"},
        {"version": 99},
        {"fingerprint": "0" * 16},
        {"index": 6},
        {"index": 99},
        {"index": -1},
        {"index": "1"},
        {"index": True},
        {"values": []},
        {"values": {"unknown_field": "x"}},
        {"values": {"full_name": ["Nguyen", "Van", "An"]}},
        {"confirming": "yes"},
        {"confirming": True},  # a summary before the required fields are filled
        {"errors": "many"},
    ],
)
def test_inconsistent_state_restarts(change: dict[str, Any]) -> None:
    assert_restarted(fresh_runner().handle(corrupt(change), message("Nguyễn Văn An"), "vi"))


@pytest.mark.parametrize("incoming", [message("hủy"), message(button="form:cancel")])
def test_cancel_works_even_on_a_stale_state(incoming: Incoming) -> None:
    step = fresh_runner().handle(corrupt({"version": 99}), incoming, "vi")
    assert step.outcome == "cancelled" and step.state is None


def test_restart_speaks_the_users_language() -> None:
    assert_restarted(fresh_runner().handle({}, message("hello"), "en"), lang="en")


def test_expects_attachment_only_at_a_photo_field() -> None:
    runner = fresh_runner()
    chat = Chat()
    assert not runner.expects_attachment(chat.state)
    chat.fill(5)
    assert runner.expects_attachment(chat.state)
    chat.send(button="form:skip")
    assert not runner.expects_attachment(chat.state)
    assert not runner.expects_attachment({})


# --- random conversations never break the engine -----------------------------------------------------------

INPUTS = st.one_of(
    st.sampled_from([*ANSWERS, "hủy", "quay lại", "bỏ qua", "sửa", "có", "không", "1", "4", "xác nhận", ""]),
    st.sampled_from([*FORGED, "form:back", "form:skip", "form:edit:phone", "form:choice:tay"]).map(
        lambda data: {"button": data}
    ),
    st.just({"photo": True}),
    st.text(max_size=30),
)


@settings(max_examples=150, deadline=None)
@given(inputs=st.lists(INPUTS, max_size=25), lang=st.sampled_from(["vi", "en", "fr"]))
def test_random_conversations_never_raise(inputs: list[Any], lang: str) -> None:
    runner = fresh_runner()
    step = runner.start(lang)
    for item in inputs:
        if step.state is None:
            assert step.outcome in ("completed", "cancelled")
            break
        state = json.loads(json.dumps(step.state))
        if isinstance(item, str):
            step = runner.handle(state, message(item), lang)
        elif "button" in item:
            step = runner.handle(state, message(button=item["button"]), lang)
        else:
            step = runner.handle(state, message(attachment=PHOTO), lang, attachment_ref="media:1")
        assert step.replies and all(isinstance(r, Reply) and r.text for r in step.replies)
        assert (step.state is None) == (step.outcome != "continue")
        if step.outcome == "completed":
            assert list(step.values) == FIELDS
            assert all(step.values[name] is not None for name in FIELDS[:5])


# --- specs -----------------------------------------------------------------------------------------------


def test_example_spec_loads() -> None:
    forms = load_forms(EXAMPLE)
    spec = forms[FORM_ID]
    assert [f.name for f in spec.fields] == FIELDS
    assert [f.type for f in spec.fields] == ["name", "date", "citizen_id", "phone", "choice", "photo"]
    assert spec.confirm is True and spec.fields[1].past_only is True
    assert spec.fields[5].required is False and all(f.required for f in spec.fields[:5])
    assert [o.id for o in spec.fields[4].options] == ["dong", "tay", "trung"]
    assert load_forms(EXAMPLE.parent)[FORM_ID] == spec


def test_a_plain_string_prompt_is_vietnamese() -> None:
    spec = FormSpec.from_dict(
        {"id": "f", "title": "Tiêu đề", "fields": [{"name": "a", "type": "text", "prompt": "Hỏi?"}]}
    )
    assert spec.fields[0].prompt == {"vi": "Hỏi?"} and spec.title == {"vi": "Tiêu đề"}
    assert spec.confirm is True and spec.version == 1


def field(**overrides: Any) -> dict[str, Any]:
    return {"name": "hamlet", "type": "text", "prompt": {"vi": "Thôn?"}, **overrides}


def form(*fields: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"id": "f", "title": "T", "fields": list(fields), **overrides}


@pytest.mark.parametrize(
    ("raw", "message_parts"),
    [
        (form(field(type="colour")), ["'hamlet'", "unknown type 'colour'"]),
        (form(field(type="choice")), ["'hamlet'", "options"]),
        (form(field(type="choice", options=[])), ["'hamlet'", "options"]),
        (form(field(), field()), ["duplicate field name 'hamlet'"]),
        (form(field(requried=False)), ["'hamlet'", "unknown key", "requried"]),
        (form(field(min=1)), ["'hamlet'", "'min' only applies to 'integer'"]),
        (form(field(options=[{"id": "a", "label": "A"}])), ["'hamlet'", "'options' only applies"]),
        (form(field(type="integer", min=5, max=1)), ["'hamlet'", "greater than"]),
        (form(field(type="integer", min="1")), ["'hamlet'", "'min' must be an integer"]),
        (form(field(type="date", past_only=True, future_only=True)), ["'hamlet'", "exclude each other"]),
        (form(field(max_length=0)), ["'hamlet'", "max_length"]),
        (form(field(required="yes")), ["'hamlet'", "'required' must be true or false"]),
        (form(field(prompt=None)), ["'hamlet'", "'prompt'"]),
        (form(field(prompt={"en": "Hamlet?"})), ["'hamlet'", "'vi'"]),
        (form(field(name="Hamlet 1")), ["field #1", "'name'"]),
        (form(field(), field(name=None)), ["field #2", "'name'"]),
        (
            form(field(type="choice", options=[{"id": "a b", "label": "A"}])),
            ["'hamlet'", "option #1", "'id'"],
        ),
        (form(field(type="choice", options=["Thôn 1"])), ["'hamlet'", "option #1"]),
        (form(field(type="choice", options=[{"id": "a"}])), ["'hamlet'", "option #1", "'label'"]),
        (
            form(field(type="choice", options=[{"id": "a", "label": "A"}, {"id": "a", "label": "B"}])),
            ["'hamlet'", "duplicate option id 'a'"],
        ),
        (form(), ["'fields'"]),
        ({"id": "f", "fields": [field()]}, ["'title'"]),
        (form(field(), confirm="no"), ["'confirm'"]),
        (form(field(), version=0), ["'version'"]),
        (form(field(), colour="red"), ["unknown key", "colour"]),
        ({"title": "T", "fields": [field()]}, ["'id'"]),
        ("not a form", ["mapping"]),
    ],
)
def test_invalid_specs_are_refused_with_a_clear_message(raw: Any, message_parts: list[str]) -> None:
    with pytest.raises(ValueError) as error:
        FormSpec.from_dict(raw)
    for part in message_parts:
        assert part in str(error.value)


def test_load_forms_reports_the_file_and_duplicates(tmp_path: Path) -> None:
    one = "forms:\n  - {id: f, title: T, fields: [{name: a, type: text, prompt: P}]}\n"
    (tmp_path / "a.yml").write_text(one, encoding="utf-8")
    (tmp_path / "b.yml").write_text(one, encoding="utf-8")
    with pytest.raises(ValueError, match="form 'f' defined twice"):
        load_forms(tmp_path)
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "forms:\n  - {id: g, title: T, fields: [{name: a, type: nope, prompt: P}]}\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"bad\.yml.*'a'.*unknown type 'nope'"):
        load_forms(bad)
    empty = tmp_path / "empty.yml"
    empty.write_text("title: nothing\n", encoding="utf-8")
    with pytest.raises(ValueError, match="top-level 'forms' list"):
        load_forms(empty)
