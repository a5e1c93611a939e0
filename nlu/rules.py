"""Emergency red-flag rules: they override the model, because a missed emergency costs a life.

The phrases live in data/emergency_phrases.yml so the commune can edit them without a release.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nlu.normalize import fold, fold_normalized, normalize

PHRASES_FILE = "emergency_phrases.yml"

# Used only when the file is missing, so a deployment mistake never switches the safety net off.
FALLBACK_PHRASES: tuple[str, ...] = (
    "đau ngực",
    "tức ngực",
    "khó thở",
    "không thở được",
    "ngừng thở",
    "bất tỉnh",
    "ngất xỉu",
    "hôn mê",
    "co giật",
    "đột quỵ",
    "méo miệng",
    "liệt nửa người",
    "chảy máu nhiều",
    "nôn ra máu",
    "ra máu khi mang thai",
    "có bầu ra máu",
    "băng huyết",
    "ngộ độc",
    "uống thuốc sâu",
    "rắn cắn",
    "điện giật",
    "đuối nước",
    "cấp cứu",
)
FALLBACK_NEGATIONS: tuple[str, ...] = ("không", "không bị", "chưa", "hết", "khong", "khong bi")


def _alternation(phrases: Iterable[str]) -> str | None:
    words = sorted({p for p in phrases if p}, key=len, reverse=True)
    return "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in words) or None


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    body = _alternation(phrases)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)") if body else None


def _negation_pattern(negations: Iterable[str]) -> re.Pattern[str] | None:
    body = _alternation(negations)
    return re.compile(rf"(?<!\w)(?:{body})\s*$") if body else None


# Used only when the file has no `danger_terms`: the model's emergency class needs one of these.
FALLBACK_DANGER_TERMS: tuple[str, ...] = (
    "thở", "ngực", "tim", "máu", "ngất", "xỉu", "co giật", "đột quỵ", "độc", "rắn", "cứu", "chết",
    "bất tỉnh", "hôn mê", "cấp cứu", "breath", "chest", "blood", "unconscious", "help",
)


@dataclass(frozen=True, slots=True)
class EmergencyRules:
    """Red-flag phrases (an emergency whatever the model says), and the evidence the model's own
    emergency class needs: a body or danger term that is not part of an everyday word."""

    phrases: tuple[str, ...]
    exact_phrases: tuple[str, ...] = ()
    negations: tuple[str, ...] = ()
    danger_terms: tuple[str, ...] = FALLBACK_DANGER_TERMS
    everyday: tuple[str, ...] = ()
    _folded: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _exact: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _negation: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _danger_exact: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _danger_folded: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _everyday_exact: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _everyday_folded: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Phrases go through the same normalisation as messages, abbreviations included.
        object.__setattr__(self, "_folded", _phrase_pattern(map(fold, self.phrases)))
        object.__setattr__(self, "_exact", _phrase_pattern(map(normalize, self.exact_phrases)))
        object.__setattr__(self, "_negation", _negation_pattern(map(normalize, self.negations)))
        object.__setattr__(self, "_danger_exact", _phrase_pattern(map(normalize, self.danger_terms)))
        object.__setattr__(self, "_danger_folded", _phrase_pattern(map(fold, self.danger_terms)))
        object.__setattr__(self, "_everyday_exact", _phrase_pattern(map(normalize, self.everyday)))
        object.__setattr__(self, "_everyday_folded", _phrase_pattern(map(fold, self.everyday)))

    def evidence(self, normalized: str, folded: str) -> str | None:
        """A danger or body term in the text once everyday words are taken out ("cứu" counts, the
        "cứu" of "tra cứu" does not). Typed with diacritics, they must agree ("tìm" is not "tim");
        typed without, the bare letters decide."""
        marked = normalized != folded
        text = normalized if marked else folded
        everyday = self._everyday_exact if marked else self._everyday_folded
        danger = self._danger_exact if marked else self._danger_folded
        if everyday is not None:
            text = everyday.sub(" ", text)
        found = danger.search(text) if danger is not None else None
        return found.group(0) if found else None

    def match(self, text: str, *, normalized: str | None = None, folded: str | None = None) -> str | None:
        """The red-flag phrase found in ``text`` (as matched), or None.

        Callers that already normalised the text pass ``normalized``/``folded`` to save the work.
        """
        normalized = normalize(text) if normalized is None else normalized
        folded = fold_normalized(normalized) if folded is None else folded
        normalized, folded = self._without_everyday(normalized, folded)
        for pattern, form in ((self._folded, folded), (self._exact, normalized)):
            for found in pattern.finditer(form) if pattern is not None else ():
                if not self._negated(normalized, folded, found.start()):
                    return found.group(0)
        return None

    def _without_everyday(self, normalized: str, folded: str) -> tuple[str, str]:
        """Both forms with everyday phrases blanked out, same length ("ngất ngây", "sơ cấp cứu")."""
        marked = normalized != folded
        pattern = self._everyday_exact if marked else self._everyday_folded
        if pattern is None or len(normalized) != len(folded):
            return normalized, folded
        spans = [found.span() for found in pattern.finditer(normalized if marked else folded)]
        for start, end in spans:
            blank = " " * (end - start)
            normalized = normalized[:start] + blank + normalized[end:]
            folded = folded[:start] + blank + folded[end:]
        return normalized, folded

    def _negated(self, normalized: str, folded: str, start: int) -> bool:
        """Whether a negation ("không", "chưa", "hết") comes right before position ``start``.

        Negations are matched as typed, diacritics included ("chưa", not "chùa"); when the two
        forms do not line up (stray combining marks), nothing counts as negated.
        """
        if self._negation is None or len(normalized) != len(folded):
            return False
        return self._negation.search(normalized, 0, start) is not None

    @classmethod
    def load(cls, path: Path) -> EmergencyRules:
        """Read the YAML file; a missing file falls back to a built-in list, a broken one raises."""
        if not path.exists():
            return cls(FALLBACK_PHRASES, (), FALLBACK_NEGATIONS)
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping with 'phrases'")
        phrases = _strings(loaded.get("phrases"), path, "phrases")
        if not phrases:
            raise ValueError(f"{path}: 'phrases' is empty; delete the file to use the built-in list")
        return cls(
            phrases,
            _strings(loaded.get("exact_phrases"), path, "exact_phrases"),
            _strings(loaded.get("negations"), path, "negations"),
            _strings(loaded.get("danger_terms"), path, "danger_terms") or FALLBACK_DANGER_TERMS,
            _strings(loaded.get("everyday"), path, "everyday"),
        )

    @classmethod
    def default(cls) -> EmergencyRules:
        """The rules of the repository's data/ folder."""
        return cls.load(Path(__file__).resolve().parent.parent / "data" / PHRASES_FILE)


def _strings(value: object, path: Path, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{path}: '{key}' must be a list of strings")
    return tuple(item.strip() for item in value if item.strip())
