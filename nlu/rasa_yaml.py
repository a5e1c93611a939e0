"""Reader for Rasa 3.x NLU training data (the format of data/nlu.yml).

Supported: ``version``; ``nlu:`` items with ``intent:``, ``synonym:``, ``lookup:`` or ``regex:``
and an ``examples: |`` block of ``- `` lines (or a list of ``{text: ...}`` items); inline
entities ``[text](entity)``, ``[text](entity:value)``, ``[text]{"entity": "e", "value": "v"}``
and ``[text][{...}, {...}]``. Other top-level keys (``responses``, ``stories``, ``rules``) are
ignored: they belong to Rasa's dialogue side, not to the NLU.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nlu.engine import Entity

_ANNOTATION_RE = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)"
    r"|(?P<dict>\{[^}]*\})"
    r"|(?P<list>\[\s*\{.*?\}\s*\]))"
)
_ITEM_KINDS = ("intent", "synonym", "lookup", "regex")


class RasaYamlError(ValueError):
    """The training data is not valid Rasa YAML; the message says where."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    entities: tuple[Entity, ...] = ()


@dataclass(frozen=True, slots=True)
class TrainingData:
    examples: tuple[Example, ...]
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # canonical → variants
    lookups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name → elements
    regexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name → patterns
    version: str = "3.1"

    @property
    def intents(self) -> tuple[str, ...]:
        """Intents in order of first appearance."""
        return tuple(dict.fromkeys(example.intent for example in self.examples))

    def synonym_map(self) -> dict[str, str]:
        """Variant → canonical value (a canonical value maps to itself)."""
        mapping: dict[str, str] = {}
        for canonical, variants in self.synonyms.items():
            mapping.setdefault(canonical, canonical)
            for variant in variants:
                mapping.setdefault(variant, canonical)
        return mapping


def load_training_data(path: Path) -> TrainingData:
    return parse_training_data(path.read_text(encoding="utf-8"), source=str(path))


def parse_training_data(text: str, source: str = "<string>") -> TrainingData:
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise RasaYamlError(f"{source}: not YAML: {error}") from error
    if not isinstance(document, dict):
        raise RasaYamlError(f"{source}: the top level must be a mapping")
    items = document.get("nlu") or []
    if not isinstance(items, list):
        raise RasaYamlError(f"{source}: 'nlu' must be a list")
    builder = _Builder(source)
    for index, item in enumerate(items):
        builder.add(index, item)
    return builder.build(str(document.get("version", "3.1")))


def parse_example(line: str) -> tuple[str, tuple[Entity, ...]]:
    """Strip the annotation markup; entity offsets refer to the returned plain text."""
    plain: list[str] = []
    entities: list[Entity] = []
    length = 0
    cursor = 0
    for match in _ANNOTATION_RE.finditer(line):
        before = line[cursor : match.start()]
        plain.append(before)
        length += len(before)
        surface = match.group("text")
        for name, value in _annotation_targets(match, surface):
            entities.append(Entity(name, value, length, length + len(surface)))
        plain.append(surface)
        length += len(surface)
        cursor = match.end()
    plain.append(line[cursor:])
    return "".join(plain), tuple(entities)


def _annotation_targets(match: re.Match[str], surface: str) -> list[tuple[str, str]]:
    if match.group("entity"):
        return [(match.group("entity").strip(), (match.group("value") or surface).strip())]
    raw = match.group("dict") or match.group("list")
    try:
        loaded = json.loads(raw)
    except json.JSONDecodeError as error:
        raise RasaYamlError(f"bad entity annotation {match.group(0)!r}: {error}") from error
    targets: list[tuple[str, str]] = []
    for spec in loaded if isinstance(loaded, list) else [loaded]:
        if not isinstance(spec, dict) or "entity" not in spec:
            raise RasaYamlError(f"entity annotation without 'entity': {match.group(0)!r}")
        targets.append((str(spec["entity"]), str(spec.get("value", surface))))
    return targets


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.examples: list[Example] = []
        self.synonyms: dict[str, list[str]] = {}
        self.lookups: dict[str, list[str]] = {}
        self.regexes: dict[str, list[str]] = {}

    def add(self, index: int, item: Any) -> None:
        where = f"{self.source}: nlu item {index + 1}"
        if not isinstance(item, dict):
            raise RasaYamlError(f"{where}: must be a mapping")
        kinds = [kind for kind in _ITEM_KINDS if kind in item]
        if len(kinds) != 1:
            raise RasaYamlError(f"{where}: needs exactly one of {', '.join(_ITEM_KINDS)}")
        kind = kinds[0]
        name = str(item[kind]).strip()
        lines = list(_example_lines(item.get("examples"), f"{where} ({kind} {name})"))
        if kind == "intent":
            self._add_intent(name, lines)
        else:
            target = {"synonym": self.synonyms, "lookup": self.lookups, "regex": self.regexes}[kind]
            target.setdefault(name, []).extend(lines)

    def _add_intent(self, intent: str, lines: Iterable[str]) -> None:
        for line in lines:
            text, entities = parse_example(line)
            self.examples.append(Example(text, intent, entities))
            for entity in entities:
                surface = text[entity.start : entity.end]
                # As in Rasa, an annotation with an explicit value declares a synonym.
                if surface != entity.value:
                    self.synonyms.setdefault(entity.value, []).append(surface)

    def build(self, version: str) -> TrainingData:
        def frozen(table: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
            return {key: tuple(dict.fromkeys(values)) for key, values in table.items()}

        return TrainingData(
            examples=tuple(self.examples),
            synonyms=frozen(self.synonyms),
            lookups=frozen(self.lookups),
            regexes=frozen(self.regexes),
            version=version,
        )


def _example_lines(examples: Any, where: str) -> Iterable[str]:
    if examples is None:
        raise RasaYamlError(f"{where}: no examples")
    if isinstance(examples, list):
        for entry in examples:
            text = entry.get("text") if isinstance(entry, dict) else entry
            if not isinstance(text, str) or not text.strip():
                raise RasaYamlError(f"{where}: every example needs a text")
            yield text.strip()
        return
    if not isinstance(examples, str):
        raise RasaYamlError(f"{where}: examples must be a '|' block of '- ' lines")
    for number, raw in enumerate(examples.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("-"):
            raise RasaYamlError(f"{where}, example line {number}: must start with '- ': {line!r}")
        text = line[1:].strip()
        if text:
            yield text
