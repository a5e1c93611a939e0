"""The health roster: weekly rules become concrete slots (holidays closed), duty order, checked keys,
and a configuration that refuses bad values (a video host off the allow-list)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from backends.health.roster import load_roster, parse_slot_key
from backends.onestop.calendar import WorkingCalendar, load_calendar
from core.config import REPO_ROOT
from core.timezones import VIETNAM

ROSTER = REPO_ROOT / "data" / "communes" / "LB" / "doctors.yml"


def at(y: int, m: int, d: int, hh: int = 8, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=VIETNAM)


def test_the_shipped_roster_loads_with_the_real_calendar() -> None:
    roster = load_roster(ROSTER, load_calendar(REPO_ROOT / "data" / "holidays.yml"))
    assert roster.kinds == ("station", "remote", "vaccination", "antenatal")
    assert [d.id for d in roster.doctors] == ["bs_hoa", "bs_tuan", "ys_lan"]
    assert roster.video_link("abc").startswith("https://meet.jit.si/xaso-labang-abc")


def test_slots_follow_the_weekly_rules_and_skip_holidays() -> None:
    holiday = dt.date(2027, 3, 2)  # a Tuesday, closed for the test
    roster = load_roster(ROSTER, WorkingCalendar(days_off=frozenset({holiday})))
    now = at(2027, 3, 1, 9, 45)  # Monday morning
    remote = list(roster.slots(now, "remote"))
    assert all(slot.starts_at.weekday() in (1, 3) for slot in remote)  # Tuesdays and Thursdays
    assert all(slot.starts_at.date() != holiday for slot in remote)
    assert remote[0].starts_at == at(2027, 3, 4, 9, 0) and remote[0].capacity == 1 and remote[0].video
    station_today = [s for s in roster.slots(now, "station") if s.starts_at.date() == now.date()]
    assert [s.starts_at.strftime("%H:%M") for s in station_today][:2] == ["10:30", "14:00"]  # past ones gone
    assert max(s.starts_at for s in roster.slots(now)) < at(2027, 3, 16, 0, 0)  # the 14-day horizon
    one_day = list(roster.slots(now, "vaccination", dt.date(2027, 3, 3), 1))
    assert len(one_day) == 5 and {s.capacity for s in one_day} == {10}


def test_slot_keys_from_buttons_are_checked_against_the_roster() -> None:
    roster = load_roster(ROSTER, WorkingCalendar())
    now = at(2027, 3, 1, 9, 0)
    assert roster.slot("remote:202703040900", now) is not None
    for forged in ("remote:202703040915", "remote:202703010900", "station:202702260800", "remote:20270399",
                   "x:202703040900", "remote:202703040900;drop", "remote:209912310900"):
        assert roster.slot(forged, now) is None, forged
    assert parse_slot_key("antenatal:202703050800") == ("antenatal", at(2027, 3, 5, 8, 0))
    assert parse_slot_key("antenatal:202702300800") is None


def test_duty_order_puts_the_doctors_on_duty_first() -> None:
    roster = load_roster(ROSTER, WorkingCalendar())
    assert [d.id for d in roster.duty_order(at(2026, 11, 25, 15))] == ["bs_hoa", "bs_tuan", "ys_lan"]
    assert [d.id for d in roster.duty_order(at(2026, 11, 25, 19))] == ["bs_tuan", "bs_hoa", "ys_lan"]
    assert [d.id for d in roster.duty_order(at(2026, 11, 28, 9))] == ["bs_tuan", "ys_lan", "bs_hoa"]


@pytest.mark.parametrize(("bad", "message"), [
    ("https://evil.example/", "allowed host"),
    ("http://meet.jit.si/", "allowed host"),
    ("https://meet.jit.si/room?x=", "allowed host"),
])
def test_a_video_host_off_the_allow_list_is_refused(tmp_path: Path, bad: str, message: str) -> None:
    shipped = 'base_url: "https://meet.jit.si/"'
    text = ROSTER.read_text(encoding="utf-8").replace(shipped, f'base_url: "{bad}"')
    path = tmp_path / "doctors.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_roster(path, WorkingCalendar())


def test_bad_rules_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "doctors.yml"
    for broken in ("capacity: 3", "days: [fri]", 'times: ["08:00", "09:00", "10:00"]'):
        replacement = {"capacity: 3": "capacity: 0", "days: [fri]": "days: [friday]",
                       'times: ["08:00", "09:00", "10:00"]': 'times: ["8h"]'}[broken]
        path.write_text(ROSTER.read_text(encoding="utf-8").replace(broken, replacement, 1), encoding="utf-8")
        with pytest.raises(ValueError):
            load_roster(path, WorkingCalendar())
