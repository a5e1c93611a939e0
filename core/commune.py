"""The commune an installation serves, from its data/commune.yml: parsed and checked once, at start.

Everything else reads this typed, frozen value (``services.commune.office.phone``), never the YAML: a
missing key has its default here and only here, and a malformed one stops the start with an error that
names the file and the key (``data/commune.yml: hamlets[2].polygon: …``) instead of failing later, in
the middle of some villager's conversation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ACCOUNT_NUMBER", "BANK_BIN", "BankDetails", "Commune", "CommuneError", "HamletArea", "Office",
           "Point", "Signer", "Station"]

DEFAULT_EMERGENCY_NUMBER = "115"
# A receiving account for VietQR transfers (backends/payments/vietqr.py checks the same).
BANK_BIN = re.compile(r"[0-9]{6}")  # the bank's NAPAS BIN
ACCOUNT_NUMBER = re.compile(r"[0-9A-Za-z]{1,19}")

Point = tuple[float, float]  # (latitude, longitude), WGS 84


class CommuneError(ValueError):
    """commune.yml says something that cannot be right; the message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")
        self.source, self.key, self.problem = source, key, problem


@dataclass(frozen=True, slots=True)
class Office:
    """The commune office (UBND xã): where, when and how to reach it."""

    address: str = ""
    hours: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class Station:
    """The commune's health station (trạm y tế)."""

    name: str = ""
    address: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class Signer:
    """Who decides for the commune, printed under the signature of a signed result."""

    title: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class HamletArea:
    """A hamlet (xóm) and its outline as [latitude, longitude] vertices; no outline: never located."""

    id: str
    name: str
    polygon: tuple[Point, ...] = ()

    def contains(self, lat: float, lon: float) -> bool:
        """Even-odd ray casting; good for the small, simple outlines of a commune's hamlets."""
        inside = False
        vertices = self.polygon
        for (lat_a, lon_a), (lat_b, lon_b) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
            if (lon_a > lon) != (lon_b > lon):
                crossing = lat_a + (lon - lon_a) * (lat_b - lat_a) / (lon_b - lon_a)
                if lat < crossing:
                    inside = not inside
        return inside

    def centre(self) -> Point:
        """The mean of the outline's vertices: where a map pins something placed only in the hamlet."""
        lats = [lat for lat, _ in self.polygon]
        lons = [lon for _, lon in self.polygon]
        return (sum(lats) / len(lats), sum(lons) / len(lons))


@dataclass(frozen=True, slots=True)
class BankDetails:
    """The account that receives VietQR transfers for orders (commune.yml ``payments:``)."""

    bank_bin: str
    account_number: str
    account_name: str
    city: str = ""
    bank_name: str = ""
    deeplink: str = ""


@dataclass(frozen=True)
class Commune:
    code: str = ""  # XASO_COMMUNE_CODE, or the folder of data/communes/<code>/ (core/province.py)
    name: str = ""
    district: str = ""
    province: str = ""
    office: Office = field(default_factory=Office)
    health_station: Station = field(default_factory=Station)
    emergency_number: str = DEFAULT_EMERGENCY_NUMBER
    signer: Signer = field(default_factory=Signer)
    hamlets: tuple[HamletArea, ...] = ()
    payments: BankDetails | None = None  # None: no account, VietQR is not offered

    def hamlet(self, hamlet_id: str) -> HamletArea | None:
        return next((hamlet for hamlet in self.hamlets if hamlet.id == hamlet_id), None)

    @classmethod
    def load(cls, path: Path, code: str = "") -> Commune:
        """The commune described in `path`; an installation without the file gets every default."""
        if not path.exists():
            return cls(code=code)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise CommuneError(str(path), "", f"not valid YAML: {error}") from error
        return cls.parse(raw, str(path), code)

    @classmethod
    def parse(cls, raw: object, source: str = "commune.yml", code: str = "") -> Commune:
        """The commune from the YAML's top-level mapping (an empty file is the defaults)."""
        if raw is None:
            return cls(code=code)
        reader = _Reader(source)
        top = reader.mapping(raw, "")
        if top is None:
            raise CommuneError(source, "", f"expected a mapping of keys, got {type(raw).__name__}")
        office = reader.mapping(top.get("office"), "office") or {}
        station = reader.mapping(top.get("health_station"), "health_station") or {}
        signer = reader.mapping(top.get("signer"), "signer") or {}
        return cls(
            code=code,
            name=reader.text(top, "name"),
            district=reader.text(top, "district"),
            province=reader.text(top, "province"),
            office=Office(address=reader.text(office, "address", "office"),
                          hours=reader.text(office, "hours", "office"),
                          phone=reader.text(office, "phone", "office")),
            health_station=Station(name=reader.text(station, "name", "health_station"),
                                   address=reader.text(station, "address", "health_station"),
                                   phone=reader.text(station, "phone", "health_station")),
            emergency_number=reader.text(top, "emergency_number") or DEFAULT_EMERGENCY_NUMBER,
            signer=Signer(title=reader.text(signer, "title", "signer"),
                          name=reader.text(signer, "name", "signer")),
            hamlets=reader.hamlets(top.get("hamlets")),
            payments=reader.payments(top.get("payments")),
        )


