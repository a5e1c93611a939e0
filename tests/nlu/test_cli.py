from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from nlu.cli import load_labelled, run_evaluate, run_parse, run_train
from nlu.embedded import EmbeddedNLU
from tests.nlu.conftest import NLU_YML, PHRASES_YML
from tests.support.nlu import HELD_OUT


class FlushCounter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_run_parse_writes_one_json_object_per_non_blank_line(engine: EmbeddedNLU) -> None:
    stdin = io.StringIO("xin chào\n\n   \nmua 2 cân chè tân cương\r\nđơn DH-000321")
    stdout = FlushCounter()
    run_parse(engine, stdin, stdout)
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 3 == stdout.flushes
    assert "chè tân cương" in lines[1]  # ensure_ascii=False
    objects = [json.loads(line) for line in lines]
    assert [o["text"] for o in objects] == ["xin chào", "mua 2 cân chè tân cương", "đơn DH-000321"]
    assert objects[0]["intent"] == "greet"
    assert objects[2]["entities"] == [{"entity": "order_code", "value": "DH-000321", "start": 4, "end": 13}]
    for o in objects:
        assert set(o) == {"text", "intent", "confidence", "entities"}


def test_run_evaluate_on_tsv(engine: EmbeddedNLU, tmp_path: Path) -> None:
    path = tmp_path / "heldout.tsv"
    path.write_text("intent\ttext\n" + "".join(f"{i}\t{t}\n" for i, t in HELD_OUT) + "\n", encoding="utf-8")
    out = io.StringIO()
    report = run_evaluate(engine, path, out)
    assert report["examples"] == len(HELD_OUT)
    assert report["accuracy"] >= 0.85
    assert report["intents"]["emergency"]["recall"] == 1.0
    assert set(report["intents"]["greet"]) == {"precision", "recall", "f1", "support"}
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert "entities" not in report
    printed = out.getvalue()
    for needle in ("accuracy", "precision", "confusions", "p50", "p99", "dossier_submit"):
        assert needle in printed


def test_run_evaluate_on_rasa_yaml_scores_entities(engine: EmbeddedNLU, tmp_path: Path) -> None:
    path = tmp_path / "test.yml"
    path.write_text(
        "nlu:\n- intent: shop_order\n  examples: |\n"
        "    - mua [2](quantity) [cân](unit) [chè tân cương](product)\n"
        "    - đặt [3](quantity) [hộp](unit) [mật ong](product) nhé\n"
        "- intent: order_status\n  examples: |\n"
        "    - đơn [DH-000123](order_code) đâu rồi\n",
        encoding="utf-8",
    )
    report = run_evaluate(engine, path, io.StringIO())
    assert report["examples"] == 3
    assert report["entities"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_confusions_are_listed(engine: EmbeddedNLU, tmp_path: Path) -> None:
    path = tmp_path / "wrong.tsv"
    path.write_text("intent\ttext\ngreet\ttạm biệt nhé\ngreet\txin chào\n", encoding="utf-8")
    report = run_evaluate(engine, path, io.StringIO())
    assert report["accuracy"] == 0.5
    assert report["confusions"] == [{"expected": "greet", "predicted": "goodbye", "count": 1}]


def test_bad_tsv_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("intent\ttext\ngreet xin chào\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:2"):
        load_labelled(path)


def test_run_train_writes_a_loadable_model(tmp_path: Path) -> None:
    nlu_yml = shutil.copy(NLU_YML, tmp_path / "nlu.yml")
    shutil.copy(PHRASES_YML, tmp_path / PHRASES_YML.name)
    model = tmp_path / "models" / "nlu.joblib"
    out = io.StringIO()
    run_train(nlu_yml, model, out)
    assert "examples" in out.getvalue() and str(model) in out.getvalue()
    assert EmbeddedNLU.load(model).parse("cảm ơn nhiều").intent == "thanks"
