from __future__ import annotations

import io
from pathlib import Path

import pytest

from bots.cli import main
from nlu.cli import paraphrase_groups, run_cross_validation

SMALL_YML = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - xin chào
    - chào bạn
    - chao ad
    - hello
    - chào buổi sáng
    - alo có ai không
- intent: thanks
  examples: |
    - cảm ơn
    - cam on nhieu
    - tks bạn
    - thank you
    - cảm ơn xã nhé
    - em cảm ơn ạ
- intent: emergency
  examples: |
    - cấp cứu
    - bố tôi đau ngực
    - con bị co giật
    - bà ngất xỉu rồi
    - bị rắn cắn
    - khó thở quá
"""


@pytest.fixture
def small_yml(tmp_path: Path) -> Path:
    path = tmp_path / "small.yml"
    path.write_text(SMALL_YML, encoding="utf-8")
    return path


def test_cross_validation_report(small_yml: Path) -> None:
    out = io.StringIO()
    report = run_cross_validation(small_yml, 3, out)
    assert report["folds"] == 3 and report["examples"] == 18
    accuracy = report["accuracy"]
    assert len(accuracy["per_fold"]) == 3
    assert 0.0 <= accuracy["mean"] <= 1.0 and accuracy["std"] >= 0.0
    # Held-out wording the fold never saw may come out as out_of_scope: it is scored, with no support.
    assert {"greet", "thanks", "emergency"} <= set(report["intents"]) <= {"greet", "thanks", "emergency",
                                                                           "out_of_scope"}
    assert sum(s["support"] for s in report["intents"].values()) == 18
    assert report["false_emergencies"] == 0 and 1 < report["groups"] < 18
    assert set(report["intents"]["greet"]) == {"precision", "recall", "f1", "support"}
    assert report["emergency_recall"] == 1.0  # every example here hits a red-flag rule
    printed = out.getvalue()
    for needle in ("3-fold", "paraphrase group", "accuracy", "±", "emergency recall", "false emergencies",
                   "f1", "thanks"):
        assert needle in printed


def test_cross_validation_folds_are_stratified_and_repeatable(small_yml: Path) -> None:
    first = run_cross_validation(small_yml, 2, io.StringIO())
    again = run_cross_validation(small_yml, 2, io.StringIO())
    assert first["accuracy"] == again["accuracy"]
    assert first["intents"] == again["intents"]


def test_paraphrases_share_a_group_and_other_wording_does_not() -> None:
    texts = ["làm giấy khai sinh cho con", "lam giay khai sinh cho con", "làm giấy khai sinh cho bé",
             "đăng ký kết hôn", "dang ky ket hon nhe", "mua chè"]
    intents = ["dossier_submit"] * 5 + ["shop_order"]
    groups = paraphrase_groups(texts, intents)
    assert groups[0] == groups[1] == groups[2]  # diacritics, one word changed: the same wording
    assert groups[3] == groups[4] and groups[3] != groups[0]
    assert len(set(groups)) == 3  # another intent is never grouped with these


def test_cross_validation_without_emergency_examples(tmp_path: Path) -> None:
    path = tmp_path / "no_emergency.yml"
    path.write_text(SMALL_YML.split("- intent: emergency")[0], encoding="utf-8")
    report = run_cross_validation(path, 2, io.StringIO())
    assert report["emergency_recall"] is None


@pytest.mark.parametrize(("folds", "message"), [(1, "at least 2 folds"), (7, "fewer than 7 examples")])
def test_cross_validation_rejects_impossible_folds(small_yml: Path, folds: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_cross_validation(small_yml, folds, io.StringIO())


def test_xaso_nlu_evaluate_cross_validate(
    small_yml: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no model file is read or written for cross-validation
    assert main(["nlu", "evaluate", "--cross-validate", "3", str(small_yml)]) == 0
    assert "3-fold cross-validation by paraphrase group on 18 examples" in capsys.readouterr().out
    assert main(["nlu", "evaluate", "--cross-validate", "9", str(small_yml)]) == 2
    assert "fewer than 9 examples" in capsys.readouterr().err
    assert main(["nlu", "evaluate", "--cross-validate", "3", str(tmp_path / "absent.yml")]) == 2
