from __future__ import annotations

import copy
import shutil
import statistics
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from nlu.embedded import EmbeddedNLU, load_or_train
from nlu.engine import INTENTS, Entity, NLUEngine, Parse
from nlu.normalize import normalize, strip_diacritics
from nlu.rasa_yaml import TrainingData
from nlu.rules import EmergencyRules
from tests.nlu.conftest import NLU_YML, PHRASES_YML
from tests.support.nlu import HELD_OUT


def test_engine_satisfies_the_protocol(engine: EmbeddedNLU) -> None:
    checked: NLUEngine = engine
    assert isinstance(checked.parse("xin chào"), Parse)
    assert set(INTENTS) <= set(engine.intents)


def test_held_out_set_is_new_and_covers_every_intent(training_data: TrainingData) -> None:
    trained = {normalize(e.text) for e in training_data.examples}
    assert [text for _, text in HELD_OUT if normalize(text) in trained] == []
    assert {intent for intent, _ in HELD_OUT} == set(INTENTS)


def test_held_out_accuracy(engine: EmbeddedNLU) -> None:
    wrong = [(intent, text, engine.parse(text).intent) for intent, text in HELD_OUT]
    wrong = [w for w in wrong if w[0] != w[2]]
    accuracy = 1 - len(wrong) / len(HELD_OUT)
    assert accuracy >= 0.85, wrong


def test_composed_and_decomposed_input_parse_alike(engine: EmbeddedNLU) -> None:
    for _, text in (*HELD_OUT, ("", "Mua 2 cân Chè Tân Cương, sđt 0912345678")):
        decomposed = unicodedata.normalize("NFD", text)
        a, b = engine.parse(text), engine.parse(decomposed)
        assert (a.intent, a.confidence) == (b.intent, b.confidence), text
        assert [(e.entity, e.value) for e in a.entities] == [(e.entity, e.value) for e in b.entities]
        for ea, eb in zip(a.entities, b.entities, strict=True):
            assert unicodedata.normalize("NFC", decomposed[eb.start : eb.end]) == text[ea.start : ea.end]


def _emergency_phrases() -> tuple[list[str], list[str]]:
    loaded = yaml.safe_load(PHRASES_YML.read_text(encoding="utf-8"))
    return loaded["phrases"], loaded["exact_phrases"]


@pytest.mark.parametrize("phrase", _emergency_phrases()[0])
def test_every_emergency_phrase_with_and_without_diacritics(engine: EmbeddedNLU, phrase: str) -> None:
    for text in (
        phrase,
        strip_diacritics(phrase),
        f"Bố tôi bị {phrase} rồi",
        strip_diacritics(f"bà {phrase}!"),
    ):
        result = engine.parse(text)
        assert (result.intent, result.confidence) == ("emergency", 1.0), text


@pytest.mark.parametrize("phrase", _emergency_phrases()[1])
def test_exact_emergency_phrases_need_their_diacritics(rules: EmergencyRules, phrase: str) -> None:
    assert rules.match(f"con tôi {phrase}")
    assert not rules.match(strip_diacritics(f"con toi {phrase}"))


def test_emergency_rules_understand_abbreviations_and_negation(rules: EmergencyRules) -> None:
    assert rules.match("ong e ko thở đc")
    assert rules.match("KHO THO QUA")
    assert rules.match("hết khó thở nhưng giờ đau ngực") == "dau nguc"
    assert rules.match("con tôi ho nhưng không khó thở") is None
    assert rules.match("bé đã hết co giật") is None
    assert rules.match("người đó khó thở")  # "đó" folds to "do", not a negation
    assert rules.match("có người ở chùa bị ngất")  # "chùa" folds like "chưa"
    assert rules.match("o chua bi ngat")  # "chua" may be "chùa": not a negation without diacritics
    assert rules.match("con toi ho nhung khong kho tho") is None


def test_emergency_rules_do_not_fire_on_other_training_examples(
    training_data: TrainingData, rules: EmergencyRules
) -> None:
    fired = [e.text for e in training_data.examples if e.intent != "emergency" and rules.match(e.text)]
    assert fired == []


