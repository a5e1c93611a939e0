"""How well the embedded NLU understands villagers, measured on data it never saw.

``data/heldout.tsv`` (21 intents, at least 15 utterances each) and ``data/entities.yml`` were
written apart from data/nlu.yml, the way villagers write: with and without diacritics, chat
abbreviations, typos, a little English. Never train on them and never copy them into nlu.yml:
the first test below fails when a held-out line shows up among the training examples.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu.cli import LabelledText, load_labelled
from nlu.embedded import EmbeddedNLU
from nlu.engine import EMERGENCY, INTENTS
from nlu.normalize import fold, strip_diacritics
from nlu.rasa_yaml import TrainingData, load_training_data
from tests.nlu.conftest import PHRASES_YML

HERE = Path(__file__).resolve().parent / "data"
HELDOUT_TSV = HERE / "heldout.tsv"
ENTITIES_YML = HERE / "entities.yml"

MIN_PER_INTENT = 15
MIN_ACCURACY = 0.95


def _heldout() -> list[LabelledText]:
    return load_labelled(HELDOUT_TSV)


def _wrong(engine: EmbeddedNLU, items: list[LabelledText]) -> list[tuple[str, str, str]]:
    """(expected, predicted, text) for every miss."""
    predicted = ((item, engine.parse(item.text).intent) for item in items)
    return [(item.intent, intent, item.text) for item, intent in predicted if intent != item.intent]


# ---- the held-out set itself ----------------------------------------------------------------


def test_heldout_has_a_header_and_covers_every_intent() -> None:
    assert HELDOUT_TSV.read_text(encoding="utf-8").splitlines()[0] == "intent\ttext"
    counts = Counter(item.intent for item in _heldout())
    assert set(counts) == set(INTENTS)
    assert {intent: n for intent, n in counts.items() if n < MIN_PER_INTENT} == {}


def test_heldout_lines_are_not_training_lines(training_data: TrainingData) -> None:
    trained = {fold(example.text) for example in training_data.examples}
    assert [item.text for item in _heldout() if fold(item.text) in trained] == []


def test_heldout_lines_are_distinct() -> None:
    folded = Counter(fold(item.text) for item in _heldout())
    assert [text for text, n in folded.items() if n > 1] == []


def test_entity_set_is_not_training_data(training_data: TrainingData) -> None:
    trained = {fold(example.text) for example in training_data.examples}
    examples = load_training_data(ENTITIES_YML).examples
    assert [e.text for e in examples if fold(e.text) in trained] == []
    assert {e.entity for example in examples for e in example.entities} >= {
        "procedure",
        "product",
        "quantity",
        "unit",
        "dossier_code",
        "order_code",
        "phone",
    }


# ---- intents -------------------------------------------------------------------------------


def test_heldout_accuracy(engine: EmbeddedNLU) -> None:
    items = _heldout()
    wrong = _wrong(engine, items)
    accuracy = 1 - len(wrong) / len(items)
    assert accuracy >= MIN_ACCURACY, f"accuracy {accuracy:.3f}; misses: {wrong}"


def test_heldout_emergency_recall_is_total(engine: EmbeddedNLU) -> None:
    emergencies = [item for item in _heldout() if item.intent == EMERGENCY]
    assert _wrong(engine, emergencies) == []
    assert _wrong(engine, [LabelledText(EMERGENCY, strip_diacritics(i.text)) for i in emergencies]) == []


def _phrases(key: str) -> list[str]:
    return list(yaml.safe_load(PHRASES_YML.read_text(encoding="utf-8")).get(key) or [])


@pytest.mark.parametrize("phrase", _phrases("phrases"))
def test_emergency_phrase_recall(engine: EmbeddedNLU, phrase: str) -> None:
    texts = [
        phrase,
        strip_diacritics(phrase),
        f"ông nhà em {phrase} rồi",
        strip_diacritics(f"mẹ tôi {phrase}"),
    ]
    assert [t for t in texts if engine.parse(t).intent != EMERGENCY] == []


@pytest.mark.parametrize("phrase", _phrases("exact_phrases"))
def test_exact_emergency_phrase_recall(engine: EmbeddedNLU, phrase: str) -> None:
    # Their diacritics-free form is an everyday word, so only the spelt form must fire.
    assert engine.parse(f"chồng tôi {phrase}").intent == EMERGENCY


# ---- entities ------------------------------------------------------------------------------


def _annotated() -> list[tuple[str, frozenset[tuple[str, str, int, int]]]]:
    examples = load_training_data(ENTITIES_YML).examples
    return [(e.text, frozenset((x.entity, x.value, x.start, x.end) for x in e.entities)) for e in examples]


@pytest.mark.parametrize(("text", "gold"), _annotated(), ids=[text for text, _ in _annotated()])
def test_no_entity_regression(
    engine: EmbeddedNLU, text: str, gold: frozenset[tuple[str, str, int, int]]
) -> None:
    found = {(e.entity, e.value, e.start, e.end) for e in engine.parse(text).entities}
    assert gold - found == set(), f"missing in {text!r}; found {sorted(found)}"


# ---- any text at all -----------------------------------------------------------------------

_SCRIPTS = st.sampled_from(
    [
        "Привет как дела ",  # Cyrillic
        "สวัสดีครับ ",  # Thai
        "你好吗 こんにちは 안녕 ",  # CJK
        "مرحبا ",  # Arabic, right to left
        "chào bạn nhé ",
        "chao ban ",
        "mua 2 cân chè ",
        "LB-2026-000123 DH-000321 0912345678 ",
        "😀🙏🏽👨‍👩‍👧 ",
    ]
)
_ANY_CHAR = st.characters(codec=None)  # every code point, lone surrogates and controls included
_CONTROL = st.characters(categories=["Cc", "Cf", "Zl", "Zp"])
_EMOJI = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)

_TEXTS = st.one_of(
    st.just(""),
    st.text(_ANY_CHAR, max_size=60),
    st.text(_EMOJI, min_size=1, max_size=20),
    st.text(_CONTROL, max_size=20),
    st.lists(st.one_of(_SCRIPTS, st.text(_ANY_CHAR, max_size=5)), max_size=12).map("".join),
    st.tuples(_SCRIPTS, st.text(_ANY_CHAR, max_size=3)).map(lambda pair: (("".join(pair)) * 10_000)[:10_000]),
)


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS)
def test_any_text_gives_a_valid_parse(engine: EmbeddedNLU, text: str) -> None:
    result = engine.parse(text)
    assert result.text == text
    assert result.intent in INTENTS
    assert isinstance(result.confidence, float)
    assert math.isfinite(result.confidence) and 0.0 <= result.confidence <= 1.0
    for entity in result.entities:
        assert 0 <= entity.start < entity.end <= len(text)
        assert entity.value
    json.dumps(result.to_json())
