from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from nlu.engine import INTENTS, Entity
from nlu.normalize import fold_phrase, strip_diacritics
from nlu.rasa_yaml import RasaYamlError, TrainingData, load_training_data, parse_example, parse_training_data

PROCEDURES = {
    "birth_registration",
    "death_registration",
    "marriage_registration",
    "marital_status",
    "certified_copy",
    "civil_status_extract",
    "social_allowance",
    "residence_confirmation",
}
PRODUCTS = {"tea_tan_cuong", "tea_la_bang", "honey", "mien_dong", "rice", "bamboo_shoots"}

SAMPLE = """
version: "3.1"
nlu:
- intent: shop_order
  examples: |
    - mua [2](quantity) [cân](unit) [chè tân cương](product)
    - lấy [mật ong]{"entity": "product", "value": "honey"} nhé
    - [khai sinh](procedure:birth_registration)

    - mua hàng
- intent: greet
  examples:
  - text: |
      xin chào
    metadata: {source: web}
  - text: alo
- synonym: tea_tan_cuong
  examples: |
    - chè tân cương
    - che tan cuong
- lookup: product
  examples: |
    - chè tân cương
    - mật ong
- regex: order_code
  examples: |
    - DH-\\d{6}
responses:
  utter_greet:
  - text: hi
"""


def test_parse_example_plain_text_and_offsets() -> None:
    text, entities = parse_example("mua [2](quantity) [cân](unit) [chè tân cương](product) nhé")
    assert text == "mua 2 cân chè tân cương nhé"
    assert entities == (
        Entity("quantity", "2", 4, 5),
        Entity("unit", "cân", 6, 9),
        Entity("product", "chè tân cương", 10, 23),
    )
    for entity in entities:
        assert text[entity.start : entity.end] in {"2", "cân", "chè tân cương"}


def test_parse_example_json_and_colon_values() -> None:
    text, entities = parse_example(
        'lấy [mật ong]{"entity": "product", "value": "honey"} và [gạo](product:rice)'
    )
    assert text == "lấy mật ong và gạo"
    assert entities == (Entity("product", "honey", 4, 11), Entity("product", "rice", 15, 18))


def test_parse_example_list_of_entities_on_one_span() -> None:
    text, entities = parse_example(
        '[LB-2026-000123][{"entity": "dossier_code"}, {"entity": "code", "value": "x"}]'
    )
    assert text == "LB-2026-000123"
    assert [(e.entity, e.value) for e in entities] == [("dossier_code", "LB-2026-000123"), ("code", "x")]


def test_parse_example_without_markup_is_unchanged() -> None:
    assert parse_example("hồ sơ (đã nộp) [chưa]") == ("hồ sơ (đã nộp) [chưa]", ())


def test_parse_training_data_reads_every_block() -> None:
    data = parse_training_data(SAMPLE)
    assert data.version == "3.1"
    assert data.intents == ("shop_order", "greet")
    assert [e.text for e in data.examples] == [
        "mua 2 cân chè tân cương",
        "lấy mật ong nhé",
        "khai sinh",
        "mua hàng",
        "xin chào",
        "alo",
    ]
    assert data.lookups == {"product": ("chè tân cương", "mật ong")}
    assert data.regexes == {"order_code": (r"DH-\d{6}",)}
    # annotations with an explicit value declare synonyms, as in Rasa
    assert data.synonyms["honey"] == ("mật ong",)
    assert data.synonym_map()["che tan cuong"] == "tea_tan_cuong"
    assert data.synonym_map()["khai sinh"] == "birth_registration"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("nlu:\n- intent: greet\n", "no examples"),
        ("nlu:\n- intent: greet\n  examples: |\n    hello\n", "must start with '- '"),
        ("nlu:\n- examples: |\n    - hi\n", "exactly one of"),
        ("nlu:\n- intent: greet\n  examples: |\n    - [x]{bad json}\n", "bad entity annotation"),
        ("nlu: {greet: hi}\n", "'nlu' must be a list"),
        ("- just a list\n", "top level"),
        ("nlu: [\n", "not YAML"),
    ],
)
def test_invalid_data_raises_with_a_clear_message(document: str, message: str) -> None:
    with pytest.raises(RasaYamlError, match=message):
        parse_training_data(document, source="test.yml")


def test_load_training_data_from_file(tmp_path: Path) -> None:
    path = tmp_path / "nlu.yml"
    path.write_text(SAMPLE, encoding="utf-8")
    assert len(load_training_data(path).examples) == 6


# --- the repository's own data/nlu.yml -------------------------------------------------------


def test_every_intent_has_enough_varied_examples(training_data: TrainingData) -> None:
    counts = Counter(e.intent for e in training_data.examples)
    for intent in INTENTS:
        assert counts[intent] >= 25, intent
        texts = [e.text for e in training_data.examples if e.intent == intent]
        assert any(strip_diacritics(t) != t for t in texts), f"{intent}: no example with diacritics"
        assert any(t.isascii() for t in texts), f"{intent}: no example without diacritics"


def test_no_example_is_labelled_twice(training_data: TrainingData) -> None:
    labels: dict[str, set[str]] = {}
    for example in training_data.examples:
        labels.setdefault(example.text.lower(), set()).add(example.intent)
    assert {text: intents for text, intents in labels.items() if len(intents) > 1} == {}


def test_entity_annotations_resolve_to_known_ids(training_data: TrainingData) -> None:
    synonyms = {fold_phrase(k): v for k, v in training_data.synonym_map().items()}
    known = {"procedure": PROCEDURES, "product": PRODUCTS}
    for example in training_data.examples:
        for entity in example.entities:
            assert 0 <= entity.start < entity.end <= len(example.text)
            if entity.entity in known:
                value = synonyms.get(fold_phrase(entity.value))
                assert value in known[entity.entity], (example.text, entity)


def test_data_declares_lookups_synonyms_and_regexes(training_data: TrainingData) -> None:
    assert {"procedure", "product", "unit"} <= set(training_data.lookups)
    assert {"dossier_code", "order_code", "phone"} <= set(training_data.regexes)
    assert PROCEDURES | PRODUCTS <= set(training_data.synonyms)