def test_missing_phrases_file_falls_back_to_built_in_rules(tmp_path: Path) -> None:
    rules = EmergencyRules.load(tmp_path / "absent.yml")
    assert rules.match("bo toi dau nguc")
    broken = tmp_path / "broken.yml"
    broken.write_text("phrases: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        EmergencyRules.load(broken)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hồ sơ lb-2026-000123 xong chưa", [("dossier_code", "LB-2026-000123", "lb-2026-000123")]),
        ("đơn DH-000321 đâu", [("order_code", "DH-000321", "DH-000321")]),
        ("số mới: +84912345678", [("phone", "+84912345678", "+84912345678")]),
        ("gọi 0987 654 321 nhé", [("phone", "0987654321", "0987 654 321")]),
        (
            "  MUA 2 cân Chè Tân Cương",
            [("quantity", "2", "2"), ("unit", "kg", "cân"), ("product", "tea_tan_cuong", "Chè Tân Cương")],
        ),
        (
            "mua 1,5kg mien dong",
            [("quantity", "1.5", "1,5"), ("unit", "kg", "kg"), ("product", "mien_dong", "mien dong")],
        ),
        (
            "lấy 500g chè búp",
            [("quantity", "500", "500"), ("unit", "g", "g"), ("product", "tea_tan_cuong", "chè búp")],
        ),
        (
            "đặt 3 hộp mật ong",
            [("quantity", "3", "3"), ("unit", "box", "hộp"), ("product", "honey", "mật ong")],
        ),
        ("mua 3 mật ong rừng", [("quantity", "3", "3"), ("product", "honey", "mật ong rừng")]),
        ("làm giấy khai sinh cho con", [("procedure", "birth_registration", "giấy khai sinh")]),
        ("lam giay khai sinh", [("procedure", "birth_registration", "giay khai sinh")]),
        ("xin bản sao giấy khai sinh", [("procedure", "civil_status_extract", "bản sao giấy khai sinh")]),
        ("dang ky ket hon", [("procedure", "marriage_registration", "dang ky ket hon")]),
        ("sau bao lâu thì xong, miễn phí không", []),
    ],
)
def test_entities_point_into_the_original_text(
    engine: EmbeddedNLU, text: str, expected: list[tuple[str, str, str]]
) -> None:
    entities = engine.parse(text).entities
    assert [(e.entity, e.value, text[e.start : e.end]) for e in entities] == expected


@pytest.mark.parametrize("text", ["", "   ", "😀😀", "?!?"])
def test_empty_and_emoji_are_out_of_scope(engine: EmbeddedNLU, text: str) -> None:
    assert engine.parse(text) == Parse(text, "out_of_scope", 1.0, ())


def test_huge_and_odd_inputs_do_not_raise(engine: EmbeddedNLU) -> None:
    for text in ("xin chào " * 1250, "a" * 10_000, "\x00\u200b\ufeff", "é" * 5000, "̀" * 10):
        result = engine.parse(text)
        assert result.intent in engine.intents
        assert 0.0 <= result.confidence <= 1.0


def test_low_confidence_becomes_out_of_scope(engine: EmbeddedNLU) -> None:
    strict = copy.copy(engine)
    strict.threshold = 1.01
    assert strict.parse("xin chào").intent == "out_of_scope"
    assert strict.parse("bị rắn cắn").intent == "emergency"  # rules do not depend on the model


def test_to_json_shape(engine: EmbeddedNLU) -> None:
    data = engine.parse("đơn DH-000321").to_json()
    assert set(data) == {"text", "intent", "confidence", "entities"}
    assert data["entities"] == [{"entity": "order_code", "value": "DH-000321", "start": 4, "end": 13}]
    assert Entity("unit", "kg", 0, 3).to_json() == {"entity": "unit", "value": "kg", "start": 0, "end": 3}


def test_concurrent_parses_match_sequential_ones(engine: EmbeddedNLU) -> None:
    texts = [text for _, text in HELD_OUT] * 5
    sequential = [engine.parse(t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(engine.parse, texts)) == sequential


def test_parse_is_fast(engine: EmbeddedNLU) -> None:
    timings = []
    for _, text in HELD_OUT * 3:
        started = time.perf_counter()
        engine.parse(text)
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.005


def test_save_and_load_round_trip(engine: EmbeddedNLU, rules: EmergencyRules, tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    engine.save(path)
    started = time.perf_counter()
    loaded = EmbeddedNLU.load(path, rules=rules)
    assert time.perf_counter() - started < 1.0
    for _, text in HELD_OUT:
        assert loaded.parse(text) == engine.parse(text)


def test_load_refuses_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="retrain"):
        EmbeddedNLU.load(path)


def test_load_or_train_retrains_only_when_the_data_changes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    nlu_yml = shutil.copy(NLU_YML, data_dir / "nlu.yml")
    shutil.copy(PHRASES_YML, data_dir / PHRASES_YML.name)
    model = tmp_path / "var" / "nlu.joblib"

    first = load_or_train(nlu_yml, model)
    assert model.exists()
    stamp = model.stat().st_mtime_ns
    second = load_or_train(nlu_yml, model)
    assert model.stat().st_mtime_ns == stamp  # loaded, not retrained
    assert second.data_hash == first.data_hash
    assert second.parse("chào bạn") == first.parse("chào bạn")

    with nlu_yml.open("a", encoding="utf-8") as handle:
        handle.write("\n- intent: ask_tea_festival\n  examples: |\n")
        handle.writelines(
            f"    - lễ hội chè {word} bao giờ\n" for word in ("la bằng", "năm nay", "tháng mấy")
        )
    third = load_or_train(nlu_yml, model)
    assert third.data_hash != first.data_hash
    assert "ask_tea_festival" in third.intents
    assert EmbeddedNLU.load(model).data_hash == third.data_hash

    model.write_bytes(b"truncated")
    assert load_or_train(nlu_yml, model).data_hash == third.data_hash
