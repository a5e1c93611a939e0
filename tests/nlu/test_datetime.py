"""Vietnamese dates and times, resolved against a fixed clock: Wednesday 14 October 2026, 09:00."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from nlu.datetime import VIETNAM, find_datetimes, today_in_vietnam
from nlu.embedded import EmbeddedNLU
from nlu.normalize import strip_diacritics

NOW = datetime(2026, 10, 14, 9, 0, tzinfo=VIETNAM)
assert NOW.weekday() == 2  # a Wednesday


def found(text: str) -> list[tuple[str, str, str]]:
    return [(e.entity, e.value, text[e.start : e.end]) for e in find_datetimes(text, NOW)]


DATES: tuple[tuple[str, str, str], ...] = (
    ("hôm nay bác sĩ có trực không", "2026-10-14", "hôm nay"),
    ("mai tôi lên xã", "2026-10-15", "mai"),
    ("đăng ký khám ngày mai", "2026-10-15", "ngày mai"),
    ("ngày kia mình đến", "2026-10-16", "ngày kia"),
    ("hôm qua tôi đã nộp", "2026-10-13", "hôm qua"),
    ("hẹn khám thứ hai", "2026-10-19", "thứ hai"),
    ("hẹn khám thứ tư", "2026-10-14", "thứ tư"),  # today is Wednesday: today
    ("thứ bảy xã có làm việc không", "2026-10-17", "thứ bảy"),
    ("khám thứ 6 được không", "2026-10-16", "thứ 6"),
    ("t2 mình qua", "2026-10-19", "t2"),
    ("t7 có mở cửa không", "2026-10-17", "t7"),
    ("chủ nhật có ai trực không", "2026-10-18", "chủ nhật"),
    ("cn có làm không", "2026-10-18", "cn"),
    ("cho tôi lịch khám thứ năm tuần sau", "2026-10-22", "thứ năm tuần sau"),
    ("thứ hai tuần này", "2026-10-12", "thứ hai tuần này"),
    ("đăng ký khám thai tuần sau", "2026-10-19", "tuần sau"),
    ("hẹn ngày 15/10", "2026-10-15", "15/10"),
    ("hẹn 1/11/2026 nhé", "2026-11-01", "1/11/2026"),
    ("ngày 20/10/26", "2026-10-20", "20/10/26"),
    ("khám 15-10 được không", "2026-10-15", "15-10"),
    ("hẹn ngày 15 tháng 10", "2026-10-15", "ngày 15 tháng 10"),
    ("15 thg 10 năm 2027", "2027-10-15", "15 thg 10 năm 2027"),
)


@pytest.mark.parametrize(("text", "value", "surface"), DATES)
def test_dates(text: str, value: str, surface: str) -> None:
    assert found(text) == [("date", value, surface)]


@pytest.mark.parametrize(("text", "value", "surface"), DATES)
def test_dates_without_diacritics(text: str, value: str, surface: str) -> None:
    bare = strip_diacritics(text)
    assert found(bare) == [("date", value, strip_diacritics(surface))]


def test_mot_needs_its_accent() -> None:
    assert found("mốt tôi đến") == [("date", "2026-10-16", "mốt")]
    assert found("ngày mốt") == [("date", "2026-10-16", "ngày mốt")]
    assert found("mot tôi đến") == []  # "một" typed bare
    assert found("giá ngày một tăng") == []


TIMES: tuple[tuple[str, list[tuple[str, str, str]]], ...] = (
    ("8h", [("time", "08:00", "8h")]),
    ("lúc 8 giờ", [("time", "08:00", "8 giờ")]),
    ("8h30 nhé", [("time", "08:30", "8h30")]),
    ("14:30 được không", [("time", "14:30", "14:30")]),
    ("8 giờ rưỡi", [("time", "08:30", "8 giờ rưỡi")]),
    ("3 giờ chiều", [("time", "15:00", "3 giờ chiều")]),
    ("7h tối", [("time", "19:00", "7h tối")]),
    ("12 giờ đêm", [("time", "00:00", "12 giờ đêm")]),
    ("buổi sáng có ai không", [("time", "morning", "buổi sáng")]),
    ("chiều nay", [("time", "afternoon", "chiều"), ("date", "2026-10-14", "nay")]),
    ("tối nay", [("time", "evening", "tối"), ("date", "2026-10-14", "nay")]),
    ("hẹn khám sáng mai", [("time", "morning", "sáng"), ("date", "2026-10-15", "mai")]),
    ("khám sáng thứ hai", [("time", "morning", "sáng"), ("date", "2026-10-19", "thứ hai")]),
    ("đặt khám sáng mai 8 giờ", [("date", "2026-10-15", "mai"), ("time", "08:00", "8 giờ")]),
    ("chiều mai lúc 3 giờ", [("date", "2026-10-15", "mai"), ("time", "15:00", "3 giờ")]),
    ("3 giờ chiều mai", [("time", "15:00", "3 giờ chiều"), ("date", "2026-10-15", "mai")]),
    ("9h ngày 15/10", [("time", "09:00", "9h"), ("date", "2026-10-15", "15/10")]),
)


@pytest.mark.parametrize(("text", "expected"), TIMES)
def test_times(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(("text", "expected"), TIMES)
def test_times_without_diacritics(text: str, expected: list[tuple[str, str, str]]) -> None:
    bare = strip_diacritics(text)
    assert found(bare) == [(e, v, strip_diacritics(s)) for e, v, s in expected]


@pytest.mark.parametrize(
    "text",
    [
        "mua 2 cân chè",
        "1/2 cân mật ong",
        "hồ sơ LB-2026-000123 xong chưa",
        "đơn DH-000321",
        "số của tôi 0912345678",
        "số 0912-345-678",
        "chờ mãi không thấy",
        "chị Mai ơi",
        "gặp cô mai ở trạm",
        "hỗ trợ mai táng phí",
        "mai sau con lớn",
        "toi muon lam ho so",  # "tôi", not "tối"
        "dem ho so len xa",  # "đem", not "đêm"
        "khai sinh cho con thứ hai",
        "lần thứ 3 rồi",
        "mất 3-5 ngày",
        "xử lý mất 2 giờ",
        "2 giờ nữa",
        "2 tuần sau mới có",
        "thu ba trieu dong",
        "ngày 31/02",
        "phục vụ 24h",
        "năm 2026",
        "",
        "🙂",
    ],
)
def test_no_false_matches(text: str) -> None:
    assert found(text) == []


def test_bare_toi_is_mostly_the_pronoun() -> None:
    assert found("toi mai den") == [("date", "2026-10-15", "mai")]  # "tôi mai đến"
    assert found("8 gio toi den") == [("time", "08:00", "8 gio")]  # "8 giờ tôi đến"
    assert found("hen 7h toi") == [("time", "19:00", "7h toi")]
    assert found("toi nay") == [("time", "evening", "toi"), ("date", "2026-10-14", "nay")]


def test_offsets_survive_decomposed_unicode() -> None:
    import unicodedata

    text = unicodedata.normalize("NFD", "Hẹn chiều mai 3 giờ")
    assert [(e.entity, e.value, text[e.start : e.end]) for e in find_datetimes(text, NOW)] == [
        ("date", "2026-10-15", "mai"),
        ("time", "15:00", unicodedata.normalize("NFD", "3 giờ")),
    ]


def test_now_is_read_in_vietnam_time() -> None:
    # 20:00 UTC on Tuesday is already 03:00 on Wednesday in Vietnam.
    assert today_in_vietnam(datetime(2026, 10, 13, 20, 0, tzinfo=UTC)).isoformat() == "2026-10-14"
    assert found("hôm nay") == [("date", "2026-10-14", "hôm nay")]


def test_engine_returns_dates_with_its_injected_clock(engine: EmbeddedNLU) -> None:
    fixed = copy.copy(engine)
    fixed.clock = lambda: NOW
    parse = fixed.parse("đặt lịch khám sáng mai 8 giờ")
    assert parse.intent == "doctor_appointment"
    assert [(e.entity, e.value) for e in parse.entities] == [("date", "2026-10-15"), ("time", "08:00")]
    bare = fixed.parse("dat lich kham thu nam tuan sau luc 14:30, mua 2 can che")
    assert [(e.entity, e.value) for e in bare.entities if e.entity in ("date", "time")] == [
        ("date", "2026-10-22"),
        ("time", "14:30"),
    ]
    assert ("quantity", "2") in [(e.entity, e.value) for e in bare.entities]


def test_engine_clock_defaults_to_real_time(engine: EmbeddedNLU) -> None:
    today = today_in_vietnam(datetime.now(VIETNAM)).isoformat()
    assert [e.value for e in engine.parse("hôm nay").entities] == [today]
