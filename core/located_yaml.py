"""YAML data files read with the line of every mapping and key kept, so that a mistake in a file staff
write (a lesson, a place) is refused at start naming the file and the line (`DataFileError`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("vi", "en")
_ID = re.compile(r"[a-z][a-z0-9_]{0,23}")


class DataFileError(ValueError):
    """A data file that cannot be used: the message starts with `file:line:`."""


class Located(dict[str, Any]):
    line = 0  # where the mapping starts
    lines: dict[str, int]  # where each of its keys is

    def line_of(self, key: str | None) -> int:
        return self.lines.get(key, self.line) if key is not None else self.line


class _LineLoader(yaml.SafeLoader):
    pass


def _mapping(loader: _LineLoader, node: yaml.MappingNode) -> Located:
    mapping = Located({str(key): value for key, value in loader.construct_mapping(node, deep=True).items()})
    mapping.line = node.start_mark.line + 1
    mapping.lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


class DataReader:
    """Reads one file: `fail` makes the error at a mapping's line, `texts` a text in every language,
    `identifier` a short machine name. `error` is the error type to raise (a subclass of
    DataFileError)."""

    error: type[DataFileError] = DataFileError

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, what: str) -> Located:
        """The file's top mapping; `what` says what it should hold, for the error."""
        try:
            raw = yaml.load(self.path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 (safe)
        except yaml.YAMLError as problem:
            mark = getattr(problem, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            raise self.error(f"{self.path}:{line}: not valid YAML ({problem})") from None
        if not isinstance(raw, Located):
            raise self.error(f"{self.path}:1: {what}")
        return raw

    def fail(self, at: Any, message: str, key: str | None = None) -> DataFileError:
        """The error at `at` (a mapping read from the file), on the line of its `key` if it has one."""
        line = at.line_of(key) if isinstance(at, Located) else 1
        return self.error(f"{self.path}:{line}: {message}")

    def mapping(self, raw: Any, what: str) -> Located:
        if not isinstance(raw, Located):
            raise self.error(f"{self.path}:1: {what}")
        return raw

    def identifier(self, raw: Located, key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise self.fail(raw, f"{key} must be a short lower-case name (a-z, 0-9, _), not {value!r}", key)
        return value

    def texts(self, raw: Any, key: str, limit: int) -> dict[str, str]:
        value = raw.get(key) if isinstance(raw, dict) else None
        if not isinstance(value, dict):
            raise self.fail(raw, f"{key} needs a text in each language ({', '.join(LANGUAGES)})", key)
        texts = {}
        for lang in LANGUAGES:
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                raise self.fail(value, f"{key} has no {lang} text", lang)
            if len(text.strip()) > limit:
                too_long = f"{key} ({lang}) is {len(text.strip())} characters; at most {limit}"
                raise self.fail(value, too_long, lang)
            texts[lang] = text.strip()
        return texts
