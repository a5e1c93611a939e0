"""The health station's roster from data/doctors.yml: who is on duty when (the order consults escalate
in), and the weekly session rules that make concrete bookable slots for the next days, holidays
excepted (data/holidays.yml through backends/onestop/calendar.py)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from backends.onestop.calendar import WorkingCalendar
from core.timezones import VIETNAM

KINDS = ("station", "remote", "vaccination", "antenatal")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")
_SLOT_KEY = re.compile(r"(station|remote|vaccination|antenatal):(\d{8})(\d{4})")


@dataclass(frozen=True)
class Duty:
    days: frozenset[int]
    start: dt.time
    end: dt.time

    def covers(self, local: dt.datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True)
class RosterDoctor:
    id: str
    name: str
    duty: tuple[Duty, ...]

    def on_duty(self, at: dt.datetime) -> bool:
        local = at.astimezone(VIETNAM)
        return any(duty.covers(local) for duty in self.duty)


@dataclass(frozen=True)
class SessionRule:
    kind: str
    place: str
    days: frozenset[int]
    times: tuple[dt.time, ...]
    capacity: int
    video: bool = False
    on_holidays: bool = False


@dataclass(frozen=True)
class Slot:
    kind: str
    starts_at: dt.datetime  # aware, Vietnam time
    capacity: int
    place: str
    video: bool

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.starts_at.strftime('%Y%m%d%H%M')}"


@dataclass(frozen=True)
class Roster:
    doctors: tuple[RosterDoctor, ...]
    sessions: tuple[SessionRule, ...]
    calendar: WorkingCalendar
    video_base: str
    video_prefix: str
    horizon_days: int = 14
    reminder_hour: int = 18
    max_buttons: int = 8
    max_per_person: int = 3

    @property
    def kinds(self) -> tuple[str, ...]:
        offered = {rule.kind for rule in self.sessions}
        return tuple(kind for kind in KINDS if kind in offered)

    def doctor(self, roster_id: str) -> RosterDoctor | None:
        return next((d for d in self.doctors if d.id == roster_id), None)

    def duty_order(self, at: dt.datetime) -> list[RosterDoctor]:
        """The doctors on duty at `at` first, then the others, each group in roster order."""
        return sorted(self.doctors, key=lambda d: not d.on_duty(at))

    def is_open(self, rule: SessionRule, day: dt.date) -> bool:
        return day.weekday() in rule.days and (rule.on_holidays or day not in self.calendar.days_off)

    def slots(self, now: dt.datetime, kind: str | None = None, first_day: dt.date | None = None,
              days: int | None = None) -> Iterator[Slot]:
        """Slots starting after `now`, from `first_day` (default today) for `days` days (default the
        horizon, never beyond it), in time order."""
        local_now = now.astimezone(VIETNAM)
        today = local_now.date()
        start = max(first_day or today, today)
        last = today + dt.timedelta(days=self.horizon_days)
        if days is not None:
            last = min(last, start + dt.timedelta(days=days - 1))
        rules = [rule for rule in self.sessions if kind is None or rule.kind == kind]
        day = start
        while day <= last:
            found = [
                Slot(rule.kind, dt.datetime.combine(day, at, VIETNAM), rule.capacity, rule.place, rule.video)
                for rule in rules if self.is_open(rule, day) for at in rule.times
            ]
            for slot in sorted(found, key=lambda s: (s.starts_at, KINDS.index(s.kind))):
                if slot.starts_at > local_now:
                    yield slot
            day += dt.timedelta(days=1)

    def slot(self, key: str, now: dt.datetime) -> Slot | None:
        """The slot of a key (from a button: untrusted) if the roster really offers it and it is ahead."""
        matched = _SLOT_KEY.fullmatch(key)
        if matched is None:
            return None
        try:
            day = dt.datetime.strptime(matched.group(2), "%Y%m%d").date()
        except ValueError:
            return None
        return next((s for s in self.slots(now, matched.group(1), day, 1) if s.key == key), None)

    def video_link(self, token: str) -> str:
        return f"{self.video_base}{self.video_prefix}{token}"


def _days(raw: Any, where: str) -> frozenset[int]:
    if not isinstance(raw, list) or not raw or any(day not in WEEKDAYS for day in raw):
        raise ValueError(f"{where}: 'days' must be a non-empty list of {', '.join(WEEKDAYS)}")
    return frozenset(WEEKDAYS.index(day) for day in raw)


def _time(raw: Any, where: str) -> dt.time:
    matched = _TIME.fullmatch(str(raw))
    if matched is None:
        raise ValueError(f"{where}: expected a time HH:MM, got {raw!r}")
    return dt.time(int(matched.group(1)), int(matched.group(2)))


def _doctor(raw: Any, where: str) -> RosterDoctor:
    if not isinstance(raw, Mapping) or not _ID.fullmatch(str(raw.get("id", ""))) or not raw.get("name"):
        raise ValueError(f"{where}: a doctor needs an 'id' (a-z, 0-9, _) and a 'name'")
    duties = []
    for index, duty in enumerate(raw.get("duty") or []):
        here = f"{where} duty {index + 1}"
        if not isinstance(duty, Mapping):
            raise ValueError(f"{here}: expected a mapping")
        start, end = _time(duty.get("from"), here), _time(duty.get("to"), here)
        if end <= start:
            raise ValueError(f"{here}: 'to' must be after 'from'")
        duties.append(Duty(_days(duty.get("days"), here), start, end))
    return RosterDoctor(str(raw["id"]), str(raw["name"]), tuple(duties))


def _session(raw: Any, where: str) -> SessionRule:
    if not isinstance(raw, Mapping) or raw.get("kind") not in KINDS:
        raise ValueError(f"{where}: 'kind' must be one of {', '.join(KINDS)}")
    capacity = raw.get("capacity")
    if not isinstance(capacity, int) or not 1 <= capacity <= 100:
        raise ValueError(f"{where}: 'capacity' must be a number from 1 to 100")
    times = raw.get("times")
    if not isinstance(times, list) or not times:
        raise ValueError(f"{where}: 'times' must be a non-empty list")
    return SessionRule(str(raw["kind"]), str(raw.get("place", "")), _days(raw.get("days"), where),
                       tuple(sorted({_time(t, where) for t in times})), capacity,
                       bool(raw.get("video", False)), bool(raw.get("on_holidays", False)))


def _video(raw: Any, path: Path) -> tuple[str, str]:
    raw = raw if isinstance(raw, Mapping) else {}
    base, prefix = str(raw.get("base_url", "")), str(raw.get("room_prefix", ""))
    allowed = {str(host).lower() for host in raw.get("allowed_hosts") or []}
    parts = urlsplit(base)
    if parts.scheme != "https" or (parts.hostname or "").lower() not in allowed or not base.endswith("/"):
        raise ValueError(f"{path}: video.base_url must be an https URL ending in '/' on an allowed host")
    if not re.fullmatch(r"[A-Za-z0-9_-]{0,40}", prefix):
        raise ValueError(f"{path}: video.room_prefix may hold only A-Z a-z 0-9 _ -")
    return base, prefix


def load_roster(path: Path, calendar: WorkingCalendar) -> Roster:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping")
    doctors = tuple(_doctor(d, f"{path}: doctor {i + 1}") for i, d in enumerate(data.get("doctors") or []))
    if len({d.id for d in doctors}) != len(doctors):
        raise ValueError(f"{path}: doctor ids must be unique")
    rules = data.get("sessions") or []
    sessions = tuple(_session(rule, f"{path}: session {i + 1}") for i, rule in enumerate(rules))
    base, prefix = _video(data.get("video"), path) if any(s.video for s in sessions) else ("", "")
    horizon, hour = data.get("horizon_days", 14), data.get("reminder_hour", 18)
    buttons, per_person = data.get("max_buttons", 8), data.get("max_per_person", 3)
    if not (isinstance(horizon, int) and 1 <= horizon <= 90 and isinstance(hour, int) and 0 <= hour <= 23
            and isinstance(buttons, int) and 1 <= buttons <= 20
            and isinstance(per_person, int) and 1 <= per_person <= 20):
        raise ValueError(f"{path}: horizon_days 1–90, reminder_hour 0–23, max_buttons, max_per_person 1–20")
    return Roster(doctors, sessions, calendar, base, prefix, horizon, hour, buttons, per_person)


def parse_slot_key(key: str) -> tuple[str, dt.datetime] | None:
    matched = _SLOT_KEY.fullmatch(key)
    if matched is None:
        return None
    try:
        local = dt.datetime.strptime(matched.group(2) + matched.group(3), "%Y%m%d%H%M")
    except ValueError:
        return None
    return matched.group(1), local.replace(tzinfo=VIETNAM)
