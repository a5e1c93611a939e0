"""Places to visit, homestays and itineraries of data/tourism/*.yml, read and checked once at start.

A place is a point of interest (a tea hill, a stream or waterfall, a relic site of ATK Định Hóa, a
community house, a craft village) with its coordinates, themes, opening hours and ticket in words, a
short summary and the story its audio guide reads, in Vietnamese and English; an optional photo from
data/tourism/img/. An itinerary is one or two days of stops at those places. A homestay is let whole: its
capacity and price per night; stays.yml's `booking` rules say the deposit, how long an unpaid booking is
held, how far ahead and how long one may book, and what a cancellation refunds. A mistake is refused at
start naming the file and the line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.i18n import local
from core.located_yaml import DataFileError, DataReader, Located

THEMES = ("tea", "nature", "history", "culture")
MAX_SUMMARY, MAX_STORY = 300, 1200
PHOTO_TYPES = (".png", ".jpg", ".jpeg")
EARTH_RADIUS_KM = 6371.0


class TourismError(DataFileError):
    """A tourism file that cannot be used: the message starts with `file:line:`."""


@dataclass(frozen=True, slots=True)
class Place:
    id: str
    name: Mapping[str, str]
    themes: tuple[str, ...]
    lat: float
    lon: float
    area: Mapping[str, str]  # where it is, in words: "xã La Bằng, huyện Đại Từ"
    summary: Mapping[str, str]
    story: Mapping[str, str]  # what the audio guide reads
    hours: Mapping[str, str]
    ticket: Mapping[str, str]
    map_query: str  # what a map searches to find it (its name and place): the coordinates are approximate
    photo: str | None = None

    def title(self, lang: str) -> str:
        return local(dict(self.name), lang)

    def text(self, field: Mapping[str, str], lang: str) -> str:
        return local(dict(field), lang)

    def km_from(self, lat: float, lon: float) -> float:
        return distance_km(self.lat, self.lon, lat, lon)


@dataclass(frozen=True, slots=True)
class Stop:
    place: str
    time: str  # "08:00"
    note: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Itinerary:
    id: str
    days: int
    title: Mapping[str, str]
    stops: tuple[tuple[Stop, ...], ...]  # by day


@dataclass(frozen=True, slots=True)
class Stay:
    id: str
    name: Mapping[str, str]
    area: Mapping[str, str]
    lat: float
    lon: float
    guests: int  # at most, a night
    price: int  # VND a night for the house (or room) as described
    description: Mapping[str, str]
    phone: str
    photo: str | None = None


@dataclass(frozen=True, slots=True)
class Guide:
    """A local guide visitors call to arrange a day (not booked in chat: the day's plan is agreed on the
    phone)."""

    id: str
    name: Mapping[str, str]
    area: Mapping[str, str]  # where they guide: "La Bằng, suối Kẹm", "ATK Định Hóa"
    languages: tuple[str, ...]  # "vi", "en", …
    group: int  # visitors at most
    price: int  # VND a day for the group
    description: Mapping[str, str]
    phone: str
    photo: str | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    days_before: int  # cancelled at least this many days before the check-in day
    percent: int  # of the deposit paid


@dataclass(frozen=True, slots=True)
class BookingRules:
    deposit_percent: int = 30  # of the total, paid when booking
    hold_hours: int = 12  # an unpaid booking is released after
    max_nights: int = 7
    ahead_days: int = 180  # the latest check-in, from today
    checkin: str = "14:00"
    checkout: str = "11:00"
    refunds: tuple[Refund, ...] = (Refund(7, 100), Refund(2, 50))  # most days first; fewer: nothing back

    def deposit(self, total: int) -> int:
        """The deposit of a total, rounded up to the thousand đồng."""
        exact = total * self.deposit_percent
        return -(-exact // 100_000) * 1000 if exact else 0

    def refund_percent(self, days_before: int) -> int:
        return next((rule.percent for rule in self.refunds if days_before >= rule.days_before), 0)


class Tourism:
    def __init__(self, places: Sequence[Place] = (), itineraries: Sequence[Itinerary] = (),
                 stays: Sequence[Stay] = (), photos: Path | None = None,
                 rules: BookingRules | None = None, guides: Sequence[Guide] = ()) -> None:
        self.places = {place.id: place for place in places}
        self.itineraries = {item.id: item for item in sorted(itineraries, key=lambda i: (i.days, i.id))}
        self.stays = {stay.id: stay for stay in stays}
        self.photos = photos
        self.rules = rules or BookingRules()
        self.guides = {guide.id: guide for guide in guides}

    def __bool__(self) -> bool:
        return bool(self.places)

    def __iter__(self) -> Iterator[Place]:
        return iter(self.places.values())

    def of_theme(self, theme: str) -> list[Place]:
        return [place for place in self if theme in place.themes]

    def near(self, lat: float, lon: float, count: int = 5) -> list[tuple[Place, float]]:
        return sorted(((place, place.km_from(lat, lon)) for place in self), key=lambda pair: pair[1])[:count]

    def photo_files(self) -> dict[str, Path]:
        if self.photos is None:
            return {}
        named = [item.photo for item in (*self.places.values(), *self.stays.values(), *self.guides.values())
                 if item.photo]
        return {name: self.photos / name for name in named}


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def load_tourism(folder: Path) -> Tourism:
    """data/tourism/: places.yml, itineraries.yml, stays.yml, guides.yml (each optional); raises
    `TourismError`."""
    photos = folder / "img"
    places: list[Place] = []
    itineraries: list[Itinerary] = []
    stays: list[Stay] = []
    guides: list[Guide] = []
    rules = None
    if (folder / "places.yml").is_file():
        places = _Reader(folder / "places.yml", photos).places()
    known = {place.id for place in places}
    if (folder / "itineraries.yml").is_file():
        itineraries = _Reader(folder / "itineraries.yml", photos).itineraries(known)
    if (folder / "stays.yml").is_file():
        reader = _Reader(folder / "stays.yml", photos)
        stays, rules = reader.stays(), reader.rules()
    if (folder / "guides.yml").is_file():
        guides = _Reader(folder / "guides.yml", photos).guides()
    return Tourism(places, itineraries, stays, photos, rules, guides)


class _Reader(DataReader):
    error = TourismError

    def __init__(self, path: Path, photos: Path) -> None:
        super().__init__(path)
        self.photos = photos

    def _list(self, key: str, what: str) -> tuple[Located, list[Any]]:
        raw = self.load(f"a mapping with a list of {what} under «{key}»")
        items = raw.get(key)
        if not isinstance(items, list) or not items:
            raise self.fail(raw, f"«{key}» is a list of {what}", key)
        return raw, items

    def _unique(self, items: list[Any], ids: list[str], what: str) -> None:
        for n, item_id in enumerate(ids):
            if item_id in ids[:n]:
                raise self.fail(items[n], f"{what} id {item_id!r} is used twice")

    def places(self) -> list[Place]:
        _, items = self._list("places", "places")
        read = [self.place(self.mapping(item, "a place is a mapping")) for item in items]
        self._unique(items, [place.id for place in read], "place")
        return read

    def place(self, raw: Located) -> Place:
        themes = raw.get("themes")
        if not isinstance(themes, list) or not themes or any(theme not in THEMES for theme in themes):
            raise self.fail(raw, f"themes: a list among {', '.join(THEMES)}", "themes")
        lat, lon = self.point(raw)
        return Place(self.identifier(raw, "id"), self.texts(raw, "name", 80), tuple(themes), lat, lon,
                     self.texts(raw, "area", 120), self.texts(raw, "summary", MAX_SUMMARY),
                     self.texts(raw, "story", MAX_STORY), self.texts(raw, "hours", 160),
                     self.texts(raw, "ticket", 160), self.map_query(raw), self.photo(raw))

    def map_query(self, raw: Located) -> str:
        query = raw.get("map")
        if not isinstance(query, str) or not 3 <= len(query.strip()) <= 120:
            raise self.fail(raw, "map: what a map searches to find it (its name, commune, district)", "map")
        return query.strip()

    def point(self, raw: Located) -> tuple[float, float]:
        lat, lon = raw.get("lat"), raw.get("lon")
        # Vietnam's mainland lies between 8° and 24° north, 102° and 110° east.
        if not isinstance(lat, int | float) or not isinstance(lon, int | float) \
                or not (8 <= lat <= 24 and 102 <= lon <= 110):
            raise self.fail(raw, "lat and lon: the place's coordinates in Vietnam (decimal degrees)", "lat")
        return float(lat), float(lon)

    def photo(self, raw: Located) -> str | None:
        photo = raw.get("photo")
        if photo is None:
            return None
        named = isinstance(photo, str) and Path(photo).name == photo
        if not named or Path(str(photo)).suffix.lower() not in PHOTO_TYPES:
            raise self.fail(raw, f"photo {photo!r}: a file name in data/tourism/img/ (PNG or JPEG)", "photo")
        if not (self.photos / photo).is_file():
            raise self.fail(raw, f"photo {photo!r} is not in {self.photos}", "photo")
        return photo

    def itineraries(self, places: set[str]) -> list[Itinerary]:
        _, items = self._list("itineraries", "itineraries")
        read = []
        for item in items:
            raw = self.mapping(item, "an itinerary is a mapping (id, title, days)")
            days = raw.get("days")
            if not isinstance(days, list) or not 1 <= len(days) <= 2:
                raise self.fail(raw, "days: a list of one or two days, each a list of stops", "days")
            stops = tuple(tuple(self.stop(stop, places) for stop in self.day(raw, day)) for day in days)
            read.append(Itinerary(self.identifier(raw, "id"), len(days), self.texts(raw, "title", 80), stops))
        self._unique(items, [item.id for item in read], "itinerary")
        return read

    def day(self, raw: Located, day: Any) -> list[Any]:
        if not isinstance(day, list) or not day:
            raise self.fail(raw, "a day is a list of stops (place, time, note)", "days")
        return day

    def stop(self, item: Any, places: set[str]) -> Stop:
        raw = self.mapping(item, "a stop is a mapping (place, time, note)")
        place, time = raw.get("place"), raw.get("time")
        if place not in places:
            raise self.fail(raw, f"place {place!r} is not in places.yml", "place")
        if not isinstance(time, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", time):
            raise self.fail(raw, f"time {time!r}: HH:MM", "time")
        return Stop(str(place), time, self.texts(raw, "note", 200))

    def stays(self) -> list[Stay]:
        _, items = self._list("stays", "homestays")
        read = []
        for item in items:
            raw = self.mapping(item, "a homestay is a mapping")
            guests, price, phone = raw.get("guests"), raw.get("price"), raw.get("phone")
            if not isinstance(guests, int) or not 1 <= guests <= 40:
                raise self.fail(raw, "guests: how many a night, 1 to 40", "guests")
            if not isinstance(price, int) or not 50_000 <= price <= 20_000_000:
                raise self.fail(raw, "price: VND a night, a whole number", "price")
            if not isinstance(phone, str) or not phone.replace(" ", "").lstrip("+").isdigit():
                raise self.fail(raw, "phone: the owner's number", "phone")
            lat, lon = self.point(raw)
            read.append(Stay(self.identifier(raw, "id"), self.texts(raw, "name", 80),
                             self.texts(raw, "area", 120), lat, lon, guests, price,
                             self.texts(raw, "description", MAX_SUMMARY), phone, self.photo(raw)))
        self._unique(items, [stay.id for stay in read], "homestay")
        return read

    def guides(self) -> list[Guide]:
        _, items = self._list("guides", "local guides")
        read = []
        for item in items:
            raw = self.mapping(item, "a guide is a mapping")
            languages, group = raw.get("languages"), raw.get("group")
            price, phone = raw.get("price"), raw.get("phone")
            if not isinstance(languages, list) or not languages or not all(
                    isinstance(lang, str) and re.fullmatch(r"[a-z]{2}", lang) for lang in languages):
                raise self.fail(raw, "languages: the languages they guide in, e.g. [vi, en]", "languages")
            if not isinstance(group, int) or not 1 <= group <= 50:
                raise self.fail(raw, "group: visitors at most, 1 to 50", "group")
            if not isinstance(price, int) or not 50_000 <= price <= 20_000_000:
                raise self.fail(raw, "price: VND a day, a whole number", "price")
            if not isinstance(phone, str) or not phone.replace(" ", "").lstrip("+").isdigit():
                raise self.fail(raw, "phone: the guide's number", "phone")
            read.append(Guide(self.identifier(raw, "id"), self.texts(raw, "name", 80),
                              self.texts(raw, "area", 120), tuple(languages), group, price,
                              self.texts(raw, "description", MAX_SUMMARY), phone, self.photo(raw)))
        self._unique(items, [guide.id for guide in read], "guide")
        return read

    def rules(self) -> BookingRules:
        raw = self.load("a mapping with «stays» and «booking»")
        booking = raw.get("booking")
        if booking is None:
            return BookingRules()
        rules = self.mapping(booking, "booking: the rules of every stay's bookings")

        def whole(key: str, low: int, high: int, what: str) -> int:
            value = rules.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise self.fail(rules, f"{key}: {what}, {low} to {high}", key)
            return value

        def clock(key: str) -> str:
            value = rules.get(key)
            if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
                raise self.fail(rules, f"{key}: HH:MM", key)
            return value

        refunds = rules.get("cancellation")
        if not isinstance(refunds, list) or not refunds:
            raise self.fail(rules, "cancellation: a list of {days_before, refund_percent}", "cancellation")
        read = []
        for item in refunds:
            rule = self.mapping(item, "a cancellation rule is a mapping {days_before, refund_percent}")
            days, percent = rule.get("days_before"), rule.get("refund_percent")
            if not isinstance(days, int) or not 0 <= days <= 365 or not isinstance(percent, int) \
                    or not 0 <= percent <= 100:
                raise self.fail(rule, "days_before 0 to 365, refund_percent 0 to 100", "days_before")
            read.append(Refund(days, percent))
        if [rule.days_before for rule in read] != sorted({rule.days_before for rule in read}, reverse=True):
            raise self.fail(rules, "cancellation: most days_before first, each once", "cancellation")
        return BookingRules(whole("deposit_percent", 0, 100, "the deposit in percent of the total"),
                            whole("hold_hours", 1, 72, "hours an unpaid booking is held"),
                            whole("max_nights", 1, 30, "nights a booking may have at most"),
                            whole("ahead_days", 1, 365, "days ahead one may book"),
                            clock("checkin"), clock("checkout"), tuple(read))
