"""The communes one installation serves, and where each one's data lives.

A commune runs xaso for itself with its data in `data/` (XASO_COMMUNE_CODE names it); a province runs
one installation for many (XASO_COMMUNES=LB,SM), each commune described in `data/communes/<code>/`.
A commune's file is read from its own folder when there, else from `data/`: what the province shares
(procedures, holidays, forms, NLU data, the blocklist, announcement topics) is written once, and a
commune overrides any of it by keeping its own copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from core.answers import Choice, choose
from core.commune import Commune
from core.config import Settings
from core.text import fold

COMMUNES_DIR = "communes"


class ProvinceError(ValueError):
    pass


def commune_dir(data_dir: Path, code: str) -> Path:
    return data_dir / COMMUNES_DIR / code


def commune_path(data_dir: Path, code: str, name: str) -> Path:
    """`name` (a file or folder) as commune `code` has it: its own, else the province's shared one."""
    own = commune_dir(data_dir, code) / name if code else None
    return own if own is not None and own.exists() else data_dir / name


def keys_dir(var_dir: Path, code: str, home: str) -> Path:
    """Where commune `code`'s signing keys live: var/keys/communes/<code>/; the installation's own
    commune keeps var/keys/ (where a commune's own installation has always had them) until it has a
    folder there."""
    own = var_dir / "keys" / COMMUNES_DIR / code
    return own if code != home or own.exists() else var_dir / "keys"


@dataclass(frozen=True)
class Province:
    """The served communes by code, the installation's own (XASO_COMMUNE_CODE) first."""

    communes: Mapping[str, Commune]

    @property
    def home(self) -> Commune:
        return next(iter(self.communes.values()))

    @property
    def several(self) -> bool:
        return len(self.communes) > 1

    def get(self, code: str | None) -> Commune | None:
        return self.communes.get(code) if code else None

    def __iter__(self) -> Iterator[Commune]:
        return iter(self.communes.values())

    def __len__(self) -> int:
        return len(self.communes)

    def named(self, text: str, *, loosely: bool = False) -> Commune | None:
        """The commune a villager typed, by code or by name, with or without diacritics and "xã".
        `loosely`, for an answer to the question "which commune?": also its name with words around it
        ("tôi ở xã Sảng Mộc", "Sang Moc commune") or mistyped by one letter ("sang mok")."""
        wanted = fold(text).removeprefix("xa ").strip()
        if not wanted:
            return None
        for commune in self:
            names = {fold(commune.code), fold(commune.name), _short(commune)}
            if wanted in names:
                return commune
        if not loosely:
            return None
        found = choose(text, [Choice(commune.code, (commune.name, _short(commune))) for commune in self])
        if found is not None:
            return self.get(found.value)
        close = [commune for commune in self
                 if len(_short(commune)) >= 5 and _one_edit_apart(wanted, _short(commune))]
        return close[0] if len(close) == 1 else None

    def at(self, lat: float, lon: float) -> Commune | None:
        """The commune whose hamlets' outlines contain the point, if any."""
        return next((commune for commune in self
                     if any(hamlet.contains(lat, lon) for hamlet in commune.hamlets)), None)

    @classmethod
    def load(cls, settings: Settings) -> Province:
        communes: dict[str, Commune] = {}
        for code in settings.served_communes:
            own = commune_dir(settings.data_dir, code)
            if code != settings.commune_code and not (own / "commune.yml").exists():
                raise ProvinceError(f"XASO_COMMUNES lists {code}, but {own / 'commune.yml'} is missing")
            commune = Commune.load(commune_path(settings.data_dir, code, "commune.yml"), code)
            if not commune.name and code == settings.commune_code:
                commune = replace(commune, name=settings.commune_name)
            communes[code] = commune
        return cls(communes)


def _short(commune: Commune) -> str:
    """The commune's name folded, without "xã": "sang moc"."""
    return fold(commune.name).removeprefix("xa ").strip()


def _one_edit_apart(typed: str, name: str) -> bool:
    """One letter changed, added or left out ("sang mok", "sang mooc", "san moc")."""
    if abs(len(typed) - len(name)) > 1:
        return False
    if len(typed) == len(name):
        return sum(a != b for a, b in zip(typed, name, strict=True)) == 1
    shorter, longer = sorted((typed, name), key=len)
    return any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))
