"""Emergency precision without losing recall.

``data/not_emergency.tsv`` was written apart from the training data and the rules: short answers
typed inside flows, everyday words that contain an alarming syllable ("tra cứu", "cháy hàng",
"ngã ba", "sốt ruột"), and ordinary requests. Not one may raise an emergency, while every red-flag
phrase of data/emergency_phrases.yml, inside a sentence, with and without diacritics, still does.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
import yaml

from nlu.cli import run_evaluate
from nlu.embedded import EmbeddedNLU
from nlu.engine import EMERGENCY
from nlu.normalize import fold, strip_diacritics
from tests.nlu.conftest import PHRASES_YML

DATA = Path(__file__).resolve().parent / "data"
NOT_EMERGENCY_TSV = DATA / "not_emergency.tsv"
# Written later by another hand, without seeing the training data, the rules or the first set: it
# found 5 false emergencies in 244 lines ("cháy lá", "hít thở", "ngất trời", "giật lag") that the
# everyday list and danger terms now cover. Kept as a second regression set.
FRESH_TSV = DATA / "not_emergency_fresh.tsv"
MIN_LINES = 200
KINDS = {"answer", "trap", "request"}
# Red flags said the ways villagers do: alone, inside a sentence, at the end of a long one.
SENTENCES = ("{}", "bà tôi {} rồi", "cho hỏi con tôi bị {} phải làm sao", "ơi {} giúp với",
             "sáng nay đi làm chè về thì thấy ông {} ở ngoài sân")


def _rows(path: Path = NOT_EMERGENCY_TSV) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "kind\ttext"
    rows = [tuple(line.split("\t")) for line in lines[1:] if line.strip()]
    assert all(len(row) == 2 for row in rows)
    return rows  # type: ignore[return-value]


def test_the_everyday_set_is_large_varied_and_distinct() -> None:
    rows = _rows()
    assert len(rows) >= MIN_LINES
    kinds = Counter(kind for kind, _ in rows)
    assert set(kinds) == KINDS and min(kinds.values()) >= 50
    folded = Counter(strip_diacritics(text).lower() for _, text in rows)  # "ko" and "khong" both count
    assert [text for text, n in folded.items() if n > 1] == []


@pytest.mark.parametrize("path", [NOT_EMERGENCY_TSV, FRESH_TSV], ids=lambda path: path.name)
def test_no_everyday_message_is_an_emergency(nlu_engine: EmbeddedNLU, path: Path) -> None:
    wrong = [text for _, text in _rows(path) if nlu_engine.parse(text).intent == EMERGENCY]
    assert wrong == []


def test_the_issue_examples_are_not_emergencies(nlu_engine: EmbeddedNLU) -> None:
    for text in ("co", "tra cứu", "tra cuu", "nghiên cứu", "nghien cuu", "cháy hàng", "chết máy",
                 "ngã ba", "sốt ruột", "bỏng ngô", "đồng ý", "dong y", "chua", "khong co", "5 sao"):
        assert nlu_engine.parse(text).intent != EMERGENCY, text


def _phrases(key: str) -> list[str]:
    loaded = yaml.safe_load(PHRASES_YML.read_text(encoding="utf-8"))
    return [str(phrase) for phrase in loaded.get(key) or ()]


@pytest.mark.parametrize("sentence", SENTENCES)
def test_every_red_flag_phrase_is_an_emergency_with_and_without_diacritics(
        nlu_engine: EmbeddedNLU, sentence: str) -> None:
    missed = []
    for phrase in _phrases("phrases"):
        for typed in (phrase, strip_diacritics(phrase), phrase.upper()):
            text = sentence.format(typed)
            if nlu_engine.parse(text).intent != EMERGENCY:
                missed.append(text)
    assert missed == []


def test_exact_phrases_count_with_their_diacritics(nlu_engine: EmbeddedNLU) -> None:
    # Without marks they are everyday words ("tu tu" is "từ từ", slowly): those need their diacritics.
    missed = [phrase for phrase in _phrases("exact_phrases")
              if nlu_engine.parse(f"bố tôi {phrase} rồi").intent != EMERGENCY]
    assert missed == []


def test_everyday_phrases_hold_no_red_flag(nlu_engine: EmbeddedNLU) -> None:
    """An `everyday` entry blanks what it covers, so it must never cover a real red flag."""
    red = {fold(p) for p in _phrases("phrases")}
    assert [e for e in _phrases("everyday") if fold(e) in red] == []


def test_evaluate_reports_false_emergencies_and_precision(nlu_engine: EmbeddedNLU, tmp_path: Path) -> None:
    rows = ["intent\ttext", "out_of_scope\ttra cứu", "emergency\tbà tôi khó thở", "out_of_scope\tngã ba"]
    path = tmp_path / "mini.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = io.StringIO()
    report = run_evaluate(nlu_engine, path, out)
    assert report["false_emergencies"] == 0 and report["emergency_recall"] == 1.0
    assert report["intents"]["emergency"]["precision"] == 1.0
    printed = out.getvalue()
    assert "false emergencies: 0" in printed and "precision" in printed
    assert "emergency recall: 1.000" in printed
