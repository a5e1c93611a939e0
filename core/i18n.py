"""The vi/en string catalogue. Vietnamese is the default; English falls back to Vietnamese."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_LANGUAGE = "vi"
LANGUAGES = ("vi", "en")
LocalText = Mapping[str, str]  # {"vi": ..., "en": ...} as written in the commune's YAML


def local(text: LocalText, lang: str) -> str:
    """The text in `lang`, or in Vietnamese when that translation is missing."""
    return text.get(lang) or text[DEFAULT_LANGUAGE]


class Catalogue:
    def __init__(self, strings: dict[str, dict[str, str]]) -> None:
        self._strings = strings

    @classmethod
    def load(cls, directory: Path) -> Catalogue:
        strings: dict[str, dict[str, str]] = {}
        # One folder per language, one file per area (core.yml, forms.yml, ...), merged.
        for lang in LANGUAGES:
            merged: dict[str, str] = {}
            for path in sorted((directory / lang).glob("*.yml")):
                loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                for key, value in loaded.items():
                    if key in merged:
                        raise ValueError(f"string {key!r} defined twice ({path})")
                    merged[str(key)] = str(value)
            if merged:
                strings[lang] = merged
        if DEFAULT_LANGUAGE not in strings:
            raise ValueError(f"no {DEFAULT_LANGUAGE}/*.yml in {directory}")
        return cls(strings)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._strings)

    def t(self, key: str, lang: str | None = None, **params: Any) -> str:
        lang = lang if lang in self._strings else DEFAULT_LANGUAGE
        template = self._strings[lang].get(key) or self._strings[DEFAULT_LANGUAGE].get(key)
        if template is None:
            raise KeyError(f"missing string {key!r}")
        return template.format(**params) if params else template

    def has(self, key: str) -> bool:
        return key in self._strings[DEFAULT_LANGUAGE]

    def keys(self, lang: str) -> set[str]:
        return set(self._strings.get(lang, {}))
