"""Working days of the commune office: Monday to Friday, minus the public holidays of
data/holidays.yml, plus the Saturdays worked in exchange for a swapped day off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.timezones import VIETNAM

# A dossier received after the office closes counts as received on the next working day.
CLOSING_TIME = dt.time(17, 0)


@dataclass(frozen=True)
class WorkingCalendar:
    days_off: frozenset[dt.date] = frozenset()
    working_saturdays: frozenset[dt.date] = frozenset()
    names: Mapping[dt.date, str] | None = None

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.working_saturdays:
            return True
        return day.weekday() < 5 and day not in self.days_off

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after `day`."""
        day += dt.timedelta(days=1)
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def add_working_days(self, start: dt.date, count: int) -> dt.date:
        """The `count`-th working day after `start` (which itself is not counted)."""
        if count < 0:
            raise ValueError("count must not be negative")
        day = start
        for _ in range(count):
            day = self.next_working_day(day)
        return day

    def receipt_day(self, received_at: dt.datetime) -> dt.date:
        """The working day a dossier counts as received: today if the office is open, else the next."""
        local = received_at.astimezone(VIETNAM)
        if self.is_working_day(local.date()) and local.time() < CLOSING_TIME:
            return local.date()
        return self.next_working_day(local.date())

    def due_date(self, received_at: dt.datetime, working_days: int) -> dt.date:
        return self.add_working_days(self.receipt_day(received_at), working_days)


def load_calendar(path: Path) -> WorkingCalendar:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    years = data.get("years") if isinstance(data, Mapping) else None
    if not isinstance(years, Mapping):
        raise ValueError(f"{path}: expected a top-level 'years' mapping")
    days_off: dict[dt.date, str] = {}
    working: set[dt.date] = set()
    for year, entry in years.items():
        where = f"{path}: year {year}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a mapping")
        for item in entry.get("days_off") or []:
            day = _date(item.get("date") if isinstance(item, Mapping) else None, year, where)
            days_off[day] = str(item.get("name", ""))
        for raw in entry.get("working_days") or []:
            day = _date(raw, year, where)
            if day.weekday() != 5:
                raise ValueError(f"{where}: working day {day} is not a Saturday")
            working.add(day)
    return WorkingCalendar(frozenset(days_off), frozenset(working), days_off)


def _date(raw: Any, year: Any, where: str) -> dt.date:
    if not isinstance(raw, dt.date) or isinstance(raw, dt.datetime):
        raise ValueError(f"{where}: expected a date (YYYY-MM-DD), got {raw!r}")
    if raw.year != year:
        raise ValueError(f"{where}: {raw} is listed under the wrong year")
    return raw