class _Reader:
    """Reads one commune.yml, naming the key of anything it refuses."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> CommuneError:
        return CommuneError(self.source, key, problem)

    def mapping(self, raw: object, key: str) -> Mapping[str, Any] | None:
        """A section: a mapping, or None when it is absent (or left empty)."""
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise self.fail(key, f"expected a mapping of keys, got {type(raw).__name__}")
        return raw

    def text(self, section: Mapping[str, Any], name: str, prefix: str = "") -> str:
        """A plain value as text ("0208 3820 123"; an unquoted number too); absent or empty → ""."""
        value = section.get(name)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(f"{prefix}.{name}" if prefix else name,
                            f"expected text, got {type(value).__name__}")
        return str(value)

    def hamlets(self, raw: object) -> tuple[HamletArea, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise self.fail("hamlets", f"expected a list of hamlets, got {type(raw).__name__}")
        found: list[HamletArea] = []
        for number, entry in enumerate(raw):
            where = f"hamlets[{number}]"
            section = self.mapping(entry, where)
            if section is None:
                raise self.fail(where, "expected a hamlet with an id and a name")
            hamlet_id, name = self.text(section, "id", where), self.text(section, "name", where)
            if not hamlet_id or not name:
                raise self.fail(where, "a hamlet needs an id and a name")
            if any(hamlet.id == hamlet_id for hamlet in found):
                raise self.fail(f"{where}.id", f"hamlet {hamlet_id} is listed twice")
            found.append(HamletArea(hamlet_id, name, self.polygon(section.get("polygon"), hamlet_id,
                                                                  f"{where}.polygon")))
        return tuple(found)

    def polygon(self, raw: object, hamlet_id: str, where: str) -> tuple[Point, ...]:
        if not raw:
            return ()
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise self.fail(where, "expected a list of [latitude, longitude] vertices")
        vertices: list[Point] = []
        for vertex in raw:
            if (not isinstance(vertex, Sequence) or isinstance(vertex, str) or len(vertex) != 2
                    or not all(_number(part) for part in vertex)):
                raise self.fail(where, f"a vertex must be [latitude, longitude], got {vertex!r}")
            vertices.append((float(vertex[0]), float(vertex[1])))
        if len(vertices) < 3:
            raise self.fail(where, f"hamlet {hamlet_id}: an outline needs at least 3 vertices")
        return tuple(vertices)

    def payments(self, raw: object) -> BankDetails | None:
        """The receiving account; a section without an account number is none (VietQR stays off), but a
        section with a missing or malformed field is an error, not silently off."""
        section = raw if isinstance(raw, Mapping) else None
        if raw is not None and section is None:
            raise self.fail("payments", f"expected a mapping of keys, got {type(raw).__name__}")
        if section is None or not section.get("account_number"):
            return None
        bank = BankDetails(
            bank_bin=self.text(section, "bank_bin", "payments").strip(),
            account_number=self.text(section, "account_number", "payments").replace(" ", ""),
            account_name=self.text(section, "account_name", "payments"),
            city=self.text(section, "city", "payments"),
            bank_name=self.text(section, "bank_name", "payments"),
            deeplink=self.text(section, "deeplink", "payments"))
        if not BANK_BIN.fullmatch(bank.bank_bin):
            raise self.fail("payments.bank_bin", "must be the bank's 6-digit NAPAS BIN, e.g. \"970405\"")
        if not ACCOUNT_NUMBER.fullmatch(bank.account_number):
            raise self.fail("payments.account_number", "must be 1 to 19 letters or digits")
        if not bank.account_name.strip():
            raise self.fail("payments.account_name", "must be the account holder's name")
        return bank


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
